"""Module code has no network and leaves no files: in a sandbox and in the publish checker.

As root (CI), each sandbox process and each checker run gets a network namespace of
its own (loopback down: neither the platform's listening loopback ports nor any outside
address is reachable) and a mount namespace with a private tmpfs ``/tmp`` (``TMPDIR``
points there) that vanishes with the process. Not as root these tests are skipped:
there the isolation depends on the kernel allowing unprivileged user namespaces.
"""
from __future__ import annotations

import glob
import os
import socket
import textwrap
import uuid

import pytest

from marketplace.catalog.checker import check_module
from marketplace.runtime import loader

pytestmark = pytest.mark.skipif(
    os.getuid() != 0, reason="not root: network/mount namespaces need root here, or an "
    "unprivileged user namespace the kernel may refuse; CI runs these as root")

REACH = '''
"""Tries the network and litters /tmp."""
import errno
import os
import socket
import tempfile

from marketplace.sdk import hookimpl


def _connect(host, port):
    sock = socket.socket()
    sock.settimeout(2)
    try:
        sock.connect((host, port))
        return "connected"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, type(exc).__name__)
    finally:
        sock.close()


def _litter(path, mb=60):
    try:
        with open(path, "wb") as fh:
            for _ in range(mb):
                fh.write(bytes(1 << 20))
        return "written"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, type(exc).__name__)


@hookimpl
def reach(payload, context):
    return {"loopback": _connect("127.0.0.1", payload["port"]),
            "outside": _connect("192.0.2.1", 80)}


@hookimpl
def litter(payload, context):
    mark = payload["mark"]
    return {"tmp": _litter(f"/tmp/{mark}-tmp"),
            "tmpdir": _litter(os.path.join(tempfile.gettempdir(), f"{mark}-tmpdir")),
            "tempdir": tempfile.gettempdir(),
            "others": [_litter(f"{folder}/{mark}", 1) for folder in ("/var/tmp", "/dev/shm")],
            "run": _litter(f"/run/lock/{mark}", 1)}
'''


def _folder(tmp_path, port: int, mark: str):
    """reach-mod whose examples are the probes themselves (expected: nothing reachable)."""
    folder = tmp_path / f"reach-{mark}"
    (folder / "reach_mod").mkdir(parents=True)
    (folder / "manifest.toml").write_text(textwrap.dedent(f'''\
        [module]
        name = "reach-mod"
        version = "1.0.0"
        title = "网络探测"
        summary = "Tries the network and litters /tmp."
        category = "public_service"
        entry = "reach_mod"
        source_license = "MIT"

        [[operations]]
        name = "reach"
        units = 1
        input = {{ type = "object" }}
        output = {{ type = "object" }}

        [[operations.examples]]
        input = {{ port = {port} }}
        output = {{ loopback = "ENETUNREACH", outside = "ENETUNREACH" }}

        [[operations]]
        name = "litter"
        units = 1
        input = {{ type = "object" }}
        output = {{ type = "object" }}

        [[operations.examples]]
        input = {{ mark = "{mark}" }}
        output_contains = {{ tmp = "written" }}

        [terms]
        kind = "free"
        '''), encoding="utf-8")
    (folder / "reach_mod" / "__init__.py").write_text(REACH, encoding="utf-8")
    return folder


@pytest.fixture
def listening():
    """A platform-like port listening on the host's loopback."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


def _left(mark: str) -> list[str]:
    """Files of ``mark`` in the host's folders anyone may write in, or two folders down
    (the runtime's and the checker's folders)."""
    return [found for top in ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/lock/")
            for depth in range(3) for found in glob.glob(top + "*/" * depth + mark + "*")]


@pytest.fixture
def reach(app, catalog, shenzhen, listening):
    """reach-mod registered (no publish check) and installed for Shenzhen."""
    catalog.publish_folder(_folder(catalog.tmp, listening, f"pub-{uuid.uuid4().hex}"))
    assert shenzhen.install("reach-mod").status_code == 201
    yield shenzhen
    with app.app_context():
        loader.sandbox_pool().close()
    loader._sandboxes = None


def test_a_sandbox_reaches_neither_loopback_ports_nor_outside(reach, listening):
    reply = reach.invoke("reach-mod", "reach", {"port": listening})
    assert reply.status_code == 200, reply.json
    assert reply.json == {"loopback": "ENETUNREACH", "outside": "ENETUNREACH"}


def test_a_sandbox_leaves_no_files_in_tmp(app, reach):
    mark = f"govlitter-{uuid.uuid4().hex}"
    reply = reach.invoke("reach-mod", "litter", {"mark": mark})
    assert reply.status_code == 200, reply.json
    assert reply.json["tmp"] == "written" and reply.json["tempdir"] == "/tmp"
    assert reply.json["tmpdir"] in ("written", "ENOSPC")     # the private /tmp holds 64 MB
    assert reply.json["run"] in ("ENOENT", "EROFS")           # an empty, read-only /run
    assert _left(mark) == []                                  # private while it runs
    with app.app_context():
        loader.sandbox_pool().close()
    loader._sandboxes = None
    assert _left(mark) == []


def test_the_publish_checker_has_no_network_and_leaves_no_files(tmp_path, listening):
    mark = f"govlitter-{uuid.uuid4().hex}"
    report = check_module(_folder(tmp_path, listening, mark), timeout=20)
    assert report.errors == [] and report.examples_run == 2
    assert _left(mark) == []
