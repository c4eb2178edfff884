"""Bundles: reproducible builds and the archive-safety checks of DESIGN §3 check 1."""
from __future__ import annotations

import hashlib
import os
import stat
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from marketplace.catalog import bundle as bundle_mod
from marketplace.catalog.bundle import BundleError, build_bundle, extract_to, read_bundle

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import (manifest_data, module_entries, write_module,  # noqa: E402
                             zip_bytes)


def refused(data: bytes) -> BundleError:
    with pytest.raises(BundleError) as info:
        read_bundle(data)
    assert info.value.reason == "invalid_bundle" and info.value.status == 400
    return info.value


# --- building ----------------------------------------------------------------

def test_build_is_reproducible(tmp_path):
    src = write_module(tmp_path / "mod")
    first = build_bundle(src, tmp_path / "a")
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    for path in src.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
        path.chmod(0o755 if path.is_dir() else 0o600)
    second = build_bundle(src, tmp_path / "b")
    assert first.name == second.name == "demo-licence-1.2.0.zip"
    assert hashlib.sha256(second.read_bytes()).hexdigest() == digest


def test_build_writes_sorted_fixed_entries_and_skips_junk(tmp_path):
    src = write_module(tmp_path / "mod", files={
        "demo_licence/__pycache__/x.cpython-311.pyc": b"\0", "demo_licence/old.pyc": b"\0",
        ".git/config": "x", ".env": "SECRET=1", "tests/test_x.py": "", "demo_licence/b.py": ""})
    out = build_bundle(src, src / "dist")      # out dir inside the folder is not bundled
    with zipfile.ZipFile(out) as zf:
        names = [i.filename for i in zf.infolist()]
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
        assert all(i.external_attr >> 16 == 0o100644 for i in zf.infolist())
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    assert names == sorted(names) == ["README.md", "demo_licence/__init__.py",
                                      "demo_licence/b.py", "manifest.toml"]
    assert build_bundle(src, src / "dist").read_bytes() == out.read_bytes()


def test_build_refuses_folder_with_invalid_manifest(tmp_path):
    data = manifest_data()
    data["module"]["version"] = "1.2"
    with pytest.raises(BundleError) as info:
        build_bundle(write_module(tmp_path / "mod", data), tmp_path / "dist")
    assert info.value.details[0]["where"] == "manifest.toml: module.version"
    assert not (tmp_path / "dist").exists()


def test_build_refuses_folder_without_manifest(tmp_path):
    (tmp_path / "mod").mkdir()
    with pytest.raises(BundleError) as info:
        build_bundle(tmp_path / "mod", tmp_path / "dist")
    assert info.value.code == "no_manifest"


# --- reading a good bundle -----------------------------------------------------

def test_read_bundle_exposes_files_manifest_readme_and_sha256(tmp_path):
    data = build_bundle(write_module(tmp_path / "mod"), tmp_path / "dist").read_bytes()
    bundle = read_bundle(data)
    assert bundle.sha256 == hashlib.sha256(data).hexdigest()
    assert bundle.manifest["module"]["name"] == "demo-licence"
    assert bundle.readme.startswith("# 执照查询")
    assert b"hookimpl" in bundle.files["demo_licence/__init__.py"]
    assert set(bundle.files) == set(bundle.names)


def test_extract_to_writes_only_under_target(tmp_path):
    data = build_bundle(write_module(tmp_path / "mod"), tmp_path / "dist").read_bytes()
    target = extract_to(read_bundle(data), tmp_path / "out")
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert written == ["README.md", "demo_licence/__init__.py", "manifest.toml"]
    assert sorted(os.listdir(tmp_path)) == ["dist", "mod", "out"]


def test_missing_manifest_is_located(tmp_path):
    err = refused(zip_bytes([("mod/manifest.toml", b""), ("mod/x/__init__.py", b"")]))
    assert err.details[0]["where"] == "bundle: manifest.toml"
    assert "found mod/manifest.toml" in err.details[0]["message"]


def test_toml_syntax_error_is_located_by_line():
    err = refused(zip_bytes([("manifest.toml", b'[module]\nname = "x"\nversion = \n')]))
    assert err.code == "toml_syntax"
    assert err.details[0]["where"].startswith("manifest.toml: line 3")


# --- archive safety, one test per refusal --------------------------------------

def test_not_a_zip():
    err = refused(b"this is not a zip file at all")
    assert (err.code, err.details[0]["where"]) == ("not_a_zip", "bundle")


