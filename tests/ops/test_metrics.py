"""/metrics (DESIGN §16): Prometheus text for admins or allowed addresses; JSON request logs."""
from __future__ import annotations

import json
import logging
import re

import pytest

from marketplace.ops import metrics

GATEWAY = re.compile(r'marketplace_gateway_calls_total\{code="(\d+)",module="toy-echo",'
                     r'operation="(\w+)",status="(\w+)"\} ([0-9.e+]+)')


def _gateway_counts(text: str) -> dict:
    return {(c, o, s): float(v) for c, o, s, v in GATEWAY.findall(text)}


@pytest.fixture
def admin_headers(factory):
    return factory.headers("admin", "110000", "read admin")


def test_metrics_need_admin_token_or_allowed_address(app, client, factory, admin_headers):
    app.config["METRICS_ALLOW"] = ""
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.get_json()["error"] == "unauthorized"
    adopter = client.get("/metrics", headers=factory.headers("adopter", "440300"))
    assert adopter.status_code == 403 and adopter.get_json()["error"] == "admin_only"
    assert client.get("/metrics", headers=admin_headers).status_code == 200
    app.config["METRICS_ALLOW"] = "10.0.0.0/8, 127.0.0.1"
    allowed = client.get("/metrics")
    assert allowed.status_code == 200 and allowed.mimetype == "text/plain"
    far = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert far.status_code == 401


def test_every_metric_family_is_exposed(client, admin_headers):
    text = client.get("/metrics", headers=admin_headers).get_data(as_text=True)
    assert metrics.METRICS, "no metric families declared"
    for name, spec in metrics.METRICS.items():
        assert re.search(rf"# TYPE marketplace_{name}(_total)? {spec[0]}\n", text), name


def test_gateway_calls_counted_by_module_operation_status(app, client, catalog, shenzhen,
                                                          admin_headers):
    catalog.toy()
    assert shenzhen.install("toy-echo").status_code == 201
    before = _gateway_counts(client.get("/metrics", headers=admin_headers).get_data(as_text=True))
    assert shenzhen.invoke("toy-echo", "echo", {"text": "hi"}).status_code == 200
    assert shenzhen.invoke("toy-echo", "echo", {"text": "hi"}).status_code == 200
    assert shenzhen.invoke("toy-echo", "echo", {"wrong": 1}).status_code == 422
    assert shenzhen.invoke("toy-echo", "crash", {"text": "x"}).status_code == 502
    text = client.get("/metrics", headers=admin_headers).get_data(as_text=True)
    after = _gateway_counts(text)

    def grew(key):
        return after.get(key, 0) - before.get(key, 0)
    assert grew(("200", "echo", "ok")) == 2
    assert grew(("422", "echo", "rejected")) == 1
    assert grew(("502", "crash", "error")) == 1
    assert 'marketplace_gateway_call_seconds_bucket{le="+Inf",module="toy-echo"}' in text
    assert re.search(r'marketplace_http_requests_total\{method="POST",'
                     r'route="/api/v1/invoke/<module>/<operation>",status="200"\}', text)


def test_ingest_outcomes_counted(app, client, catalog, shenzhen, admin_headers, fixed_clock):
    catalog.toy()
    shenzhen.install("toy-echo")
    events = [{"id": f"e{i}", "module": "toy-echo", "operation": "echo", "units": 1,
               "occurred_at": "2026-11-10T10:01:00+08:00"} for i in range(3)]
    events.append({"id": "bad", "module": "toy-echo", "operation": "nope", "units": 1,
                   "occurred_at": "2026-11-10T10:01:00+08:00"})
    from tests.conftest import Factory

    def count(text, outcome):
        found = re.search(rf'marketplace_ingest_events_total\{{outcome="{outcome}"\}} ([0-9.]+)',
                          text)
        return float(found.group(1)) if found else 0.0
    before = client.get("/metrics", headers=admin_headers).get_data(as_text=True)
    token = Factory(app).token(shenzhen.email, "usage")
    headers = {"Authorization": f"Bearer {token}"}
    first = client.post("/api/v1/usage", json={"events": events}, headers=headers)
    assert first.get_json()["accepted"] == 3, first.get_json()
    assert client.post("/api/v1/usage", json={"events": events[:1]},
                       headers=headers).status_code == 200
    after = client.get("/metrics", headers=admin_headers).get_data(as_text=True)
    assert count(after, "accepted") - count(before, "accepted") == 3
    assert count(after, "duplicate") - count(before, "duplicate") == 1
    assert count(after, "rejected") - count(before, "rejected") == 1


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture
def request_lines():
    handler = _Lines()
    logger = logging.getLogger("marketplace.requests")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_one_json_line_per_request_with_request_id(client, factory, request_lines):
    headers = factory.headers("adopter", "440300")
    answer = client.get("/api/v1/installations", headers={**headers, "X-Request-Id": "req-42.a"})
    assert answer.headers["X-Request-Id"] == "req-42.a"
    line = request_lines[-1]
    assert line["request_id"] == "req-42.a" and line["status"] == 200
    assert line["route"] == "/api/v1/installations" and line["method"] == "GET"
    assert line["jurisdiction"] == "440300" and line["duration_ms"] >= 0
    missing = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", missing.headers["X-Request-Id"])
    assert request_lines[-1]["request_id"] == missing.headers["X-Request-Id"]
    assert request_lines[-1]["jurisdiction"] is None


