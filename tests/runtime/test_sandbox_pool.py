"""Module code runs in sandbox processes: hangs, memory, exits, stdout and snooping are contained."""
from __future__ import annotations

import os
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from marketplace import confine
from marketplace.runtime import loader

ROGUE = '''
"""A module that misbehaves on purpose, plus a healthy echo."""
import os
import resource
import sys

from marketplace.sdk import hookimpl

EVENTS = []


@hookimpl
def echo(payload, context):
    return {"text": payload.get("text", ""), "pid": os.getpid(), "tenant": context.jurisdiction.code}


@hookimpl
def spin(payload, context):
    while True:
        pass


@hookimpl
def hog(payload, context):
    block = bytearray(payload["mb"] * 1024 * 1024)
    return {"size": len(block)}


@hookimpl
def die(payload, context):
    os._exit(3)


@hookimpl
def leave(payload, context):
    sys.exit(0)


@hookimpl
def shout(payload, context):
    print("to stdout " * 10000)
    os.write(1, b"raw bytes on fd 1" * 1000)
    return {"text": "said"}


@hookimpl
def snoop(payload, context):
    found = {"env": dict(os.environ), "uid": os.getuid(), "pid": os.getpid(),
             "memory": resource.getrlimit(resource.RLIMIT_AS)[0]}
    try:
        import marketplace.db  # noqa: F401
        found["db_module"] = "imported"
    except ImportError as exc:
        found["db_module"] = repr(exc)
    for path in payload.get("files", []):
        try:
            with open(path, "rb") as fh:
                found[path] = fh.read(16).hex()
        except OSError as exc:
            found[path] = type(exc).__name__
    return found


@hookimpl
def events(payload, context):
    return {"events": EVENTS}


@hookimpl
def spawn(payload, context):
    """Try to start what could outlive the sandbox: a forked child, a program, a thread."""
    import subprocess
    import threading

    tried = {}
    try:
        if os.fork() == 0:
            os._exit(0)                      # (were this allowed, it could setsid and spin on)
        tried["fork"] = "started"
    except OSError as exc:
        tried["fork"] = type(exc).__name__
    try:
        subprocess.Popen(["true"], start_new_session=True)
        tried["program"] = "started"
    except OSError as exc:
        tried["program"] = type(exc).__name__
    try:
        threading.Thread(target=lambda: None).start()
        tried["thread"] = "started"
    except RuntimeError as exc:
        tried["thread"] = type(exc).__name__
    return tried


@hookimpl
def garble(payload, context):
    """Write an empty frame on the sandbox's own answer pipe, then answer as usual.

    ``scan``: look among the descriptors a process may open (0-63); ``proc``: list them all."""
    import fcntl
    import stat

    fds = range(64) if payload["via"] == "scan" else [int(n) for n in os.listdir("/proc/self/fd")]
    found = 0
    for fd in fds:
        try:
            if (stat.S_ISFIFO(os.fstat(fd).st_mode)
                    and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY):
                os.write(fd, bytes(4))
                found += 1
        except OSError:
            pass
    return {"text": "garbled", "found": found}


@hookimpl
def tamper(payload, context):
    """Patch pluggy in this process: every later hook call anywhere in it answers our way."""
    import pluggy

    pluggy.HookCaller.__call__ = lambda self, *args, **kwargs: {"text": "tampered"}
    return {"patched": True}


@hookimpl
def neighbours(payload, context):
    """Reach the other sandboxes: signal them, read their memory and environment."""
    found = {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "others": {}}
    for pid in payload["pids"]:
        if pid == os.getpid():
            continue
        seen = {}
        try:
            os.kill(pid, 0)                  # signal 0: the permission check alone
            seen["signal"] = "allowed"
        except OSError as exc:
            seen["signal"] = type(exc).__name__
        for part in ("environ", "mem"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as fh:
                    fh.read(1)
                seen[part] = "read"
            except OSError as exc:
                seen[part] = type(exc).__name__
        found["others"][str(pid)] = seen
    return found


@hookimpl
def module_installed(context):
    EVENTS.append(["installed", context.installation_id])
'''
OPS = ["echo", "spin", "hog", "die", "leave", "shout", "snoop", "events", "spawn", "neighbours",
       "tamper", "garble"]


