"""Operational monitoring (运行监测, DESIGN §16): calls, error rate, p50/p95 per day, rolled up
in the database (one row per installation and day, not per call), for adopters and publishers."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from marketplace import db
from marketplace.metering import writer
from marketplace.metering.service import call_event
from marketplace.ops.rollup import BOUNDS_MS, percentile

NOW = "2026-11-10T10:00:30+08:00"


def _events(app, installation_id: int, day: str, durations, statuses=None, source="gateway"):
    """Usage events of one installation at noon of ``day`` with the given durations."""
    moment = datetime.fromisoformat(f"{day}T12:00:00+08:00")
    statuses = statuses or ["ok"] * len(durations)
    rows = [call_event(installation_id=installation_id, event_id=uuid.uuid4().hex,
                       operation="echo", units=1, status=status, occurred_at=moment,
                       duration_ms=ms, source=source)
            for i, (ms, status) in enumerate(zip(durations, statuses))]
    with app.app_context():
        session = db.session()
        writer.insert_new(session, rows)
        session.commit()


def _rows(app) -> int:
    with app.app_context():
        return db.session().scalar(sa.text("SELECT count(*) FROM ops_daily_calls"))


def _setup(catalog, shenzhen, hangzhou, fixed_clock):
    fixed_clock(NOW)
    catalog.toy()
    ids = [who.install("toy-echo").get_json()["id"] for who in (shenzhen, hangzhou)]
    return ids


def test_rolled_up_per_installation_and_day_with_percentiles(app, client, catalog, shenzhen,
                                                             hangzhou, fixed_clock):
    sz, hz = _setup(catalog, shenzhen, hangzhou, fixed_clock)
    statuses = ["error"] * 10 + ["rejected"] * 5 + ["ok"] * 85
    _events(app, sz, "2026-11-09", list(range(1, 101)), statuses)
    _events(app, sz, "2026-11-09", [7000] * 5, source="reported")   # self-reported: not calls
    _events(app, hz, "2026-11-09", [3, 3, 3, 3000])
    answer = client.get("/api/v1/monitoring?from=2026-11-09&to=2026-11-10",
                        headers=shenzhen.headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert [(r["adopter"], r["day"]) for r in body["installations"]] == [("440300", "2026-11-09")]
    mine = body["installations"][0]
    assert (mine["calls"], mine["errors"], mine["rejected"]) == (100, 10, 5)
    assert mine["error_rate"] == 0.1 and mine["p50_ms"] == 50 and mine["p95_ms"] == 100
    assert mine["mean_ms"] == 50.5
    assert _rows(app) == 2                          # one row per installation and day
    publisher = client.get("/api/v1/monitoring?from=2026-11-09&to=2026-11-09",
                           headers=catalog.factory.headers("publisher", "440000")).get_json()
    assert sorted(r["adopter"] for r in publisher["installations"]) == ["330100", "440300"]
    (module,) = publisher["modules"]
    assert module["calls"] == 104 and module["errors"] == 10
    assert module["p50_ms"] == 50 and module["p95_ms"] == 100     # 103 of 104 within 100 ms
    other = client.get("/api/v1/monitoring?from=2026-11-09&to=2026-11-09",
                       headers=hangzhou.headers).get_json()
    assert [r["adopter"] for r in other["installations"]] == ["330100"]


def test_gateway_calls_write_no_rollup_rows_and_today_refreshes(app, client, catalog, shenzhen,
                                                                hangzhou, fixed_clock):
    _setup(catalog, shenzhen, hangzhou, fixed_clock)
    for _ in range(3):
        assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    assert shenzhen.invoke("toy-echo", "crash", {"text": "x"}).status_code == 502
    assert _rows(app) == 0                          # nothing written per call
    first = client.get("/api/v1/monitoring", headers=shenzhen.headers).get_json()
    (today,) = first["installations"]
    assert today["day"] == "2026-11-10" and today["calls"] == 4 and today["errors"] == 1
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    cached = client.get("/api/v1/monitoring", headers=shenzhen.headers).get_json()
    assert cached["installations"][0]["calls"] == 4          # within a minute: the rollup
    fixed_clock("2026-11-10T10:01:31+08:00")
    fresh = client.get("/api/v1/monitoring", headers=shenzhen.headers).get_json()
    assert fresh["installations"][0]["calls"] == 5


def test_a_past_day_is_rolled_once(app, client, catalog, shenzhen, hangzhou, fixed_clock):
    sz, _ = _setup(catalog, shenzhen, hangzhou, fixed_clock)
    _events(app, sz, "2026-11-08", [5, 5])
    url = "/api/v1/monitoring?from=2026-11-08&to=2026-11-08"
    assert client.get(url, headers=shenzhen.headers).get_json()["installations"][0]["calls"] == 2
    _events(app, sz, "2026-11-08", [5])            # late (only a recompute picks it up)
    fixed_clock("2026-11-10T11:00:30+08:00")
    assert client.get(url, headers=shenzhen.headers).get_json()["installations"][0]["calls"] == 2
    from tests.ops.test_backup import _runner
    assert _runner(app).invoke(["monitor", "rollup", "--from", "2026-11-08",
                                "--to", "2026-11-08"]).exit_code == 0
    assert client.get(url, headers=shenzhen.headers).get_json()["installations"][0]["calls"] == 3


def test_window_refusals(client, shenzhen, fixed_clock):
    fixed_clock(NOW)
    for query, reason in (("from=2026-11-10&to=2026-11-01", "invalid_window"),
                          ("from=2025-01-01&to=2026-11-10", "invalid_window"),
                          ("from=2026-13-01", "invalid_date")):
        answer = client.get(f"/api/v1/monitoring?{query}", headers=shenzhen.headers)
        assert answer.status_code == 400 and answer.get_json()["error"] == reason
    assert client.get("/api/v1/monitoring").status_code == 401


def test_percentile_from_cumulative_buckets():
    buckets = [0] * len(BOUNDS_MS)
    assert percentile(buckets, 0, 0.5) is None
    cumulative = [1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]     # one call ≤ 5 ms, one ≤ 100 ms
    assert percentile(cumulative, 2, 0.5) == 5 and percentile(cumulative, 2, 0.95) == 100
    assert percentile([0] * len(BOUNDS_MS), 1, 0.5) is None        # beyond the last bound


def test_monitoring_page_in_both_languages(app, client, catalog, shenzhen, hangzhou, fixed_clock):
    sz, _ = _setup(catalog, shenzhen, hangzhou, fixed_clock)
    _events(app, sz, "2026-11-10", [5, 40])
    from tests.web.conftest import login

    login(client, shenzhen.email)
    page = client.get("/monitoring")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "运行监测" in text and "≤ 50 ms" in text
    (row,) = client.get("/api/v1/monitoring", headers=shenzhen.headers).get_json()["installations"]
    assert row["title"] in text and row["adopter_name"] == "深圳市" and "深圳市" in text
    assert 'href="/monitoring"' in client.get("/adopter/").get_data(as_text=True)   # in the nav
    english = client.get("/monitoring?lang=en").get_data(as_text=True)
    assert "Operations monitoring" in english and "By installation" in english
