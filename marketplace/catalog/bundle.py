"""Module bundles: reproducible zips built from a folder, read back with archive-safety checks.

``read_bundle`` runs the checks of DESIGN §3 check 1 as a flat run of early-exit
stages (size, entry count, names, symlinks, duplicates, declared sizes, actual
sizes while decompressing). Every refusal is a :class:`BundleError` whose
``details`` are ``{"where", "message", "code"}`` dicts. Nothing here touches a
database, Flask or the disk outside the directory it is given.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tomllib
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marketplace.errors import MarketplaceError

MAX_COMPRESSED = 10 * 1024 * 1024
MAX_UNCOMPRESSED = 50 * 1024 * 1024      # per entry and in total
MAX_ENTRIES = 2000
MAX_RATIO = 100                          # deflate of real source is < 20x; zeros give ~1000x
RATIO_FLOOR = 1024 * 1024                # small files may compress well without harm
MAX_DETAILS = 100
MAX_NAME_PART = 255                      # bytes of one path component (NAME_MAX)
MAX_NAME = 1024                          # bytes of a whole entry name, well below PATH_MAX
MAX_TEXT = 1024 * 1024                   # manifest.toml and README.md
MAX_DEPTH = 64                           # nesting of tables and arrays, as for request JSON
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
SKIP_DIRS = {"__pycache__", "tests"}
SKIP_SUFFIXES = (".pyc", ".pyo")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 64 * 1024


class BundleError(MarketplaceError):
    """A bundle (or its manifest, or its module) was refused; ``details`` locate each problem."""

    status = 400

    def __init__(self, details: list[dict[str, Any]], message: str | None = None) -> None:
        details = details[:MAX_DETAILS]
        first = details[0] if details else {"where": "bundle", "message": "invalid bundle"}
        super().__init__("invalid_bundle",
                         message or f"{first['where']}: {first['message']}", details=details)

    @property
    def code(self) -> str | None:
        """The machine code of the first problem (``not_a_zip``, ``unsafe_path`` …)."""
        return self.details[0].get("code") if self.details else None


def problem(where: str, message: str, code: str | None = None) -> dict[str, Any]:
    """One located problem, as it appears in ``BundleError.details``."""
    item: dict[str, Any] = {"where": where, "message": message}
    if code:
        item["code"] = code
    return item


def _fail(where: str, message: str, code: str) -> BundleError:
    return BundleError([problem(where, message, code)])


def parse_toml(text: str, filename: str = "manifest.toml") -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a BundleError located by line and column."""
    try:
        data = tomllib.loads(text)
    except RecursionError:          # tomllib recurses once per nested inline table or array
        raise _fail(filename, f"tables and arrays nest deeper than {MAX_DEPTH} levels",
                    "too_deep") from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{filename}: line {m.group(1)}, column {m.group(2)}" if m else \
            f"{filename}: line {text.rstrip(chr(10)).count(chr(10)) + 1} (end of file)"
        reason = re.sub(r" ?\(at [^)]*\)$", "", msg)
        raise _fail(where, f"TOML syntax error: {reason}", "toml_syntax") from None
    except ValueError:              # an integer longer than Python converts (4300 digits)
        raise _fail(filename, "an integer has thousands of digits; write a number that fits "
                    "in 64 bits", "toml_syntax") from None
    if (deep := _too_deep(data)) is not None:
        raise _fail(f"{filename}: {deep}", f"tables and arrays nest deeper than {MAX_DEPTH} "
                    "levels", "too_deep")
    return data


def _too_deep(value: Any) -> str | None:
    """Where ``value`` nests deeper than MAX_DEPTH (iteratively: no recursion to exhaust)."""
    stack = [(value, 0, "")]
    while stack:
        item, level, at = stack.pop()
        if level > MAX_DEPTH:
            return at or "(root)"
        if isinstance(item, dict):
            stack += [(v, level + 1, f"{at}.{k}" if at else str(k)) for k, v in item.items()]
        elif isinstance(item, list):
            stack += [(v, level + 1, f"{at}[{i}]") for i, v in enumerate(item)]
    return None


@dataclass
class Bundle:
    """A verified bundle: its raw sha256, file names, lazily read files, manifest and README."""

    sha256: str
    size: int
    names: tuple[str, ...]
    files: Mapping[str, bytes]
    manifest: dict[str, Any]
    manifest_text: str
    readme: str | None = None
    data: bytes = field(default=b"", repr=False)


