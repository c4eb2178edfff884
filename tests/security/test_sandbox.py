"""Module sandbox: hostile module code against a real gunicorn server with two workers.

How modules run (marketplace/runtime/sandbox.py): in a pool of long-lived sandbox
processes per web worker, with a bare environment, a 512 MiB address-space cap,
no new processes or threads and (as root) a uid of its own per sandbox; the gateway
waits for the answer up to ``INVOKE_TIMEOUT``. What that contains, and these tests pin:
* hanging or busy-looping code → 504 at the time limit; the sandbox is SIGKILLed and
  replaced, so even an endless loop stops costing CPU; one installation may use all
  sandboxes of a worker but one;
* raising, bad output, output that is not JSON → 502, recorded as ``error``, not billed;
* printing → goes nowhere (the protocol pipe is private), the answer is unaffected;
* memory exhaustion, ``os._exit`` → 502, the sandbox is replaced, the web worker lives;
* the module sees no platform secrets or database credentials and cannot read the
  platform's database;
and other tenants' calls are answered on time while all of this goes on.
"""
from __future__ import annotations

import os
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

pytestmark = pytest.mark.slow

HOSTILE = '''
"""A module that misbehaves on purpose."""
import os
import sys
import time

from marketplace.sdk import hookimpl


@hookimpl
def sleepy(payload, context):
    time.sleep(payload.get("seconds", 5))
    return {}


@hookimpl
def spin(payload, context):
    end = time.time() + payload.get("seconds", 3)
    while time.time() < end:
        pass
    return {}


@hookimpl
def crash(payload, context):
    raise ZeroDivisionError("boom")


@hookimpl
def not_json(payload, context):
    return {"when": object()}


@hookimpl
def wrong_shape(payload, context):
    return ["not", "an", "object"]


@hookimpl
def shout(payload, context):
    sys.stdout.write("x" * 1_000_000 + "\\n")
    sys.stdout.flush()
    print("and stderr", file=sys.stderr)
    return {"said": "done"}


@hookimpl
def hog(payload, context):
    block = bytearray(payload.get("mb", 200) * 1024 * 1024)
    return {"size": len(block)}


@hookimpl
def die(payload, context):
    os._exit(1)


@hookimpl
def snoop(payload, context):
    found = {"secret_key": os.environ.get("MARKETPLACE_SECRET_KEY"),
             "database_url": os.environ.get("MARKETPLACE_DATABASE_URL"),
             "stripe": os.environ.get("STRIPE_API_KEY"),
             "marketplace": sorted(k for k in os.environ if k.startswith("MARKETPLACE_"))}
    try:
        import sqlalchemy as sa
        engine = sa.create_engine(found["database_url"])
        with engine.connect() as conn:
            found["emails"] = [r[0] for r in conn.execute(sa.text("SELECT email FROM users"))]
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        found["error"] = repr(exc)
    if payload.get("file"):
        try:
            with open(payload["file"], "rb") as fh:
                found["file"] = fh.read(16).hex()
        except OSError as exc:
            found["file"] = type(exc).__name__
    return found
'''
OPS = ["sleepy", "spin", "crash", "not_json", "wrong_shape", "shout", "hog", "die", "snoop"]


def _hostile_folder(tmp_path):
    folder = tmp_path / "hostile"
    (folder / "hostile_mod").mkdir(parents=True)
    ops = "".join(f'[[operations]]\nname = "{op}"\nunits = 1\ninput = {{ type = "object" }}\n'
                  f'output = {{ type = "object" }}\n\n' for op in OPS)
    (folder / "manifest.toml").write_text(textwrap.dedent('''\
        [module]
        name = "hostile-mod"
        version = "1.0.0"
        title = "恶意模块"
        summary = "Misbehaves on purpose."
        category = "public_service"
        entry = "hostile_mod"
        source_license = "MIT"

        ''') + ops + '[terms]\nkind = "free"\n', encoding="utf-8")
    (folder / "hostile_mod" / "__init__.py").write_text(HOSTILE, encoding="utf-8")
    return folder


@pytest.fixture
def arena(world, tmp_path, live_server):
    """440300 installs the hostile module; 330100 installs the healthy toy; a 2-worker server."""
    from tests.runtime.conftest import Catalog

    catalog = Catalog.__new__(Catalog)
    catalog.app, catalog.factory, catalog.tmp = world.app, world.factory, tmp_path
    catalog.publish_folder(_hostile_folder(tmp_path))
    client = world.app.test_client()
    for who, module in (("adopter", "hostile-mod"), ("other_adopter", "toy-echo")):
        assert client.post("/api/v1/installations", headers=world.headers(who),
                           json={"module": module, "accept_terms": True}).status_code == 201
    server = live_server(2, MARKETPLACE_INVOKE_TIMEOUT="1")
    return world, server


def _call(server, world, who: str, path: str, body: dict, timeout: float = 30):
    started = time.perf_counter()
    answer = requests.post(server.url + path, json=body, headers=world.headers(who), timeout=timeout)
    return answer, time.perf_counter() - started


