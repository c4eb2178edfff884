"""Archive attacks through the real upload route: refused, and nothing written anywhere on disk.

tests/catalog/test_bundle.py pins each refusal of ``read_bundle``; here every hostile
bundle goes through ``POST /api/v1/modules`` and the test looks at the disk: the
artifact store stays empty, no file appears at the paths the archive aims at, no
check folder is left behind. Extraction itself refuses to write outside its target
even when handed names that skipped the checks, or a target with a planted link.
"""
from __future__ import annotations

import io
import os
import stat
import tempfile
import uuid
import warnings
import zipfile
from pathlib import Path

import pytest

from marketplace.catalog.bundle import Bundle, BundleError, extract_to

TMP = Path(tempfile.gettempdir())


def _folder(world, tmp_path: Path) -> Path:
    from tests.runtime.conftest import Catalog

    catalog = Catalog.__new__(Catalog)
    catalog.tmp = tmp_path
    return catalog.toy_folder("toy-echo", "1.3.0", implements="gov.toy")


def _zip(entries: list[tuple]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # duplicate names are the point of some tests
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return buf.getvalue()


def _module_entries(world, tmp_path: Path) -> list[tuple]:
    root = _folder(world, tmp_path)
    return [(p.relative_to(root).as_posix(), p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file()]


def _link(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _non_utf8(entries: list[tuple]) -> bytes:
    data = _zip(entries + [("toy_toy_echo/PLACEHOLDER.py", b"x = 1")])
    return data.replace(b"PLACEHOLDER", b"caf\xe9\xb0HOLDER")     # latin-1 bytes, UTF-8 flag unset


MARK = f"escape-{uuid.uuid4().hex[:12]}"
ATTACKS = {
    "traversal": lambda e: _zip(e + [(f"../../{MARK}.py", b"owned = True")]),
    "deep traversal": lambda e: _zip(e + [(f"toy_toy_echo/../../../../{MARK}.py", b"x")]),
    "absolute path": lambda e: _zip(e + [(f"{TMP}/{MARK}.py", b"owned = True")]),
    "backslash traversal": lambda e: _zip(e + [(f"..\\..\\{MARK}.py", b"x")]),
    "symlink out": lambda e: _zip(e + [(_link("toy_toy_echo/data", str(TMP)), str(TMP))]),
    "symlink then write through it": lambda e: _zip(
        e + [(_link("toy_toy_echo/out", str(TMP)), str(TMP)), (f"toy_toy_echo/out/{MARK}.py", b"x")]),
    "zip bomb": lambda e: _zip(e + [("toy_toy_echo/zeros.bin", bytes(20 << 20))]),
    "too many entries": lambda e: _zip(e + [(f"toy_toy_echo/f{i}.py", b"") for i in range(2001)]),
    "duplicate name": lambda e: _zip(e + [("toy_toy_echo/__init__.py", b"owned = True")]),
    "case collision": lambda e: _zip(e + [("Manifest.toml", b"")]),
    "unicode collision": lambda e: _zip(e + [("toy_toy_echo/caf\u00e9.py", b""),
                                             ("toy_toy_echo/cafe\u0301.py", b"")]),
    "non-UTF-8 name": _non_utf8,
    "NUL in a name": lambda e: _zip(e + [("toy_toy_echo/PLACEHOLDER.py", b"x")]).replace(
        b"PLACEHOLDER", b"PLACE\x00OLDER"),
    "file and folder of one name": lambda e: _zip(e + [("toy_toy_echo/util", b"x = 1"),
                                                       ("toy_toy_echo/util/a.py", b"")]),
    "name of 300 characters": lambda e: _zip(e + [("toy_toy_echo/" + "a" * 300 + ".py", b"")]),
    "path of 4,200 characters": lambda e: _zip(e + [(
        "toy_toy_echo/" + "/".join(["d" * 100] * 42) + ".py", b"")]),
}


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _check_dirs() -> set[str]:
    """This process's check folders (another process's checks, e.g. a parallel run, are theirs)."""
    from marketplace.catalog.checker import check_folder_prefix

    return {p.name for p in TMP.glob(check_folder_prefix() + "*")}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_hostile_bundle_is_refused_and_nothing_is_written(world, tmp_path, attack):
    data = ATTACKS[attack](_module_entries(world, tmp_path / "src"))
    store = Path(world.app.config["ARTIFACT_DIR"])
    stored_before, checks_before = _files_under(store), _check_dirs()
    answer = world.app.test_client().post(
        "/api/v1/modules", headers=world.headers("publisher"),
        data={"bundle": (io.BytesIO(data), "toy-echo-1.3.0.zip")}, content_type="multipart/form-data")
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"] == "invalid_bundle" and answer.get_json()["details"]
    assert _files_under(store) == stored_before            # only the world's two bundles
    assert _check_dirs() <= checks_before                  # no check folder left behind
    for root in (TMP, tmp_path.parent, Path.cwd()):
        assert not list(root.glob(f"{MARK}*")), f"{attack} wrote into {root}"
    assert not list(tmp_path.rglob(f"{MARK}*"))


def test_a_valid_bundle_built_from_the_same_entries_is_accepted(world, tmp_path):
    """Control: the attacks above differ from an accepted upload only by the hostile entry."""
    data = _zip(_module_entries(world, tmp_path / "src"))
    answer = world.app.test_client().post(
        "/api/v1/modules", headers=world.headers("publisher"),
        data={"bundle": (io.BytesIO(data), "toy-echo-1.3.0.zip")}, content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_json()


def _unchecked(names: dict[str, bytes]) -> Bundle:
    """A Bundle whose names never went through read_bundle's checks."""
    return Bundle(sha256="0" * 64, size=0, names=tuple(names), files=names, manifest={},
                  manifest_text="")


@pytest.mark.parametrize("name", ["../outside.py", "a/../../outside.py", "/tmp/outside.py"])
def test_extraction_refuses_names_that_escape_even_unchecked(tmp_path, name):
    target = tmp_path / "box" / "target"
    with pytest.raises(BundleError):
        extract_to(_unchecked({"ok.py": b"", name.replace("/tmp", str(tmp_path)): b"x"}), target)
    assert not (tmp_path / "outside.py").exists() and not (tmp_path / "box" / "outside.py").exists()


def test_extraction_never_writes_through_a_link_planted_in_the_target(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(victim, target / "manifest.toml")
    with pytest.raises((BundleError, OSError)):
        extract_to(_unchecked({"manifest.toml": b"overwritten"}), target)
    assert victim.read_text() == "original"


def test_extraction_never_follows_a_planted_directory_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "pkg")
    with pytest.raises((BundleError, OSError)):
        extract_to(_unchecked({"pkg/__init__.py": b"owned = True"}), target)
    assert list(outside.iterdir()) == []