def test_the_line_gives_duration_in_seconds_beside_duration_ms(client, request_lines):
    client.get("/healthz", headers={"X-Request-Id": "d-1"})
    line = request_lines[-1]
    assert isinstance(line["duration"], float) and line["duration"] >= 0
    assert abs(line["duration"] * 1000 - line["duration_ms"]) < 0.01


def test_the_line_reaches_the_stderr_of_the_moment_and_the_root_logger(client, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="marketplace.requests"):
        client.get("/healthz", headers={"X-Request-Id": "late-stderr-1"})
    written = [json.loads(text) for text in capsys.readouterr().err.splitlines()
               if "late-stderr-1" in text]
    assert [(w["request_id"], w["route"], w["status"]) for w in written] == \
        [("late-stderr-1", "/healthz", 200)]
    logged = [json.loads(r.getMessage()) for r in caplog.records
              if r.name == "marketplace.requests"]
    assert [line["request_id"] for line in logged] == ["late-stderr-1"]


@pytest.mark.parametrize("given", ["x" * 129, "a b", "{\"json\":1}", "-leading-dash", "ünï"])
def test_malformed_request_ids_replaced(client, request_lines, given):
    answer = client.get("/healthz", headers={"X-Request-Id": given})
    rid = answer.headers["X-Request-Id"]
    assert rid != given and re.fullmatch(r"[0-9a-f]{32}", rid)
    assert request_lines[-1]["request_id"] == rid


def test_errors_are_logged_too(client, request_lines):
    answer = client.get("/api/v1/no-such-route", headers={"X-Request-Id": "r1"})
    assert answer.status_code == 404 and answer.headers["X-Request-Id"] == "r1"
    assert request_lines[-1]["status"] == 404 and request_lines[-1]["route"] == "(unmatched)"


def test_a_call_whose_event_was_not_committed_is_not_counted(app, client, catalog, shenzhen,
                                                             admin_headers, monkeypatch):
    from marketplace.runtime import commits

    catalog.toy()
    shenzhen.install("toy-echo")
    assert shenzhen.invoke("toy-echo", "echo", {"text": "warm"}).status_code == 200
    before = _gateway_counts(client.get("/metrics", headers=admin_headers).get_data(as_text=True))

    def lost(self, connection, item):
        raise RuntimeError("disk full")
    monkeypatch.setattr(commits.GroupCommit, "write", lost)
    failed = shenzhen.invoke("toy-echo", "echo", {"text": "x"})
    assert failed.status_code == 500
    monkeypatch.undo()
    after = _gateway_counts(client.get("/metrics", headers=admin_headers).get_data(as_text=True))
    assert after == before


def test_settlement_durations_observed(client, admin_headers, fixed_clock):
    def runs(text):
        found = re.search(r'marketplace_settlement_seconds_count\{outcome="ok"\} ([0-9.]+)', text)
        return float(found.group(1)) if found else 0.0
    fixed_clock("2026-11-10T10:00:30+08:00")
    before = runs(client.get("/metrics", headers=admin_headers).get_data(as_text=True))
    answer = client.post("/api/v1/settlements", json={"period": "2026-10"}, headers=admin_headers)
    assert answer.status_code == 200, answer.get_json()
    after = runs(client.get("/metrics", headers=admin_headers).get_data(as_text=True))
    assert after - before == 1
