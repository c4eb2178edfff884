"""Strict parsing and bounds of every non-bundle input (DESIGN §12), one test per fault class.

Each attack here got through on commit 13667c2: a period with a trailing newline settled a
closed month again, units of 2**62 broke usage pages and settlement for everyone, far-away
instants and huge payment amounts answered 500.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.clock import clock, now
from marketplace.metering.models import UsageDigest, UsageEvent
from marketplace.settlement.models import Charge, JournalEntry, Period, Statement
from tests.security.conftest import CSRF_RE
from tests.web.conftest import page_text

# every spelling of a period that is not the canonical "YYYY-MM" of 2000–2999
NOT_PERIODS = ["2026-10\n", "2026-10 ", " 2026-10", "2026-10\r\n", "２０２６-10", "٢٠٢٦-10",
               "2026-1", "2026-010", "1999-12", "3000-01", "2026/10", "2026-10-01", "", "2026-00"]


def books(app) -> tuple:
    """Row counts and money sums of everything settlement writes."""
    with app.app_context():
        session = db.session()
        count = lambda model: session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
        return (count(Period), count(Charge), count(Statement), count(JournalEntry),
                session.scalar(sa.select(sa.func.coalesce(sa.func.sum(JournalEntry.debit_minor), 0))))


@pytest.fixture
def settled(world):
    """The world's last period settled (the toy module's call was in it or not: either way closed)."""
    client = world.app.test_client()
    answer = client.post("/api/v1/settlements", json={"period": world.period},
                         headers=world.headers("admin"))
    assert answer.status_code == 200, answer.get_json()
    return world


@pytest.mark.parametrize("spelling", ["{p}\n", "{p} ", "{p}\r\n", "\n{p}"])
def test_a_settled_period_cannot_be_settled_again_by_another_spelling(settled, spelling):
    world = settled
    before = books(world.app)
    answer = world.app.test_client().post("/api/v1/settlements", headers=world.headers("admin"),
                                          json={"period": spelling.format(p=world.period)})
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_period"
    assert books(world.app) == before


@pytest.mark.parametrize("text", NOT_PERIODS)
def test_only_the_canonical_period_is_a_period(world, text):
    client = world.app.test_client()
    admin = world.headers("admin")
    before = books(world.app)
    answer = client.post("/api/v1/settlements", json={"period": text}, headers=admin)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_period", text
    assert books(world.app) == before


@pytest.mark.parametrize("path", ["/api/v1/statements/{p}%0A", "/api/v1/statements/{p}%20",
                                  "/api/v1/settlements/{p}%0A",
                                  "/api/v1/statements/%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-10"])
def test_statements_of_a_misspelt_period_are_refused(settled, path):
    answer = settled.app.test_client().get(path.format(p=settled.period),
                                           headers=settled.headers("admin"))
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_period"


def test_the_settle_button_refuses_a_misspelt_period(settled):
    world = settled
    client = world.logged_in("admin")
    token = CSRF_RE.search(client.get("/admin/periods").get_data(as_text=True)).group(1)
    before = books(world.app)
    client.post("/admin/periods/settle", data={"csrf_token": token, "period": world.period + "\n"})
    assert books(world.app) == before


def test_the_cli_refuses_a_misspelt_period(settled, runner):
    before = books(settled.app)
    result = runner.invoke(["settle", settled.period + "\n"])
    assert result.exit_code == 1 and "error:" in result.output
    assert books(settled.app) == before


@pytest.mark.parametrize("text", ["2026-10\n", "2026-1\n", "1999-12", "2026-13", "2026--1", "29-9-01"])
def test_the_database_keeps_only_canonical_periods(app, text):
    with app.app_context():
        session = db.session()
        with pytest.raises((sa.exc.IntegrityError, sa.exc.DataError)):  # PostgreSQL: varchar(7)
            session.execute(sa.insert(Period).values(period=text, state="open", closed_by="",
                                                     totals={}))
            session.flush()
        session.rollback()
        session.execute(sa.insert(Period).values(period="2026-10", state="open", closed_by="",
                                                 totals={}))
        session.commit()


# -- reported usage: per-event bounds, the batch survives -----------------------------------

def _event(world, event_id: str, **fields) -> dict:
    return {"id": event_id, "module": "toy-echo", "operation": "echo", "units": 1,
            "occurred_at": now().isoformat(), **fields}


@pytest.mark.parametrize("fields, reason", [
    ({"units": 2**62}, "invalid_units"), ({"units": 2**63}, "invalid_units"),
    ({"units": 10**9 + 1}, "invalid_units"), ({"units": True}, "invalid_units"),
    ({"units": 1e3}, "invalid_units"), ({"units": "5"}, "invalid_units"),
    ({"duration_ms": 2**63}, "invalid"), ({"duration_ms": 2**31}, "invalid"),
    ({"duration_ms": False}, "invalid"),
    ({"occurred_at": "9999-12-31T23:59:59-01:00"}, "invalid"),
    ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "invalid"),
    ({"occurred_at": "2010-01-01T00:00:00+08:00"}, "invalid"),     # more than 10 years ago
    ({"occurred_at": "2026-10-05T08:00:00+08:00\n"}, "invalid"),
    ({"occurred_at": "2026-W40-1T08:00:00+08:00"}, "invalid"),
    ({"occurred_at": "3026-10-05T08:00:00+08:00"}, "in_future"),
    ({"id": "\ud800"}, "invalid"), ({"id": "a\udfffb"}, "invalid"), ({"id": "x" * 101}, "invalid"),
    ({"module": "\ud800"}, "invalid"), ({"operation": "o" * 5000}, "invalid"),
])
def test_an_event_out_of_bounds_is_refused_alone(world, fields, reason):
    import json

    client = world.app.test_client()
    batch = [_event(world, f"good-{i}") for i in range(999)]
    batch.insert(500, _event(world, "bad", **fields))
    # a lone surrogate travels as a \ud800 escape; the usage route lets it reach the event check
    raw = json.dumps({"events": batch}).encode()
    answer = client.post("/api/v1/usage", data=raw, content_type="application/json",
                         headers=world.headers("adopter"))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    body = answer.get_json()
    assert body["accepted"] == 999 and body["duplicates"] == 0
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [(500, reason)]


def test_the_largest_units_are_accepted_and_everything_downstream_still_works(world, runner):
    """Events at the bound keep usage pages, series and settlement working on both databases."""

    from marketplace.clock import period_of

    client = world.app.test_client()
    adopter = world.headers("adopter")
    batch = [_event(world, f"max-{i}", units=10**9) for i in range(1000)]
    body = client.post("/api/v1/usage", json={"events": batch}, headers=adopter).get_json()
    assert body["accepted"] == 1000
    for who in ("adopter", "publisher", "admin"):
        answer = client.get("/api/v1/usage?granularity=month", headers=world.headers(who))
        assert answer.status_code == 200
        assert sum(p["units"] for p in answer.get_json()["series"]) >= 10**12
    for who, page in (("adopter", "/adopter/usage"), ("publisher", "/publisher/usage")):
        answer = world.logged_in(who).get(page)
        total = re.search(r"合计 ([0-9,]+)", page_text(answer.get_data(as_text=True)))
        assert answer.status_code == 200 and total, page
        assert int(total.group(1).replace(",", "")) >= 10**12, (page, total.group(1))
    period = period_of(now())
    clock.configure((now() + timedelta(days=40)).isoformat(), "Asia/Shanghai")
    try:
        result = runner.invoke(["usage", "seal"])           # a day of 10**12 units: 64-bit
        assert result.exit_code == 0, result.output
        with world.app.app_context():
            assert db.session().scalar(sa.select(sa.func.max(UsageDigest.units))) >= 10**12
        result = runner.invoke(["settle", period])           # and the month settles
        assert result.exit_code == 0, result.output
    finally:
        clock.configure("", "Asia/Shanghai")


def test_usage_import_refuses_bad_events_not_the_file(world, runner, tmp_path):
    lines = [f'{{"id":"f{i}","module":"toy-echo","operation":"echo","units":1,'
             f'"occurred_at":"{now().isoformat()}"}}' for i in range(3)]
    lines.insert(1, '{"id":"\\ud800","module":"toy-echo","operation":"echo","units":1,'
                    f'"occurred_at":"{now().isoformat()}"}}')
    lines.insert(2, f'{{"id":"big","module":"toy-echo","operation":"echo","units":{2**63},'
                    f'"occurred_at":"{now().isoformat()}"}}')
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(["usage", "import", str(path), "--as", world.emails["adopter"]])
    assert result.exit_code == 0, result.output
    assert "3 accepted" in result.output and "2 rejected" in result.output


def test_usage_import_csv_with_other_digits_is_refused_per_event(world, runner, tmp_path):
    stamp = now().isoformat()
    path = tmp_path / "usage.csv"
    path.write_text("id,module,operation,units,occurred_at\n"
                    f"c1,toy-echo,echo,1,{stamp}\nc2,toy-echo,echo,²,{stamp}\n"
                    f"c3,toy-echo,echo,{'9' * 5000},{stamp}\n", encoding="utf-8")
    result = runner.invoke(["usage", "import", str(path), "--as", world.emails["adopter"]])
    assert result.exit_code == 0, result.output
    assert "1 accepted" in result.output and "2 rejected" in result.output


# -- money: one bounded parser for every payment entry --------------------------------------

HUGE = "99999999999999999999999.00"
BAD_AMOUNTS = [HUGE, "1000000000000.01", "１２.00", "12.00\n", "1.005", "0", "-5", "1e3", "NaN",
               "", " 5"]


@pytest.mark.parametrize("amount", [*BAD_AMOUNTS, 12, 12.5, None, True, ["1"]])
def test_payment_amounts_out_of_bounds_are_refused_by_the_api(settled, amount):
    before = books(settled.app)
    answer = settled.app.test_client().post(
        "/api/v1/ledger/payments", headers=settled.headers("admin"),
        json={"jurisdiction": "440300", "amount": amount, "period": settled.period})
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_amount"
    assert books(settled.app) == before


@pytest.mark.parametrize("amount", [HUGE, "1,000,000,000,000.01", "1.005", "１２"])
def test_payment_amounts_out_of_bounds_are_refused_by_the_page_and_cli(settled, runner, amount):
    world = settled
    before = books(world.app)
    client = world.logged_in("admin")
    token = CSRF_RE.search(client.get("/admin/ledger").get_data(as_text=True)).group(1)
    answer = client.post("/admin/ledger", data={
        "csrf_token": token, "jurisdiction": "440300", "direction": "in", "amount": amount,
        "period": world.period, "reference": ""})
    assert answer.status_code == 400
    result = runner.invoke(["ledger", "pay", "440300", amount, "--period", world.period])
    assert result.exit_code == 1 and result.output.count("error:") == 1
    assert books(world.app) == before


def test_the_largest_payment_is_refused_without_a_statement_owing_it(settled):
    answer = settled.app.test_client().post(
        "/api/v1/ledger/payments", headers=settled.headers("admin"),
        json={"jurisdiction": "440300", "amount": "1,000,000,000,000.00", "period": settled.period})
    # 440300 had no usage in the settled period: no statement, nothing owed (tests/settlement/
    # test_ledger_payments.py books up to exactly what a statement owes and refuses more)
    assert answer.status_code == 409 and answer.get_json()["error"] == "not_settled", answer.get_json()


def test_usage_filters_take_only_whole_days_and_months(world):
    client = world.app.test_client()
    for bad in ("2026-10-05%0A", "2026-10%0A", "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-10",
                "2026-W40-1", "20261005", "0001-01-01", "9999-12"):
        answer = client.get(f"/api/v1/usage?from={bad}", headers=world.headers("admin"))
        assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_date", bad
    assert client.get("/api/v1/usage?from=2026-10&to=2026-10-31",
                      headers=world.headers("admin")).status_code == 200


# -- request size: the app's limits and the HTTP server's own errors, all JSON ---------------

def test_json_bodies_over_the_limit_are_a_json_413(world):
    from marketplace.web.api import MAX_JSON_BYTES

    client = world.app.test_client()
    for path, who in (("/api/v1/usage", "adopter"), ("/api/v1/settlements", "admin"),
                      ("/api/v1/installations", "adopter"), ("/api/v1/ledger/payments", "admin")):
        body = b'{"events":[' + b"1," * (MAX_JSON_BYTES // 2) + b"1]}"
        answer = client.post(path, data=body, content_type="application/json",
                             headers=world.headers(who))
        assert answer.status_code == 413, path
        assert answer.get_json()["error"] == "too_large" and answer.get_json()["message"]
    answer = client.post("/api/v1/usage", data=b"x" * (13 * 1024 * 1024),
                         content_type="application/json", headers=world.headers("adopter"))
    assert answer.status_code == 413 and {"error", "message"} <= set(answer.get_json())


def _raw(server, request: bytes) -> tuple[int, dict]:
    """Send raw bytes to a live server; (status, JSON body)."""
    import json
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"application/json" in head, head
    return int(head.split()[1]), json.loads(body)


def test_the_http_server_answers_its_own_errors_in_json(world, live_server):
    server = live_server(workers=1)
    cases = [
        ("GET /api/v1/modules?q=企业开办 HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 400, "bad_request"),
        (b"GET /api/v1/modules?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (b"GET /api/v1/modules HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431,
         "headers_too_large"),
        (b"GET /api/v1/modules HTTP/1.1\r\nHost: x\r\n"
         + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431, "headers_too_large"),
        (b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_method"),
    ]
    for request, status, error in cases:
        got, body = _raw(server, request)
        assert (got, body["error"]) == (status, error), (request[:60], body)
        assert body["message"]
    # and the app's own 413 for an over-long body, through the real server
    import requests

    answer = requests.post(server.url + "/api/v1/usage", data=b"x" * (13 * 1024 * 1024),
                           headers={**world.headers("adopter"), "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"


@pytest.mark.parametrize("units", ["9" * 4000, "１２", "²", str(10**9 + 1), "-5", "1e9"])
def test_page_arguments_out_of_bounds_are_ignored_not_crashed(world, units, tmp_path):
    from tests.runtime.conftest import PAY, Catalog

    Catalog(world.app, world.factory, tmp_path / "paid").toy("toy-paid", "1.0.0", terms=PAY)
    client = world.logged_in("adopter")

    def shown(url: str) -> str:
        answer = client.get(url)
        assert answer.status_code == 200, url
        return page_text(answer.get_data(as_text=True))

    estimate = shown("/adopter/install/toy-paid")             # ignored: the default estimates
    assert "1,000 单位/月 | ¥10.00" in estimate
    assert shown(f"/adopter/install/toy-paid?units={units}") == estimate
    for period in ("2026-10%0A", "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-10", "0001-01"):
        assert "用量 | 最近 30 天 · " in shown(f"/adopter/usage?period={period}")
        assert "账单 | 已结算账期 | 账期 | 应付" in shown(f"/adopter/statements?period={period}")
        assert client.get(f"/adopter/statements/{period}.csv").status_code in (400, 404)


@pytest.mark.parametrize("fields, error", [
    ({"reference": "r" * 101}, "invalid_reference"), ({"reference": "a\x00b"}, "invalid_reference"),
    ({"reference": ["x"]}, "invalid_reference"), ({"period": ["2026-10"]}, "invalid_period"),
    ({"direction": ["in"]}, "invalid_direction")])
def test_payment_fields_of_the_wrong_shape_are_refused(settled, fields, error):
    before = books(settled.app)
    answer = settled.app.test_client().post(
        "/api/v1/ledger/payments", headers=settled.headers("admin"),
        json={"jurisdiction": "440300", "amount": "12.00", "period": settled.period, **fields})
    assert answer.status_code == 400 and answer.get_json()["error"] == error
    assert books(settled.app) == before
