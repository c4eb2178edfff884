"""`marketplace module build|publish|review|yank|list`, locally and against a remote URL."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import manifest_data, write_module  # noqa: E402
from publish_factory import audit_rows, demo_bundle  # noqa: E402


@pytest.fixture
def bundle_file(tmp_path):
    """A built demo bundle on disk."""
    path = tmp_path / "demo-licence-1.2.0.zip"
    path.write_bytes(demo_bundle(tmp_path))
    return path


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def failed(result) -> str:
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


def test_build_writes_a_reproducible_bundle(runner, tmp_path):
    src = write_module(tmp_path / "mod")
    first = Path(ok(runner.invoke(["module", "build", str(src), "-o", str(tmp_path / "a")])).strip())
    second = Path(ok(runner.invoke(["module", "build", str(src), "-o", str(tmp_path / "b")])).strip())
    assert first.name == "demo-licence-1.2.0.zip" and first.parent == tmp_path / "a"
    assert first.read_bytes() == second.read_bytes()


def test_build_defaults_to_dist(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = write_module(tmp_path / "mod")
    ok(runner.invoke(["module", "build", str(src)]))
    assert (tmp_path / "dist" / "demo-licence-1.2.0.zip").exists()


def test_build_refuses_an_invalid_manifest_with_a_located_line(runner, tmp_path):
    data = manifest_data()
    data["module"]["category"] = "fun"
    src = write_module(tmp_path / "mod", data)
    line = failed(runner.invoke(["module", "build", str(src), "-o", str(tmp_path / "out")]))
    assert "manifest.toml: module.category" in line
    assert not (tmp_path / "out").exists()


def test_publish_review_list_and_yank_locally(app, runner, factory, bundle_file):
    publisher = factory.user("publisher", "440000")
    admin = factory.user("admin", "110000")
    sha = hashlib.sha256(bundle_file.read_bytes()).hexdigest()
    out = ok(runner.invoke(["module", "publish", str(bundle_file), "--as", publisher]))
    assert out.strip() == f"demo-licence 1.2.0 pending_review sha256:{sha}"
    again = ok(runner.invoke(["module", "publish", str(bundle_file), "--as", publisher]))
    assert "already published" in again
    assert ok(runner.invoke(["module", "list", "--pending"])).startswith("demo-licence\t1.2.0")
    out = ok(runner.invoke(["module", "review", "demo-licence", "1.2.0", "--approve",
                            "--reason", "looks right", "--as", admin]))
    assert "published" in out
    listing = ok(runner.invoke(["module", "list"])).splitlines()
    assert listing == [f"demo-licence\t1.2.0\tpublished\t-\t440000\tpay_per_use\t{sha[:12]}"]
    out = ok(runner.invoke(["module", "yank", "demo-licence", "1.2.0", "--reason", "bug",
                            "--as", publisher]))
    assert "(yanked)" in out
    actions = [(a[0], a[1]) for a in audit_rows(app) if a[0].startswith("module.")]
    assert actions == [("module.publish", publisher), ("module.approve", admin),
                       ("module.yank", publisher)]


def test_console_review_without_as_is_journaled_as_system(app, runner, factory, bundle_file):
    ok(runner.invoke(["module", "publish", str(bundle_file), "--as",
                      factory.user("publisher", "440000")]))
    ok(runner.invoke(["module", "review", "demo-licence", "1.2.0", "--reject",
                      "--reason", "incomplete"]))
    assert audit_rows(app)[-1][:2] == ("module.reject", "system")


def test_local_publish_needs_as(runner, bundle_file):
    result = runner.invoke(["module", "publish", str(bundle_file)])
    assert result.exit_code == 1 and "--as EMAIL" in one_error_line(result)


def test_publish_of_a_bad_bundle_is_one_error_line(runner, factory, tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    line = failed(runner.invoke(["module", "publish", str(bad), "--as",
                                 factory.user("publisher", "440000")]))
    assert "not a zip archive" in line


def test_review_needs_a_decision(runner):
    result = runner.invoke(["module", "review", "demo-licence", "1.2.0"])
    assert result.exit_code == 1 and "--approve or --reject" in one_error_line(result)


def test_list_of_unknown_module_fails_cleanly(runner):
    assert "no module called 'nope'" in failed(runner.invoke(["module", "list", "nope"]))


@pytest.fixture
def remote_app(app, monkeypatch):
    """Route the CLI's `requests` calls to the test app, as a remote marketplace would answer.

    The remote server's request log is its own (it shares this process only in the
    test), so it is kept out of the CLI's stderr.
    """
    import logging

    import requests

    monkeypatch.setattr(logging.getLogger("marketplace.requests"), "disabled", True)

    client = app.test_client()
    seen = []

    class Reply:
        def __init__(self, response):
            self.status_code, self._response = response.status_code, response

        def json(self):
            return self._response.get_json()

    def request(method, url, headers=None, timeout=None, files=None, json=None):
        seen.append((method, url))
        path = url.removeprefix("https://market.example.cn")
        if files:
            name, data, mime = files["bundle"]
            import io
            return Reply(client.open(path, method=method, headers=headers,
                                     data={"bundle": (io.BytesIO(data), name, mime)},
                                     content_type="multipart/form-data"))
        return Reply(client.open(path, method=method, headers=headers, json=json))

    monkeypatch.setattr(requests, "request", request)
    return seen


def test_remote_publish_review_and_yank(runner, factory, remote_app, bundle_file):
    token = factory.token(factory.user("publisher", "440000"), "read,publish")
    admin_token = factory.token(factory.user("admin", "110000"), "read,admin")
    url = "https://market.example.cn"
    out = ok(runner.invoke(["module", "publish", str(bundle_file), "--url", url,
                            "--token", token]))
    assert out.startswith("demo-licence 1.2.0 pending_review")
    assert remote_app[0] == ("POST", "https://market.example.cn/api/v1/modules")
    ok(runner.invoke(["module", "review", "demo-licence", "1.2.0", "--approve",
                      "--url", url + "/api/v1", "--token", admin_token]))
    out = ok(runner.invoke(["module", "yank", "demo-licence", "1.2.0", "--reason", "bug",
                            "--url", url], env={"MARKETPLACE_TOKEN": token}))
    assert "published (yanked)" in out


def test_remote_errors_are_one_line_with_details(runner, factory, remote_app, tmp_path):
    token = factory.token(factory.user("publisher", "440000"), "read,publish")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    line = failed(runner.invoke(["module", "publish", str(bad), "--url",
                                 "https://market.example.cn", "--token", token]))
    assert "not a zip archive" in line and "bundle:" in line
    assert "needs --token" not in line
    line = failed(runner.invoke(["module", "publish", str(bad), "--url",
                                 "https://market.example.cn"]))
    assert "--token" in line


def test_build_of_a_manifest_nested_thousands_deep_is_one_error_line(runner, tmp_path):
    src = write_module(tmp_path / "mod")
    text = (src / "manifest.toml").read_text(encoding="utf-8")
    (src / "manifest.toml").write_text("deep = " + "[" * 5000 + "]" * 5000 + "\n" + text,
                                       encoding="utf-8")
    line = failed(runner.invoke(["module", "build", str(src), "-o", str(tmp_path / "out")]))
    assert "manifest.toml" in line and "deeper than 64" in line


def test_build_of_a_folder_holding_a_fifo_is_one_error_line_not_a_hang(runner, tmp_path):
    import os

    src = write_module(tmp_path / "mod")
    os.mkfifo(src / "demo_licence" / "pipe")
    line = failed(runner.invoke(["module", "build", str(src), "-o", str(tmp_path / "out")]))
    assert "demo_licence/pipe" in line and "not a regular file" in line


def one_error_line(result) -> str:
    """The one ``error:`` line of a failed command (click's own usage errors included)."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_click_usage_errors_are_one_error_line_and_exit_1(runner):
    for args in (["nosuch"], ["user", "add", "a@b.cn", "--jurisdiction", "440300"],
                 ["settle"], ["settle", "--bogus", "2026-10"]):
        result = runner.invoke(args)
        assert result.exit_code == 1, (args, result.output)
        one_error_line(result)