def _rogue_folder(tmp_path):
    folder = tmp_path / "rogue"
    (folder / "rogue_mod").mkdir(parents=True)
    ops = "".join(f'[[operations]]\nname = "{op}"\nunits = 1\ninput = {{ type = "object" }}\n'
                  f'output = {{ type = "object" }}\n\n' for op in OPS)
    (folder / "manifest.toml").write_text(textwrap.dedent('''\
        [module]
        name = "rogue-mod"
        version = "1.0.0"
        title = "恶意模块"
        summary = "Misbehaves on purpose."
        category = "public_service"
        entry = "rogue_mod"
        source_license = "MIT"

        ''') + ops + '[terms]\nkind = "free"\n', encoding="utf-8")
    (folder / "rogue_mod" / "__init__.py").write_text(ROGUE, encoding="utf-8")
    return folder


@pytest.fixture
def rogue(app, catalog, shenzhen, hangzhou):
    """rogue-mod installed for Shenzhen and Hangzhou; a 1 s time limit."""
    app.config["INVOKE_TIMEOUT"] = 1.0
    catalog.publish_folder(_rogue_folder(catalog.tmp))
    for city in (shenzhen, hangzhou):
        assert city.install("rogue-mod").status_code == 201
    return shenzhen


def _echo(city, text="ok"):
    reply = city.invoke("rogue-mod", "echo", {"text": text})
    assert reply.status_code == 200, reply.json
    return reply.json


def test_module_runs_in_another_process(rogue):
    assert _echo(rogue)["pid"] != os.getpid()


def test_endless_cpu_loop_is_504_and_its_sandbox_is_replaced(app, rogue):
    before = _echo(rogue)["pid"]
    started = time.monotonic()
    reply = rogue.invoke("rogue-mod", "spin", {})
    assert (reply.status_code, reply.json["error"]) == (504, "timeout")
    assert time.monotonic() - started < 3
    pids = {_echo(rogue)["pid"] for _ in range(8)}
    with app.app_context():
        live = {box.proc.pid for box in loader.sandbox_pool()._idle}
    assert pids <= live and len(live) == loader.sandbox_pool().size
    spinner = [p for p in pids | {before} if p not in live]
    for pid in spinner:                      # the killed sandbox is gone, not spinning on
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize(("op", "body"), [("hog", {"mb": 2048}), ("die", {}), ("leave", {})])
def test_memory_hog_or_exit_is_502_and_the_next_call_is_fine(rogue, op, body):
    reply = rogue.invoke("rogue-mod", op, body)
    assert (reply.status_code, reply.json["error"]) == (502, "module_error")
    assert _echo(rogue, "after")["text"] == "after"


def test_modest_allocation_is_allowed(rogue):
    reply = rogue.invoke("rogue-mod", "hog", {"mb": 100})
    assert reply.status_code == 200 and reply.json == {"size": 100 * 1024 * 1024}


def test_stdout_is_contained(rogue):
    for _ in range(3):
        reply = rogue.invoke("rogue-mod", "shout", {})
        assert reply.status_code == 200 and reply.json == {"text": "said"}
    assert _echo(rogue, "clean")["text"] == "clean"


def test_environment_is_scrubbed_and_platform_code_is_out_of_reach(rogue):
    found = rogue.invoke("rogue-mod", "snoop", {"files": []}).json
    assert set(found["env"]) <= {"PATH", "LANG", "PYTHONIOENCODING", "PYTHONPATH", "HOME", "PWD",
                                 "TMPDIR"}
    assert not [k for k in found["env"] if k.startswith(("MARKETPLACE_", "STRIPE_"))]
    assert "ModuleNotFoundError" in found["db_module"]
    assert found["memory"] == 512 << 20


def test_a_sandbox_runs_as_a_user_of_its_own_who_cannot_read_the_database_file(app, rogue):
    url = app.config["DATABASE_URL"]
    if not url.startswith("sqlite:///"):
        pytest.skip("PostgreSQL: the platform has no database file to read (the scrubbed "
                    "environment keeps its URL out of reach: see the test above)")
    if os.getuid() != 0:
        pytest.skip("not root: a sandbox then runs as the platform's own user, who owns the "
                    "database file; users of their own need root (CI runs as root)")
    path = url[len("sqlite:///"):]
    found = rogue.invoke("rogue-mod", "snoop", {"files": [path]}).json
    assert found["uid"] == confine.sandbox_uid(found["pid"]) != 0
    assert found[path] in ("PermissionError", "FileNotFoundError")   # (or hidden in the host's /tmp)


def test_module_can_start_no_process_or_thread(rogue):
    reply = rogue.invoke("rogue-mod", "spawn", {})
    assert reply.status_code == 200, reply.json
    assert reply.json == {"fork": "BlockingIOError", "program": "BlockingIOError",
                          "thread": "RuntimeError"}
    assert _echo(rogue, "after")["text"] == "after"