def test_corrupt_zip():
    data = zip_bytes(module_entries())
    assert refused(data[: len(data) // 2]).code == "not_a_zip"


def test_corrupt_entry_data_is_caught_while_reading():
    data = bytearray(zip_bytes(module_entries(), zipfile.ZIP_STORED))
    at = data.index(b"[module]")
    data[at:at + 8] = b"[MODULE]"                      # CRC no longer matches
    err = refused(bytes(data))
    assert (err.code, err.details[0]["where"]) == ("corrupt_entry", "bundle: manifest.toml")


def test_too_large_compressed(monkeypatch):
    monkeypatch.setattr(bundle_mod, "MAX_COMPRESSED", 100)
    assert refused(zip_bytes(module_entries())).code == "too_large"


def test_too_many_entries():
    entries = module_entries() + [(f"demo_licence/f{i}.py", b"") for i in range(2000)]
    err = refused(zip_bytes(entries))
    assert err.code == "too_many_entries" and "2002 entries" in err.message


def test_path_traversal():
    err = refused(zip_bytes(module_entries() + [("../evil.py", b"x")]))
    assert (err.code, err.details[0]["where"]) == ("unsafe_path", "bundle: ../evil.py")


def test_absolute_path():
    err = refused(zip_bytes(module_entries() + [("/etc/evil.py", b"x")]))
    assert err.details[0] == {"where": "bundle: /etc/evil.py", "message": "absolute path",
                              "code": "unsafe_path"}


@pytest.mark.parametrize("name", ["demo_licence\\..\\..\\evil.py", "C:/evil.py", "a/./b.py"])
def test_backslash_drive_letter_and_dot_components(name):
    err = refused(zip_bytes(module_entries() + [(name, b"x")]))
    assert (err.code, err.details[0]["where"]) == ("unsafe_path", f"bundle: {name}")


def test_symlink():
    link = zipfile.ZipInfo("demo_licence/secrets.py")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    err = refused(zip_bytes(module_entries() + [(link, b"/etc/passwd")]))
    assert (err.code, err.details[0]["where"]) == ("symlink", "bundle: demo_licence/secrets.py")


def test_duplicate_entries():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = zip_bytes(module_entries() + [("demo_licence/__init__.py", b"evil = 1")])
    err = refused(data)
    assert (err.code, err.details[0]["where"]) == ("duplicate_name",
                                                   "bundle: demo_licence/__init__.py")


@pytest.mark.parametrize("other", ["DEMO_LICENCE/__init__.py", "demo_licence/cafe\u0301.py"])
def test_case_folded_and_unicode_normalised_collisions(other):
    first = "demo_licence/café.py" if "cafe" in other else "demo_licence/__init__.py"
    entries = module_entries() + ([(first, b"")] if "cafe" in other else []) + [(other, b"")]
    err = refused(zip_bytes(entries))
    assert err.code == "duplicate_name" and "collides with" in err.details[0]["message"]


def test_non_utf8_name():
    data = zip_bytes(module_entries() + [("demo_licence/PLACEHOLDER.py", b"")])
    data = data.replace(b"PLACEHOLDER", b"caf\xe9\xb0HOLDER")   # same length; latin-1, flag unset
    err = refused(data)
    assert err.code == "bad_filename_encoding"
    assert err.details[0]["where"] == "bundle: demo_licence/caf\\xe9\\xb0HOLDER.py"


def test_zip_bomb_by_compression_ratio():
    err = refused(zip_bytes(module_entries() + [("demo_licence/data.bin", bytes(5 << 20))]))
    assert (err.code, err.details[0]["where"]) == ("compression_ratio",
                                                   "bundle: demo_licence/data.bin")


def test_zip_bomb_by_uncompressed_size_of_one_entry():
    err = refused(zip_bytes(module_entries() + [("demo_licence/big.bin", bytes(51 << 20))]))
    assert (err.code, err.details[0]["where"]) == ("entry_too_large",
                                                   "bundle: demo_licence/big.bin")


def test_zip_bomb_by_total_uncompressed_size():
    entries = module_entries() + [(f"demo_licence/{i}.bin", bytes(26 << 20)) for i in range(2)]
    assert refused(zip_bytes(entries)).code == "too_large_uncompressed"


def test_lying_size_header_is_caught_while_reading():
    """The headers claim 10 bytes; the data inflates to far more: the bounded read refuses."""
    data = bytearray(zip_bytes(module_entries() + [("demo_licence/x.py", b"a" * 5000)]))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = -1
        while (at := data.find(signature, at + 1)) != -1:
            name_len = struct.unpack_from("<H", data, at + (26 if offset == 22 else 28))[0]
            start = at + (30 if offset == 22 else 46)
            if data[start:start + name_len] == b"demo_licence/x.py":
                struct.pack_into("<I", data, at + offset, 10)
    err = refused(bytes(data))
    assert (err.code, err.details[0]["where"]) == ("corrupt_entry", "bundle: demo_licence/x.py")


def test_encrypted_entry():
    data = bytearray(zip_bytes(module_entries(), zipfile.ZIP_STORED))
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + flag_at] |= 1
    assert refused(bytes(data)).code == "encrypted"


def test_build_refuses_symlinks_in_the_folder(tmp_path):
    src = write_module(tmp_path / "mod")
    (src / "demo_licence" / "secrets.py").symlink_to("/etc/passwd")
    with pytest.raises(BundleError) as info:
        build_bundle(src, tmp_path / "dist")
    assert info.value.code == "symlink"
    assert info.value.details[0]["where"].endswith(": demo_licence/secrets.py")