def _healthy_calls_during(server, world, seconds: float) -> list[tuple[int, float]]:
    """330100 calling its healthy module from two threads for ``seconds``."""
    results: list[tuple[int, float]] = []
    end = time.time() + seconds

    def caller():
        while time.time() < end:
            answer, took = _call(server, world, "other_adopter", "/api/v1/invoke/toy-echo/echo",
                                 {"text": "ping"})
            results.append((answer.status_code, took))
    threads = [threading.Thread(target=caller) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# A busy loop runs in its own sandbox process (killed at the limit); on this 2-core machine
# it still takes CPU from the workers until then, hence the looser bound for spin.
@pytest.mark.parametrize(("op", "body", "status", "bound"), [
    ("sleepy", {"seconds": 5}, 504, 2.0), ("spin", {"seconds": 600}, 504, 3.0),
    ("crash", {}, 502, 2.0), ("not_json", {}, 502, 2.0), ("wrong_shape", {}, 502, 2.0)])
def test_misbehaving_module_is_answered_for_while_other_tenants_are_served(arena, op, body, status,
                                                                           bound):
    world, server = arena
    bad: list = []
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(_call, server, world, "adopter", f"/api/v1/invoke/hostile-mod/{op}",
                               body) for _ in range(4)]
        healthy = _healthy_calls_during(server, world, 2.5)
        bad = [f.result() for f in futures]
    # a fourth call landing on a worker where this tenant already has threads-1 calls in
    # flight is refused by the fair share (429, not run): that is the point of it
    answered = [(a, took) for a, took in bad if a.status_code != 429]
    assert all(a.json()["error"] == "too_many_concurrent_calls" for a, _ in bad
               if a.status_code == 429)
    assert answered and {a.status_code for a, _ in answered} == {status}
    assert all(a.json()["error"] in ("timeout", "module_error") for a, _ in answered)
    assert all(took < 4 for _, took in bad)              # the limit is 1 s, never the module's 5 s
    assert healthy and {code for code, _ in healthy} == {200}
    assert max(took for _, took in healthy) < bound, sorted(t for _, t in healthy)[-5:]


def test_failed_calls_are_recorded_as_errors_and_not_billed(arena):
    world, server = arena
    for op in ("crash", "wrong_shape", "sleepy"):
        _call(server, world, "adopter", f"/api/v1/invoke/hostile-mod/{op}", {"seconds": 2})
    from marketplace import db
    from marketplace.metering.models import UsageEvent

    with world.app.app_context():
        rows = db.session().execute(
            sa.select(UsageEvent.operation, UsageEvent.status, UsageEvent.units)
            .where(UsageEvent.operation.in_(["crash", "wrong_shape", "sleepy"]))).all()
    assert sorted(rows) == [("crash", "error", 0), ("sleepy", "error", 0), ("wrong_shape", "error", 0)]


def test_printing_and_a_large_allocation_do_not_disturb_the_answer(arena):
    world, server = arena
    answer, _ = _call(server, world, "adopter", "/api/v1/invoke/hostile-mod/shout", {})
    assert answer.status_code == 200 and answer.json() == {"said": "done"}
    answer, _ = _call(server, world, "adopter", "/api/v1/invoke/hostile-mod/hog", {"mb": 200})
    assert answer.status_code == 200 and answer.json() == {"size": 200 * 1024 * 1024}
    before = set(server.worker_pids())
    answer, _ = _call(server, world, "adopter", "/api/v1/invoke/hostile-mod/hog", {"mb": 4096})
    assert (answer.status_code, answer.json()["error"]) == (502, "module_error")
    assert set(server.worker_pids()) == before          # the memory cap is the sandbox's
    answer, _ = _call(server, world, "adopter", "/api/v1/invoke/hostile-mod/shout", {})
    assert answer.status_code == 200 and answer.json() == {"said": "done"}
    healthy, _ = _call(server, world, "other_adopter", "/api/v1/invoke/toy-echo/echo", {"text": "ok"})
    assert healthy.status_code == 200


def test_a_module_that_exits_is_502_and_the_worker_lives_on(arena):
    world, server = arena
    before = set(server.worker_pids())
    for _ in range(3):
        answer, _ = _call(server, world, "adopter", "/api/v1/invoke/hostile-mod/die", {})
        assert (answer.status_code, answer.json()["error"]) == (502, "module_error")
    healthy = _healthy_calls_during(server, world, 2.0)
    assert healthy and {code for code, _ in healthy} == {200}
    assert set(server.worker_pids()) == before            # no gunicorn worker died
    answer, _ = _call(server, world, "adopter", "/api/v1/invoke/hostile-mod/shout", {})
    assert answer.status_code == 200


def test_module_cannot_read_platform_secrets_or_other_tenants_data(arena):
    world, server = arena
    answer, _ = _call(server, world, "adopter", "/api/v1/invoke/hostile-mod/snoop", {})
    found = answer.json()
    assert answer.status_code == 200 and "file" not in found, found
    assert found.get("secret_key") is None and found.get("database_url") is None
    assert found.get("stripe") is None and found["marketplace"] == []
    assert "emails" not in found and "error" in found      # it tried the database and failed


def test_module_cannot_read_the_platform_database_file(world, request):
    url = world.app.config["DATABASE_URL"]
    if not url.startswith("sqlite:///"):
        pytest.skip("PostgreSQL: the platform has no database file to read (its URL is kept "
                    "from modules: see the test above)")
    if os.getuid() != 0:
        pytest.skip("not root: a sandbox then runs as the platform's own user, who owns the "
                    "database file; users of their own need root (CI runs as root)")
    world, server = request.getfixturevalue("arena")
    answer, _ = _call(server, world, "adopter", "/api/v1/invoke/hostile-mod/snoop",
                      {"file": url[len("sqlite:///"):]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["file"] in ("PermissionError", "FileNotFoundError")  # or hidden in /tmp