class _Files(Mapping[str, bytes]):
    """name → bytes, loaded on first access (bounded decompression, or a folder read)."""

    def __init__(self, names: list[str], load: Callable[[str], bytes]) -> None:
        self._names, self._known, self._load, self._cache = names, set(names), load, {}

    def __getitem__(self, name: str) -> bytes:
        if name not in self._cache:
            if name not in self._known:
                raise KeyError(name)
            self._cache[name] = self._load(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _shown(info: zipfile.ZipInfo) -> str:
    """The entry name for messages; undecodable bytes shown as escapes."""
    if not info.flag_bits & 0x800 and not info.filename.isascii():
        return info.filename.encode("cp437").decode("ascii", "backslashreplace")
    return info.filename


def _name_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\x00" in info.orig_filename:   # zipfile cuts the name there; other tools may not
        return "NUL character in path"
    if not info.flag_bits & 0x800 and not name.isascii():
        return "file name is not UTF-8 (set the UTF-8 flag, bit 11, or use ASCII names)"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name):
        return "drive letter in path"
    if "\\" in name:
        return "backslash in path (use '/')"
    if any(ord(c) < 32 for c in name):
        return "control character in path"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return "path escapes the bundle ('..')"
    if any(p in ("", ".") for p in parts):
        return "empty or '.' path component"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME:
        return f"path longer than {MAX_NAME} bytes"
    if any(len(p.encode("utf-8", "surrogateescape")) > MAX_NAME_PART for p in parts):
        return f"a path component is longer than {MAX_NAME_PART} bytes"
    return None


def _stage(found: list[dict[str, Any]]) -> None:
    if found:
        raise BundleError(found)


def _check_entries(infos: list[zipfile.ZipInfo]) -> None:
    """Names, symlinks, duplicates, encryption, declared sizes: one stage at a time."""
    _stage([problem(f"bundle: {_shown(i)}", msg, "bad_filename_encoding"
                    if msg.startswith("file name") else "unsafe_path")
            for i in infos if (msg := _name_problem(i))])
    _stage([problem(f"bundle: {i.filename}", "symbolic links are not allowed", "symlink")
            for i in infos if stat.S_ISLNK(i.external_attr >> 16)])
    seen: dict[str, str] = {}
    dupes = []
    for i in infos:
        key = unicodedata.normalize("NFC", i.filename.rstrip("/")).casefold()
        if key in seen:
            other = seen[key]
            why = "duplicate entry" if other == i.filename else f"collides with {other!r} " \
                "(names equal after case folding / Unicode normalisation)"
            dupes.append(problem(f"bundle: {i.filename}", why, "duplicate_name"))
        seen.setdefault(key, i.filename)
    _stage(dupes)
    files = {k for i in infos if not i.is_dir()
             for k in [unicodedata.normalize("NFC", i.filename).casefold()]}
    _stage([problem(f"bundle: {i.filename}", f"{'/'.join(parts[:n])!r} is a file, so it cannot "
                    "also be a folder", "file_and_folder")
            for i in infos for parts in [i.filename.rstrip("/").split("/")]
            for n in [next((n for n in range(1, len(parts)) if unicodedata.normalize(
                "NFC", "/".join(parts[:n])).casefold() in files), 0)] if n])
    _stage([problem(f"bundle: {i.filename}", "encrypted entries are not allowed", "encrypted")
            for i in infos if i.flag_bits & 0x1])
    _stage([problem(f"bundle: {i.filename}", f"uncompressed size {i.file_size} bytes exceeds "
                    f"{MAX_UNCOMPRESSED} bytes", "entry_too_large")
            for i in infos if i.file_size > MAX_UNCOMPRESSED])
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED:
        raise _fail("bundle", f"total uncompressed size {total} bytes exceeds "
                    f"{MAX_UNCOMPRESSED} bytes", "too_large_uncompressed")
    _stage([problem(f"bundle: {i.filename}", f"compression ratio {_ratio(i.file_size, i)}:1 "
                    f"exceeds {MAX_RATIO}:1 (zip bomb?)", "compression_ratio")
            for i in infos if _is_bomb(i.file_size, i)])


def _ratio(size: int, info: zipfile.ZipInfo) -> int:
    return size // max(info.compress_size, 1)


def _is_bomb(size: int, info: zipfile.ZipInfo) -> bool:
    return size > RATIO_FLOOR and _ratio(size, info) > MAX_RATIO


def _bounded_chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo,
                    total: list[int]) -> Iterator[bytes]:
    """Decompress one entry, refusing as soon as real output breaks the limits headers claimed."""
    where, got = f"bundle: {info.filename}", 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(_CHUNK):
                got += len(chunk)
                total[0] += len(chunk)
                if got > min(info.file_size, MAX_UNCOMPRESSED):
                    raise _fail(where, "entry decompresses to more than its declared size",
                                "entry_too_large")
                if total[0] > MAX_UNCOMPRESSED:
                    raise _fail("bundle", f"total uncompressed size exceeds {MAX_UNCOMPRESSED} "
                                "bytes", "too_large_uncompressed")
                if _is_bomb(got, info):
                    raise _fail(where, f"compression ratio exceeds {MAX_RATIO}:1 (zip bomb?)",
                                "compression_ratio")
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            ValueError) as exc:
        raise _fail(where, f"corrupt entry: {exc}", "corrupt_entry") from None
    if got != info.file_size:
        raise _fail(where, "entry is shorter than its declared size", "corrupt_entry")


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(where, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                    "not_utf8") from None


