"""Gateway reservations (DESIGN §12): one Idempotency-Key runs once, the quota is never exceeded.

In-process proofs: threads against the app, and two apps on one database as two
workers would be. The served proofs (real gunicorn workers) are in
``test_served_concurrency.py``. The quota's minute comes from the platform clock,
so no test here waits for a minute to pass.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from marketplace import create_app, db
from marketplace.clock import now
from marketplace.runtime import loader
from marketplace.runtime.models import IdempotentReply, Installation, QuotaCounter
from tests.runtime.conftest import usage_rows

@pytest.fixture
def installed(catalog, shenzhen):
    """toy-echo 1.0.0 installed for Shenzhen; returns the installation id."""
    catalog.toy()
    return shenzhen.install("toy-echo").json["id"]


def _quota(app, installation_id: int, limit: int) -> None:
    with app.app_context():
        db.session().get(Installation, installation_id).quota_per_minute = limit
        db.session().commit()


def _counted(app, installation_id: int) -> int:
    with app.app_context():
        counter = db.session().get(QuotaCounter, installation_id)
        return counter.calls if counter else 0


def test_concurrent_requests_with_one_key_run_the_module_once_and_bill_once(app, installed,
                                                                            shenzhen):
    key = {"Idempotency-Key": "pay-2026-11-0001"}

    def call(_n: int):
        return app.test_client().post("/api/v1/invoke/toy-echo/hang", json={"seconds": 0.5},
                                      headers={**shenzhen.headers, **key})
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(call, range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert len({a.headers["X-Usage-Event"] for a in answers}) == 1
    assert sum("Idempotent-Replayed" in a.headers for a in answers) == 9
    assert [(e.status, e.units) for e in usage_rows(app, installed)] == [("ok", 1)]
    assert _counted(app, installed) == 1


def test_a_key_still_running_answers_409_in_progress_after_a_bounded_wait(app, installed,
                                                                          shenzhen, fixed_clock):
    app.config["INVOKE_TIMEOUT"] = 0.3                 # waits at most timeout + 1 s
    with app.app_context():                            # a call holding the key, still running
        db.session().add(IdempotentReply(
            jurisdiction_code="440300", key="k", request_hash="h", status=None, body="",
            headers={}, owner="other", created_at=now(), lease_until=now() + timedelta(seconds=30)))
        db.session().commit()
    key = {"Idempotency-Key": "k"}
    busy = shenzhen.invoke("toy-echo", "echo", {"text": "x"}, headers=key)
    assert (busy.status_code, busy.json["error"]) == (409, "idempotency_key_reused")
    with app.app_context():                            # the same request this time
        from marketplace.runtime import idempotency

        digest = idempotency.request_hash("toy-echo/echo", b'{"text": "x"}')
        db.session().execute(sa.update(IdempotentReply).values(request_hash=digest))
        db.session().commit()
    busy = shenzhen.invoke("toy-echo", "echo", {"text": "x"}, headers=key)
    assert (busy.status_code, busy.json["error"]) == (409, "idempotency_in_progress")
    assert busy.headers["Retry-After"] == "1"
    assert usage_rows(app, installed) == []            # nothing ran, nothing billed
    fixed_clock("2026-11-10T10:01:01+08:00")           # its process died: the lease ran out
    taken = shenzhen.invoke("toy-echo", "echo", {"text": "x"}, headers=key)
    assert taken.status_code == 200 and "Idempotent-Replayed" not in taken.headers
    again = shenzhen.invoke("toy-echo", "echo", {"text": "x"}, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Usage-Event"] == taken.headers["X-Usage-Event"]
    assert len(usage_rows(app, installed)) == 1


def test_an_answer_worth_retrying_frees_its_key(app, installed, shenzhen, fixed_clock):
    _quota(app, installed, 1)
    key = {"Idempotency-Key": "retry-me"}
    assert shenzhen.invoke("toy-echo", "echo", {"text": "a"}).status_code == 200
    refused = shenzhen.invoke("toy-echo", "echo", {"text": "x"}, headers=key)
    assert refused.status_code == 429
    fixed_clock("2026-11-10T10:01:00+08:00")
    later = shenzhen.invoke("toy-echo", "echo", {"text": "x"}, headers=key)
    assert later.status_code == 200 and "Idempotent-Replayed" not in later.headers


def test_parallel_calls_on_two_workers_never_exceed_the_quota(app, installed, shenzhen,
                                                              fixed_clock):
    _quota(app, installed, 10)
    other = create_app(dict(app.config))               # a second worker process's app
    try:
        apps = [app, other]

        def call(n: int) -> int:
            return apps[n % 2].test_client().post(
                "/api/v1/invoke/toy-echo/echo", json={"text": str(n)},
                headers=shenzhen.headers).status_code
        with ThreadPoolExecutor(8) as pool:     # within each app's connection pool
            codes = list(pool.map(call, range(40)))
    finally:
        other.extensions["db"].engine.dispose()
    assert codes.count(200) == 10 and codes.count(429) == 30
    statuses = [e.status for e in usage_rows(app, installed)]
    assert statuses.count("ok") == 10 and statuses.count("rejected") == 30
    assert _counted(app, installed) == 10


def test_the_quota_minute_comes_from_the_platform_clock(app, installed, shenzhen, fixed_clock,
                                                      monkeypatch):
    app.config["QUOTA_PER_MINUTE"] = 2
    codes = [shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    last = shenzhen.invoke("toy-echo", "echo", {"text": "x"})
    assert last.json["error"] == "quota_exceeded" and last.headers["Retry-After"] == "30"
    fixed_clock("2026-11-10T10:01:00+08:00")
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    assert _counted(app, installed) == 1

    def busy(*_args, **_kwargs):                 # refused before the module ran: given back
        raise loader.ModuleBusy("3 earlier calls are still running")
    monkeypatch.setattr(loader, "call_with_limit", busy)
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 504
    assert _counted(app, installed) == 1


def test_module_output_that_is_not_json_is_502_recorded_as_error_and_not_billed(
        app, catalog, shenzhen):
    from marketplace import jsonio

    folder = catalog.toy_folder("toy-nan")
    code = folder / "toy_toy_nan" / "__init__.py"
    code.write_text(code.read_text("utf-8").replace(        # echo adds a value JSON has no form for
        'return {"text": payload["text"], "version"',
        'return {"text": payload["text"], "odd": {"nan": float("nan"), "inf": float("inf")}'
        '.get(payload["text"], "\\ud800"), "version"'), "utf-8")
    catalog.publish_folder(folder)
    installed = shenzhen.install("toy-nan").json["id"]
    for text in ("nan", "inf", "s"):
        reply = shenzhen.invoke("toy-nan", "echo", {"text": text})
        assert (reply.status_code, reply.json["error"]) == (502, "module_error"), text
        jsonio.loads(reply.data)                       # the answer itself is valid JSON
        assert reply.headers["X-Usage-Units"] == "0"
    assert [(e.status, e.units) for e in usage_rows(app, installed)] == [("error", 0)] * 3


@pytest.mark.parametrize("raw, where", [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64"),
    (b'{"text": "\\ud800"}', "lone UTF-16 surrogate"),
    (b'{"text": NaN}', "NaN"),
])
def test_a_body_that_is_not_acceptable_json_is_400_and_never_metered(app, installed, shenzhen,
                                                                     raw, where):
    reply = shenzhen.client.post("/api/v1/invoke/toy-echo/echo", data=raw,
                                 headers={**shenzhen.headers, "Content-Type": "application/json"})
    assert (reply.status_code, reply.json["error"]) == (400, "invalid_json")
    assert reply.json["details"][0]["where"] == "body" and where in reply.json["message"]
    assert usage_rows(app, installed) == []


def test_health_checks_are_metered_and_count_against_the_quota(app, installed, shenzhen,
                                                               fixed_clock):
    _quota(app, installed, 2)
    health = f"/api/v1/installations/{installed}/health"
    first = shenzhen.client.get(health, headers=shenzhen.headers)
    assert first.status_code == 200 and first.json["status"] == "ok"
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    refused = shenzhen.client.get(health, headers=shenzhen.headers)
    assert (refused.status_code, refused.json["error"]) == (429, "quota_exceeded")
    assert refused.headers["Retry-After"] == "30"
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 429
    events = [(e.operation, e.status, e.units) for e in usage_rows(app, installed)]
    assert events == [("module_health", "ok", 0), ("echo", "ok", 2),
                      ("module_health", "rejected", 0), ("echo", "rejected", 0)]


@pytest.mark.parametrize("path, raw, where", [
    (path, raw, where) for path in ("/api/v1/usage", "/api/v1/installations")
    for raw, where in [(b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64"),
                       (b'{"events": [], "module": NaN}', "NaN")]
] + [("/api/v1/installations", b'{"module": "\\ud800"}', "lone UTF-16 surrogate")])
def test_every_json_write_route_refuses_such_bodies_with_a_located_400(app, installed, shenzhen,
                                                                      factory, path, raw, where):
    """(A usage event holding a lone surrogate is refused alone, the batch kept: test_bounds.)"""
    headers = {**shenzhen.headers, "Content-Type": "application/json"}
    if path == "/api/v1/usage":
        headers["Authorization"] = "Bearer " + factory.token(shenzhen.email, "usage")
    reply = shenzhen.client.post(path, data=raw, headers=headers)
    assert (reply.status_code, reply.json["error"]) == (400, "invalid_json"), reply.json
    assert where in reply.json["message"]
    assert usage_rows(app) == []
    assert len(shenzhen.client.get("/api/v1/installations", headers=shenzhen.headers).json[
        "items"]) == 1
