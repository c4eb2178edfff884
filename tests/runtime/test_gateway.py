"""The metered gateway: every status of DESIGN §5, one usage event per call, idempotent replay."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from marketplace import create_app
from marketplace.runtime import loader
from tests.runtime.conftest import usage_rows


@pytest.fixture
def installed(catalog, shenzhen):
    """toy-echo 1.0.0 installed for Shenzhen; returns the installation id."""
    catalog.toy()
    return shenzhen.install("toy-echo").json["id"]


def test_ok_call_returns_output_and_usage_headers(app, installed, shenzhen):
    reply = shenzhen.invoke("toy-echo", "echo", {"text": "你好"})
    assert reply.status_code == 200
    assert reply.json == {"text": "你好", "version": "1.0.0", "tenant": "440300",
                          "installation": installed}
    assert reply.headers["X-Usage-Units"] == "2"
    [event] = usage_rows(app, installed)
    assert (event.event_id, event.status, event.units, event.operation) == \
        (reply.headers["X-Usage-Event"], "ok", 2, "echo")
    assert len(event.event_id) == 32


def test_missing_or_bad_token_is_401_and_missing_scope_403(client, factory, installed):
    assert client.post("/api/v1/invoke/toy-echo/echo", json={"text": "x"}).status_code == 401
    bad = client.post("/api/v1/invoke/toy-echo/echo", json={"text": "x"},
                      headers={"Authorization": "Bearer gm_nope"})
    assert (bad.status_code, bad.json["error"]) == (401, "invalid_token")
    no_scope = client.post("/api/v1/invoke/toy-echo/echo", json={"text": "x"},
                           headers=factory.headers("adopter", "440300", "read install"))
    assert (no_scope.status_code, no_scope.json["error"]) == (403, "missing_scope")


def test_not_installed_or_unknown_operation_is_404(app, installed, shenzhen, catalog):
    catalog.toy("never-installed")
    for module, op, reason in [("never-installed", "echo", "not_installed"),
                               ("no-such-module", "echo", "not_installed"),
                               ("toy-echo", "no_such_op", "unknown_operation")]:
        reply = shenzhen.invoke(module, op, {"text": "x"})
        assert (reply.status_code, reply.json["error"]) == (404, reason)
    assert usage_rows(app) == []


def test_invalid_input_is_422_with_details_and_not_billed(app, installed, shenzhen):
    reply = shenzhen.invoke("toy-echo", "echo", {"text": "", "extra": 1})
    assert (reply.status_code, reply.json["error"]) == (422, "invalid_input")
    assert {d["where"] for d in reply.json["details"]} == {"(root)", "text"}
    not_json = shenzhen.client.post("/api/v1/invoke/toy-echo/echo", data=b"{nope",
                                    headers={**shenzhen.headers,
                                             "Content-Type": "application/json"})
    assert (not_json.status_code, not_json.json["error"]) == (400, "invalid_json")
    assert [(e.status, e.units) for e in usage_rows(app, installed)] == [("rejected", 0)]


def test_module_error_is_502_with_its_reason_recorded_as_error_and_not_billed(app, installed,
                                                                              shenzhen):
    """DESIGN §5: the module raised → 502, event ``error``, not billed."""
    reply = shenzhen.invoke("toy-echo", "refuse", {})
    assert reply.status_code == 502
    assert reply.json == {"error": "module_error", "reason": "not_eligible",
                          "message": "the applicant is not eligible"}
    assert [(e.status, e.units) for e in usage_rows(app, installed)] == [("error", 0)]


def test_a_module_errors_502_is_replayed_under_its_key_without_calling_again(app, installed,
                                                                             shenzhen):
    key = {"Idempotency-Key": "refuse-0001"}
    first = shenzhen.invoke("toy-echo", "refuse", {}, headers=key)
    again = shenzhen.invoke("toy-echo", "refuse", {}, headers=key)
    assert (first.status_code, again.status_code) == (502, 502)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Usage-Event"] == first.headers["X-Usage-Event"]
    assert [(e.status, e.units) for e in usage_rows(app, installed)] == [("error", 0)]


def test_module_that_raises_or_breaks_its_schema_is_502_recorded_as_error(app, installed,
                                                                           shenzhen):
    crash = shenzhen.invoke("toy-echo", "crash", {})
    assert (crash.status_code, crash.json["error"]) == (502, "module_error")
    assert "boom" in crash.json["message"]
    bad = shenzhen.invoke("toy-echo", "bad_output", {})
    assert (bad.status_code, bad.json["error"]) == (502, "module_error")
    assert bad.json["details"][0]["where"] == "text"
    assert [(e.status, e.units) for e in usage_rows(app, installed)] == [("error", 0)] * 2
    assert shenzhen.invoke("toy-echo", "echo", {"text": "still up"}).status_code == 200


def test_hung_module_is_504_and_other_tenants_keep_being_served(app, catalog, installed,
                                                                 shenzhen, hangzhou):
    app.config["INVOKE_TIMEOUT"] = 1.0      # room for a cold sandbox on a busy machine
    assert hangzhou.install("toy-echo").status_code == 201
    started = time.monotonic()
    reply = shenzhen.invoke("toy-echo", "hang", {"seconds": 5})
    assert time.monotonic() - started < 3
    assert (reply.status_code, reply.json["error"]) == (504, "timeout")
    assert [(e.status, e.units) for e in usage_rows(app, installed)] == [("error", 0)]
    # Shenzhen keeps hanging calls; Hangzhou is served all along.
    clients = [app.test_client() for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        hung = [pool.submit(c.post, "/api/v1/invoke/toy-echo/hang", json={"seconds": 5},
                            headers=shenzhen.headers) for c in clients]
        served = hangzhou.invoke("toy-echo", "echo", {"text": "ok"})
        assert served.status_code == 200 and served.json["tenant"] == "330100"
        assert {f.result().status_code for f in hung} <= {504, 429}   # 429: fair share
    assert loader.busy(installed) <= loader.MAX_BUSY_PER_INSTALLATION
    deadline = time.monotonic() + 5
    while loader.busy(installed) and time.monotonic() < deadline:
        time.sleep(0.05)                 # let the sleeping threads end before the next test
    assert loader.busy(installed) == 0


def test_quota_per_minute_answers_429_and_override_per_installation(app, installed, shenzhen,
                                                                     fixed_clock):
    app.config["QUOTA_PER_MINUTE"] = 3
    codes = [shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    last = shenzhen.invoke("toy-echo", "echo", {"text": "x"})
    assert last.json["error"] == "quota_exceeded" and int(last.headers["Retry-After"]) <= 60
    assert usage_rows(app, installed)[-1].status == "rejected"
    with app.app_context():
        from marketplace import db
        from marketplace.runtime.models import Installation

        db.session().get(Installation, installed).quota_per_minute = 100
        db.session().commit()
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200


def test_quota_is_shared_by_worker_processes(app, installed, shenzhen, fixed_clock):
    """Two apps (as two gunicorn workers would) on one database count one quota."""
    app.config["QUOTA_PER_MINUTE"] = 4
    other = create_app({**app.config, "QUOTA_PER_MINUTE": 4})
    try:
        second = other.test_client()
        codes = [(shenzhen.client if n % 2 else second).post(
            "/api/v1/invoke/toy-echo/echo", json={"text": "x"},
            headers=shenzhen.headers).status_code for n in range(5)]
        assert codes == [200, 200, 200, 200, 429]
    finally:
        other.extensions["db"].engine.dispose()


def test_idempotency_key_replays_first_answer_without_calling_or_billing(app, installed,
                                                                          shenzhen):
    key = {"Idempotency-Key": "order-2026-10-05-0001"}
    first = shenzhen.invoke("toy-echo", "echo", {"text": "once"}, headers=key)
    again = shenzhen.invoke("toy-echo", "echo", {"text": "once"}, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json == first.json
    assert again.headers["X-Usage-Event"] == first.headers["X-Usage-Event"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(usage_rows(app, installed)) == 1
    reused = shenzhen.invoke("toy-echo", "echo", {"text": "different"}, headers=key)
    assert (reused.status_code, reused.json["error"]) == (409, "idempotency_key_reused")
    assert len(usage_rows(app, installed)) == 1


def test_idempotency_keys_are_per_jurisdiction_and_expire_after_24h(app, installed, shenzhen,
                                                                     hangzhou):
    from datetime import timedelta

    assert hangzhou.install("toy-echo").status_code == 201
    key = {"Idempotency-Key": "k1"}
    mine = shenzhen.invoke("toy-echo", "echo", {"text": "a"}, headers=key)
    theirs = hangzhou.invoke("toy-echo", "echo", {"text": "a"}, headers=key)
    assert theirs.json["tenant"] == "330100" and mine.json["tenant"] == "440300"
    with app.app_context():
        import sqlalchemy as sa

        from marketplace import db
        from marketplace.clock import now
        from marketplace.runtime.models import IdempotentReply

        db.session().execute(sa.update(IdempotentReply).values(
            created_at=now() - timedelta(hours=25)))
        db.session().commit()
    later = shenzhen.invoke("toy-echo", "echo", {"text": "a"}, headers=key)
    assert later.headers["X-Usage-Event"] != mine.headers["X-Usage-Event"]
    assert "Idempotent-Replayed" not in later.headers


def test_two_cities_on_two_versions_side_by_side(app, catalog, shenzhen, hangzhou):
    catalog.toy(version="1.2.0")
    catalog.toy(version="2.0.0")
    assert shenzhen.install("toy-echo", "1.2.0").status_code == 201
    assert hangzhou.install("toy-echo", "2.0.0").status_code == 201
    for _ in range(2):
        assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).json["version"] == "1.2.0"
        assert hangzhou.invoke("toy-echo", "echo", {"text": "x"}).json["version"] == "2.0.0"


def test_a_city_can_never_invoke_another_citys_installation(app, installed, hangzhou):
    reply = hangzhou.invoke("toy-echo", "echo", {"text": "x"})
    assert (reply.status_code, reply.json["error"]) == (404, "not_installed")
    assert usage_rows(app, installed) == []


def test_upgrade_made_by_another_worker_is_seen_on_next_call(app, catalog, installed, shenzhen):
    catalog.toy(version="1.1.0")
    other = create_app(dict(app.config))
    try:
        worker_b = other.test_client()
        call = dict(json={"text": "x"}, headers=shenzhen.headers)
        assert worker_b.post("/api/v1/invoke/toy-echo/echo", **call).json["version"] == "1.0.0"
        patched = shenzhen.client.patch(f"/api/v1/installations/{installed}",
                                        json={"version": "1.1.0"}, headers=shenzhen.headers)
        assert patched.status_code == 200
        assert worker_b.post("/api/v1/invoke/toy-echo/echo", **call).json["version"] == "1.1.0"
    finally:
        other.extensions["db"].engine.dispose()


def test_tampered_bundle_is_refused_by_hash_check(app, catalog, shenzhen):
    version_id = catalog.toy("toy-tamper")
    with app.app_context():
        from marketplace import db
        from marketplace.catalog.models import ModuleVersion
        from marketplace.catalog.store import store_for

        path = store_for(app.config).path(db.session().get(ModuleVersion, version_id).sha256)
    path.write_bytes(path.read_bytes() + b"tampered")
    assert shenzhen.install("toy-tamper").status_code == 201
    reply = shenzhen.invoke("toy-tamper", "echo", {"text": "x"})
    assert (reply.status_code, reply.json["error"]) == (502, "module_error")
    assert "sha256" in reply.json["message"]


def test_an_invalid_input_is_not_echoed_back_whole_in_the_details(app, installed, shenzhen):
    big = ["界" * 200_000]                              # 600 kB of the caller's own text
    reply = shenzhen.invoke("toy-echo", "echo", {"text": big})
    assert (reply.status_code, reply.json["error"]) == (422, "invalid_input")
    [detail] = reply.json["details"]
    assert detail["where"] == "text" and "is not of type 'string'" in detail["message"]
    assert len(detail["message"]) <= 300 and len(reply.data) < 2_000
