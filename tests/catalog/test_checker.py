"""The module check: the entry package runs in a separate, limited process (DESIGN §3 check 3)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from marketplace.catalog.bundle import BundleError, build_bundle, read_bundle
from marketplace.catalog.checker import check_module, compare_interfaces, implements_signature
from marketplace.catalog.manifest import load_manifest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import GOOD_INIT, manifest_data, write_module  # noqa: E402

HEADER = "from marketplace.sdk import hookimpl\n\n"
LOOKUP = '''
@hookimpl
def lookup_licence(payload, context):
    return {"licence_id": payload["company"].upper(), "status": "valid"}
'''


def check(tmp_path, init=GOOD_INIT, data=None, timeout=10, **kw):
    """Build a bundle from the factory folder and check it."""
    src = write_module(tmp_path / "mod", data or manifest_data(), init=init)
    return check_module(build_bundle(src, tmp_path / "dist").read_bytes(), timeout=timeout, **kw)


def only_error(report) -> tuple[str, str]:
    assert len(report.errors) == 1, report.errors
    return report.errors[0]["where"], report.errors[0]["message"]


def test_good_module_passes_every_check(tmp_path):
    report = check(tmp_path)
    assert report.ok, report.errors
    assert report.examples_run == 2
    assert sorted(report.hookimpls) == ["lookup_licence", "module_health"]
    assert report.duration < 10      # the real target (≤ 2 s a publish) lives in bench/


def test_extracted_folder_can_be_checked_directly(tmp_path):
    assert check_module(write_module(tmp_path / "mod")).ok


def test_worker_stays_lean_and_sees_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETPLACE_SECRET_KEY", "s3cret")
    init = ("import os, sys\nassert 'flask' not in sys.modules, 'flask imported'\n"
            "assert 'sqlalchemy' not in sys.modules\n"
            "assert 'MARKETPLACE_SECRET_KEY' not in os.environ, 'secret leaked'\n" + GOOD_INIT)
    assert check(tmp_path, init).ok


def test_checked_code_can_read_no_private_file_nor_start_a_process(tmp_path):
    """The publisher learns what its code returned (in the diff): it must not be a secret."""
    secret = tmp_path / "private" / "secret_key"
    secret.parent.mkdir()
    secret.write_text("s3cret")
    secret.chmod(0o600)
    init = GOOD_INIT.replace('"status": "valid"', '"status": _probe()') + f'''

def _probe():
    import os
    seen = []
    try:
        seen.append(open({str(secret)!r}).read())
    except OSError as exc:
        seen.append(type(exc).__name__)
    try:
        seen.append("forked" if os.fork() else "child")
    except OSError as exc:
        seen.append(type(exc).__name__)
    return " ".join(seen)
'''
    report = check(tmp_path, init)
    assert [e["where"] for e in report.errors] == [
        "operation lookup_licence: example 1 output", "operation lookup_licence: example 2 output"]
    message = report.errors[0]["message"]
    if os.getuid() == 0:          # a user of its own: root's private files are out of reach
        assert message.endswith(('got "PermissionError BlockingIOError"',   # (or in the host's
                                 'got "FileNotFoundError BlockingIOError"')), message  # /tmp)
    else:                         # the platform's own user: its files are its own
        assert message.endswith('got "s3cret BlockingIOError"'), message


@pytest.mark.parametrize("plant", ["link", "fifo"])
def test_a_report_swapped_by_module_code_is_not_read(tmp_path, plant):
    """Module code may write in the report folder: the host reads no link, FIFO or device."""
    secret = tmp_path / "private" / "findings.json"
    secret.parent.mkdir()
    secret.write_text('{"errors": [{"where": "x", "message": "s3cret"}]}')
    secret.chmod(0o600)
    init = GOOD_INIT + f'''

def _swap():
    import os
    path = os.path.join("..", "out", "result.json")     # (its /tmp path is hidden by its own)
    os.unlink(path)
    if {plant!r} == "link":
        os.symlink({str(secret)!r}, path)
    else:
        os.mkfifo(path)


import atexit

atexit.register(_swap)               # after the worker wrote its findings
'''
    started = time.monotonic()
    report = check(tmp_path, init)
    assert time.monotonic() - started < 8          # a FIFO does not hold the check
    assert "s3cret" not in str(report.errors)
    where, message = only_error(report)
    assert "without a report" in message, message


def test_a_report_forged_by_module_code_is_refused_not_a_crash(tmp_path):
    init = GOOD_INIT + '''

def _forge():
    import json, os
    path = os.path.join("..", "out", "result.json")     # (its /tmp path is hidden by its own)
    with open(path, "w") as fh:
        json.dump({"results": [{"operation": "lookup_licence", "number": 99, "output": {}}]}, fh)


import atexit

atexit.register(_forge)
'''
    where, message = only_error(check(tmp_path, init))
    assert (where, message) == ("report", "the check's report was damaged (did module code "
                                          "write over it?)")


def test_deeply_nested_leftovers_are_cleaned_up(tmp_path):
    import tempfile

    from marketplace.catalog.checker import check_folder_prefix

    jobs, mine = Path(tempfile.gettempdir()), check_folder_prefix() + "*"
    before = set(jobs.glob(mine))
    init = ("import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\n"
            + GOOD_INIT)
    assert check(tmp_path, init).ok
    assert set(jobs.glob(mine)) == before


def test_undeclared_hookimpl(tmp_path):
    init = GOOD_INIT + "\n@hookimpl\ndef lookup_lisence(payload, context):\n    return {}\n"
    where, message = only_error(check(tmp_path, init))
    assert where == "hookimpl lookup_lisence"
    assert message.startswith("hookimpl lookup_lisence has no declared operation")


def test_missing_hookimpl(tmp_path):
    where, message = only_error(check(tmp_path, HEADER + "VALUE = 1\n"))
    assert where == "operation lookup_licence" and message.startswith("no hookimpl")


def test_wrong_hookimpl_signature(tmp_path):
    init = HEADER + "@hookimpl\ndef lookup_licence(payload, ctx):\n    return {}\n"
    where, message = only_error(check(tmp_path, init))
    assert where == "operation lookup_licence"
    assert "lookup_licence(payload, ctx) has the wrong signature" in message
    assert "expected lookup_licence(payload, context)" in message


def test_example_failing_its_input_schema(tmp_path):
    data = manifest_data()
    data["operations"][0]["examples"][1]["input"] = {"company": "x"}
    where, message = only_error(check(tmp_path, data=data))
    assert where == "operation lookup_licence: example 2 input"
    assert "input schema at company" in message


def test_example_output_mismatch(tmp_path):
    data = manifest_data()
    data["operations"][0]["examples"][0]["output"]["status"] = "revoked"
    where, message = only_error(check(tmp_path, data=data))
    assert where == "operation lookup_licence: example 1 output"
    assert message == 'differs from output at status: expected "revoked", got "valid"'


def test_example_output_contains_mismatch(tmp_path):
    data = manifest_data()
    data["operations"][0]["examples"][1]["output_contains"] = {"expires": "2030-01-01"}
    where, message = only_error(check(tmp_path, data=data))
    assert where == "operation lookup_licence: example 2 output"
    assert message.startswith("does not contain output_contains at expires: missing")


def test_output_breaking_its_schema(tmp_path):
    init = HEADER + LOOKUP.replace('payload["company"].upper()', "42")
    report = check(tmp_path, init)
    assert {e["where"] for e in report.errors} == {"operation lookup_licence: example 1 output",
                                                  "operation lookup_licence: example 2 output"}
    assert "output schema at licence_id: 42 is not of type 'string'" in report.errors[0]["message"]


def test_operation_raising_is_located(tmp_path):
    init = HEADER + "@hookimpl\ndef lookup_licence(payload, context):\n    return 1 / 0\n"
    report = check(tmp_path, init)
    assert report.errors[0]["where"] == "operation lookup_licence: example 1"
    assert report.errors[0]["message"] == \
        "raised ZeroDivisionError: division by zero at demo_licence/__init__.py:5"


def test_import_error(tmp_path):
    report = check(tmp_path, "import json\nimport no_such_dependency\n" + GOOD_INIT)
    where, message = only_error(report)
    assert where == "import demo_licence: demo_licence/__init__.py:2"
    assert message == "import failed: ModuleNotFoundError: No module named 'no_such_dependency'"


def test_syntax_error_is_located(tmp_path):
    where, message = only_error(check(tmp_path, GOOD_INIT + "\ndef broken(:\n"))
    assert where.startswith("import demo_licence: demo_licence/__init__.py:")
    assert message.startswith("import failed: SyntaxError")


def test_module_that_hangs_times_out(tmp_path):
    started = time.monotonic()
    where, message = only_error(check(tmp_path, "while True:\n    pass\n", timeout=2))
    assert (where, message) == ("import demo_licence", "timed out after 2s")
    assert time.monotonic() - started < 6


def test_operation_that_hangs_is_located(tmp_path):
    init = HEADER + "@hookimpl\ndef lookup_licence(payload, context):\n    while True: pass\n"
    where, message = only_error(check(tmp_path, init, timeout=2))
    assert (where, message) == ("operation lookup_licence: example 1", "timed out after 2s")


def test_sys_exit_at_import(tmp_path):
    where, message = only_error(check(tmp_path, "import sys\nsys.exit(3)\n"))
    assert where == "import demo_licence: demo_licence/__init__.py:2"
    assert message == "module called sys.exit(3); a module must never exit the process"


def test_print_at_import(tmp_path):
    where, message = only_error(check(tmp_path, "print('hello')\n" + GOOD_INIT))
    assert (where, message) == ("import demo_licence",
                                "module writes to stdout at import; use logging")


def test_writing_to_fd_1_at_import_is_caught_too(tmp_path):
    where, message = only_error(check(tmp_path, "import os\nos.write(1, b'hi')\n" + GOOD_INIT))
    assert message == "module writes to stdout at import; use logging"


def test_memory_hog_at_import(tmp_path):
    where, message = only_error(check(tmp_path, "x = bytearray(2 << 30)\n", memory_mb=256))
    assert message == "import failed: exceeded memory limit (256 MB)"


def test_os_exit_at_import(tmp_path):
    where, message = only_error(check(tmp_path, "import os\nos._exit(0)\n"))
    assert (where, message.split(" (")[0]) == ("import demo_licence",
                                               "worker exited with status 0 without a report")


def test_bad_bundle_bytes_raise_bundle_error(tmp_path):
    with pytest.raises(BundleError):
        check_module(b"not a zip")


# --- shared interfaces (DESIGN §3 check 5) ----------------------------------------

def manifest_of(tmp_path, name, data):
    src = write_module(tmp_path / name, data)
    return load_manifest(read_bundle(build_bundle(src, tmp_path / "dist").read_bytes()))


def test_identical_interfaces_have_equal_signatures(tmp_path):
    a, b = manifest_data(), manifest_data()
    b["module"]["name"], b["operations"][0]["units"] = "other-licence", 3
    b["operations"][0]["input"] = dict(reversed(list(b["operations"][0]["input"].items())))
    sig_a = implements_signature(manifest_of(tmp_path, "a", a))
    sig_b = implements_signature(manifest_of(tmp_path, "b", b))
    assert sig_a == sig_b and compare_interfaces(sig_a, sig_b) == []


def test_interface_differences_in_words(tmp_path):
    b = manifest_data()
    b["operations"][0]["output"]["properties"]["expiry"] = {"type": "string"}
    b["operations"].append({**b["operations"][0], "name": "renew_licence", "examples": []})
    sig_a = implements_signature(manifest_of(tmp_path, "a", manifest_data()))
    sig_b = implements_signature(manifest_of(tmp_path, "b", b))
    assert compare_interfaces(sig_a, sig_b) == [
        "operation renew_licence: not part of the interface",
        "operation lookup_licence: output schema differs at properties.expiry"]
    assert compare_interfaces(sig_b, sig_a)[0] == \
        "operation renew_licence: missing (the interface declares it)"