def read_bundle(data: bytes) -> Bundle:
    """Open bundle bytes, run every archive-safety check and parse ``manifest.toml``.

    Raises :class:`BundleError` (reason ``invalid_bundle``) at the first failing stage.
    The manifest is parsed but not validated: see :func:`manifest.load_manifest`.
    """
    if len(data) > MAX_COMPRESSED:
        raise _fail("bundle", f"bundle is {len(data)} bytes; the limit is {MAX_COMPRESSED}",
                    "too_large")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        raise _fail("bundle", f"not a zip archive or corrupt: {exc}", "not_a_zip") from None
    if len(infos) > MAX_ENTRIES:
        raise _fail("bundle", f"{len(infos)} entries; the limit is {MAX_ENTRIES}",
                    "too_many_entries")
    _check_entries(infos)
    total = [0]
    for info in infos:          # headers lie: enforce the limits on the real bytes too
        for _ in _bounded_chunks(zf, info, total):
            pass
    files = {i.filename: i for i in sorted(infos, key=lambda i: i.filename) if not i.is_dir()}
    lazy = _Files(list(files), lambda name: b"".join(_bounded_chunks(zf, files[name], [0])))
    if "manifest.toml" not in files:
        nested = [n for n in files if n.endswith("/manifest.toml")]
        hint = f" (found {nested[0]}; zip the folder's contents, or use build_bundle)" \
            if nested else ""
        raise _fail("bundle: manifest.toml", f"missing at the bundle root{hint}", "no_manifest")
    for name in ("manifest.toml", "README.md"):
        if name in files and files[name].file_size > MAX_TEXT:
            raise _fail(f"bundle: {name}", f"{files[name].file_size} bytes; at most {MAX_TEXT}",
                        "too_large")
    text = _decode(lazy["manifest.toml"], "manifest.toml")
    readme = _decode(lazy["README.md"], "README.md") if "README.md" in files else None
    return Bundle(sha256=hashlib.sha256(data).hexdigest(), size=len(data), names=tuple(files),
                  files=lazy, manifest=parse_toml(text), manifest_text=text, readme=readme,
                  data=data)


def extract_to(bundle: Bundle | Mapping[str, bytes], target_dir: str | os.PathLike[str]) -> Path:
    """Write the bundle's files (or a folder's, :func:`folder_files`) under ``target_dir``
    (created) and nowhere else; return it."""
    files = bundle.files if isinstance(bundle, Bundle) else bundle
    root = Path(target_dir)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    for name in (bundle.names if isinstance(bundle, Bundle) else list(files)):
        dest = (root / name).resolve()
        if not dest.is_relative_to(root) or dest == root:
            raise _fail(f"bundle: {name}", "path escapes the target directory", "unsafe_path")
        dest.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL | O_NOFOLLOW: never write through a link planted in the target
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(files[name])
    return root


def source_files(src_dir: str | os.PathLike[str],
                 exclude: Path | None = None) -> dict[str, Path]:
    """The files of a module folder that go into its bundle: archive name → path, sorted."""
    root = Path(src_dir).resolve()
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS
                             and (exclude is None or (here / d).resolve() != exclude))
        for fname in filenames + [d for d in dirnames if (here / d).is_symlink()]:
            path = here / fname
            if fname.startswith(".") or fname.endswith(SKIP_SUFFIXES):
                continue
            rel = unicodedata.normalize("NFC", path.relative_to(root).as_posix())
            if path.is_symlink():
                raise _fail(f"{src_dir}: {rel}", "symbolic links cannot be bundled", "symlink")
            if not path.is_file():      # reading a FIFO or a device would never end
                raise _fail(f"{src_dir}: {rel}", "not a regular file (FIFO, socket or device)",
                            "special_file")
            found[rel] = path
    return dict(sorted(found.items()))


def folder_files(src_dir: str | os.PathLike[str]) -> Mapping[str, bytes]:
    """A folder's bundle files as a lazy name → bytes mapping (what the bundle would hold)."""
    paths = source_files(src_dir)
    return _Files(list(paths), lambda name: paths[name].read_bytes())


def build_bundle(src_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Build ``OUT_DIR/NAME-VERSION.zip`` reproducibly from a module folder; return its path.

    Sorted entries, fixed timestamps and permissions, deflate: the same folder always
    gives the same sha256. Skips dotfiles, ``__pycache__``, ``*.pyc`` and ``tests/``.
    Refuses a folder whose manifest does not validate (BundleError with located details).
    """
    from marketplace.catalog.manifest import validate_manifest

    src, out = Path(src_dir), Path(out_dir)
    paths = source_files(src, exclude=out.resolve())
    if "manifest.toml" not in paths:
        raise _fail(f"{src}: manifest.toml", "missing", "no_manifest")
    text = _decode(paths["manifest.toml"].read_bytes(), "manifest.toml")
    files = _Files(list(paths), lambda name: paths[name].read_bytes())
    manifest = validate_manifest(parse_toml(text), files)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, path in paths.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3                     # same bytes whatever OS builds it
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    read_bundle(buf.getvalue())       # a folder too big for the limits fails here, not at upload
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{manifest.name}-{manifest.version}.zip"
    tmp = target.with_suffix(".zip.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, target)
    return target