def test_a_module_writing_on_the_answer_pipe_gets_502_not_a_spinning_gateway(rogue):
    box = ThreadPoolExecutor(1)
    reply = box.submit(rogue.invoke, "rogue-mod", "garble", {"via": "proc"}).result(timeout=10)
    box.shutdown()
    assert (reply.status_code, reply.json["error"]) == (502, "module_error")
    message = reply.json["message"]     # which check catches the garble depends on its timing
    assert "ModuleCrashed" in message and ("answer protocol" in message
                                           or "not acceptable JSON" in message), message
    assert _echo(rogue, "after")["text"] == "after"       # its sandbox was replaced


def test_the_answer_pipe_is_not_among_the_descriptors_a_module_can_open(rogue):
    reply = rogue.invoke("rogue-mod", "garble", {"via": "scan"})
    assert reply.status_code == 200 and reply.json == {"text": "garbled", "found": 0}
    assert _echo(rogue, "after")["text"] == "after"


def test_a_module_never_shares_its_process_with_another_module(app, rogue, catalog, hangzhou):
    catalog.toy()
    assert hangzhou.install("toy-echo").status_code == 201
    with app.app_context():
        loader.sandbox_pool().close()            # start from sandboxes no earlier test used
        loader._sandboxes = None
        pool = loader.sandbox_pool()
    try:
        assert rogue.invoke("rogue-mod", "tamper", {}).json == {"patched": True}
        for n in range(6):                   # the warmest idle sandbox is the one just patched
            reply = hangzhou.invoke("toy-echo", "echo", {"text": f"t{n}"})
            assert reply.status_code == 200 and reply.json["text"] == f"t{n}", reply.json
        owners = [box.owner for box in pool._idle]
        assert len(owners) == pool.size and len(set(owners) - {None}) == 2
    finally:                                 # the patched sandbox must not serve later tests
        pool.close()
        loader._sandboxes = None


def test_sandboxes_cannot_reach_each_other(app, rogue, hangzhou):
    _echo(rogue)
    _echo(hangzhou)
    with app.app_context():
        pids = sorted(box.proc.pid for box in loader.sandbox_pool()._idle)
    assert len(pids) >= 2
    found = rogue.invoke("rogue-mod", "neighbours", {"pids": pids}).json
    others = found["others"]
    assert len(others) == len(pids) - 1
    for seen in others.values():             # not dumpable: no ptrace-style reads at all
        assert seen["environ"] == "PermissionError" and seen["mem"] == "PermissionError"


def test_sandboxes_run_as_users_of_their_own_and_cannot_signal_each_other(app, rogue, hangzhou):
    if os.getuid() != 0:
        pytest.skip("not root: sandboxes then share the platform's own user, so the kernel lets "
                    "them signal each other; users of their own need root (CI runs as root)")
    _echo(rogue)
    _echo(hangzhou)
    with app.app_context():
        pids = sorted(box.proc.pid for box in loader.sandbox_pool()._idle)
    assert len(pids) >= 2
    found = rogue.invoke("rogue-mod", "neighbours", {"pids": pids}).json
    assert found["uid"] == found["gid"] == confine.sandbox_uid(found["pid"])
    assert len(found["others"]) == len(pids) - 1
    assert {seen["signal"] for seen in found["others"].values()} == {"PermissionError"}


def test_other_tenants_are_served_while_one_spins(app, rogue, hangzhou):
    clients = [app.test_client() for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        spinning = [pool.submit(c.post, "/api/v1/invoke/rogue-mod/spin", json={},
                                headers=rogue.headers) for c in clients]
        served = [_echo(hangzhou, f"n{i}") for i in range(10)]
        codes = {f.result().status_code for f in spinning}
    assert codes == {504}
    assert [s["tenant"] for s in served] == ["330100"] * 10
    assert loader.busy(rogue_id(app, "440300")) == 0


def rogue_id(app, code: str) -> int:
    """The installation id of rogue-mod for ``code``."""
    import sqlalchemy as sa

    from marketplace import db
    from marketplace.runtime.models import Installation

    with app.app_context():
        return db.session().scalar(sa.select(Installation.id).where(
            Installation.jurisdiction_code == code, Installation.state == "active"))


def test_lifecycle_hooks_run_in_the_sandbox(app, catalog, shenzhen):
    app.config["SANDBOX_PROCESSES"] = 1         # one sandbox: its module state is observable
    catalog.publish_folder(_rogue_folder(catalog.tmp))
    item = shenzhen.install("rogue-mod").json
    events = shenzhen.invoke("rogue-mod", "events", {}).json["events"]
    assert ["installed", item["id"]] in events
    health = shenzhen.client.get(f"/api/v1/installations/{item['id']}/health",
                                 headers=shenzhen.headers)
    assert health.json["status"] == "ok"
