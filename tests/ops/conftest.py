"""Fixtures of the operations tests: the runtime's catalog and adopters, an S3 server."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.runtime.conftest import catalog, fixed_clock, hangzhou, shenzhen  # noqa: F401
from tests.support.services import free_port, wait_port

S3_KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}


def gofakes3_binary() -> str:
    """The S3-compatible test server (scripts/test installs it with ``go install``)."""
    found = os.environ.get("GOFAKES3") or shutil.which("gofakes3")
    if not found:
        candidate = Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "gofakes3"
        found = str(candidate) if candidate.exists() else ""
    if not found:
        pytest.fail("gofakes3 is not installed: `go install "
                    "github.com/johannesboyne/gofakes3/cmd/gofakes3@v1.2.0` (scripts/test does)")
    return found


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """gofakes3 on a free loopback port with bucket ``bundles``; yields its endpoint URL."""
    port = free_port()
    root = tmp_path_factory.mktemp("s3")
    proc = subprocess.Popen([gofakes3_binary(), "-host", f"127.0.0.1:{port}", "-backend", "fs",
                             "-fs.path", str(root), "-fs.create", "-initialbucket", "bundles",
                             "-quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Credentials for the test S3 server in this process's environment."""
    for key, value in S3_KEYS.items():
        monkeypatch.setenv(key, value)
    return s3_server
