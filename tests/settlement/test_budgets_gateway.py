"""Budgets at the gateway (DESIGN §15): 402 budget_exhausted, not run, not billed, warned once."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.settlement.budget_models import BudgetPeriod
from marketplace.webhooks.models import WebhookDelivery
from tests.support.concurrency import pool_one_larger_than
from tests.runtime.conftest import PAY, catalog, fixed_clock, shenzhen, usage_rows  # noqa: F401

GRADUATED = ('kind = "pay_per_use"\ncurrency = "CNY"\nmodel = "graduated"\nfree_units = 4\n'
             'tiers = [{ up_to = 10, unit_price = "0.50" }, { unit_price = "0.25" }]')


@pytest.fixture
def installed(catalog, shenzhen, fixed_clock):  # noqa: F811
    """toy-echo under per-unit terms of ¥0.01 (echo costs 2 units) for Shenzhen."""
    catalog.toy(terms=PAY)
    return shenzhen.install("toy-echo").json["id"]


def _budget(adopter, iid: int, value):
    return adopter.client.patch(f"/api/v1/installations/{iid}", json={"budget": value},
                                headers=adopter.headers)


def _units(app, iid: int) -> int:
    with app.app_context():
        row = db.session().get(BudgetPeriod, (iid, "2026-11"))
        return row.units if row else 0


def test_a_call_beyond_the_budget_answers_402_and_is_neither_run_nor_billed(app, installed,
                                                                            shenzhen):
    answer = _budget(shenzhen, installed, "0.10")           # five echo calls of 2 units
    assert (answer.status_code, answer.json["budget"]) == (200, "0.10")
    statuses = [shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [402] * 2
    refused = shenzhen.invoke("toy-echo", "echo", {"text": "x"})
    assert refused.json["error"] == "budget_exhausted"
    assert (refused.json["budget"], refused.json["spent"]) == ("0.10", "0.10")
    rows = usage_rows(app, installed)
    assert [r.status for r in rows] == ["ok"] * 5 + ["rejected"] * 3
    assert sum(r.units for r in rows if r.status == "ok") == 10 == _units(app, installed)


def test_failed_calls_give_their_units_back(app, installed, shenzhen):
    _budget(shenzhen, installed, "0.10")
    for _ in range(3):
        assert shenzhen.invoke("toy-echo", "crash", {}).status_code == 502
        assert shenzhen.invoke("toy-echo", "echo", {}).status_code == 422   # input refused
    assert _units(app, installed) == 0
    assert [shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code
            for _ in range(6)] == [200] * 5 + [402]


def test_budgets_apply_only_to_pay_per_use_and_null_clears(app, catalog, shenzhen, installed):
    catalog.toy(name="toy-free")
    free = shenzhen.install("toy-free").json["id"]
    answer = _budget(shenzhen, free, "5.00")
    assert (answer.status_code, answer.json["error"]) == (409, "budget_not_applicable")
    for bad in ("0", "-1.00", "1.001", 5, "abc", "1" * 50):
        answer = _budget(shenzhen, installed, bad)
        assert (answer.status_code, answer.json["error"]) == (400, "invalid_budget"), bad
    assert _budget(shenzhen, installed, "0.02").status_code == 200
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 402
    cleared = _budget(shenzhen, installed, None)
    assert (cleared.status_code, cleared.json["budget"]) == (200, None)
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200


def test_raising_the_budget_mid_period_recomputes_the_bound(app, installed, shenzhen):
    _budget(shenzhen, installed, "0.04")
    assert [shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code
            for _ in range(3)] == [200, 200, 402]
    _budget(shenzhen, installed, "0.08")
    assert [shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code
            for _ in range(3)] == [200, 200, 402]
    _budget(shenzhen, installed, "0.02")                    # below what is spent: all refused
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 402


def test_a_new_period_starts_from_nothing(app, installed, shenzhen, fixed_clock):  # noqa: F811
    _budget(shenzhen, installed, "0.02")
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 402
    fixed_clock("2026-12-01T00:00:01+08:00")
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 402


def test_warnings_at_80_and_100_percent_are_recorded_once_each(app, installed, shenzhen):
    _budget(shenzhen, installed, "0.10")
    warned = []
    for _ in range(7):
        shenzhen.invoke("toy-echo", "echo", {"text": "x"})
        with app.app_context():
            warned.append(db.session().get(BudgetPeriod, (installed, "2026-11")).warned)
    assert warned == [0, 0, 0, 80, 100, 100, 100]


def test_budgeted_calls_wait_for_no_second_connection(app, installed, shenzhen):
    """The budget is taken, given back and warned on the call's own connection (a full pool)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    _budget(shenzhen, installed, "0.40")                    # 20 echo calls of 2 units
    app.config["QUOTA_PER_MINUTE"] = 10 ** 6
    threads = 3
    pool_one_larger_than(app, threads)
    start = threading.Barrier(threads)
    def calls(n: int) -> list[int]:
        client = app.test_client()
        start.wait()
        return [client.post(f"/api/v1/invoke/toy-echo/{'echo' if i % 3 else 'refuse'}",
                            json={"text": f"{n}-{i}"}, headers=shenzhen.headers).status_code
                for i in range(12)]
    with ThreadPoolExecutor(threads) as pool:
        answered = [status for each in pool.map(calls, range(threads)) for status in each]
    # units held for a moment by refusing calls (ModuleError: 502) may turn an echo away:
    # never more than 20
    assert answered.count(502) + answered.count(402) + answered.count(200) == 36
    assert 0 < answered.count(200) <= 20 and answered.count(402) >= 4
    assert _units(app, installed) == 2 * answered.count(200)


def test_the_console_sets_the_budget_and_warns_at_80_and_100_percent(app, installed, shenzhen):
    from tests.web.conftest import csrf_of, login, page_text

    web = app.test_client()
    login(web, shenzhen.email)
    home = web.get("/adopter/").get_data(as_text=True)
    assert "budget-alert" not in home
    answer = web.post(f"/adopter/installations/{installed}/budget",
                      data={"csrf_token": csrf_of(home), f"b{installed}-budget": "0.10"})
    assert answer.status_code == 302
    for _ in range(4):                                      # 8 of 10 fen: 80 %
        assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    text = page_text(web.get("/adopter/").get_data(as_text=True))
    assert "预算提醒：toy-echo 本月（2026-11）已用 ¥0.08，达到预算 ¥0.10 的 80%。" in text
    assert "本月（2026-11）已用 ¥0.08 / 预算 ¥0.10（80%）" in text
    shenzhen.invoke("toy-echo", "echo", {"text": "x"})
    text = page_text(web.get("/adopter/").get_data(as_text=True))
    assert "预算已用完：toy-echo 本月（2026-11）已用 ¥0.10" in text
    english = page_text(web.get("/adopter/?lang=en").get_data(as_text=True))
    assert "Budget used up: toy-echo has spent ¥0.10 this month (2026-11)" in english
    assert "This month (2026-11): ¥0.10 of a ¥0.10 budget (100%)" in english
    bad = web.post(f"/adopter/installations/{installed}/budget",
                   data={"csrf_token": csrf_of(home), f"b{installed}-budget": "abc"})
    assert bad.status_code == 302
    assert "is not an amount" in page_text(web.get("/adopter/").get_data(as_text=True))
    cleared = web.post(f"/adopter/installations/{installed}/budget",
                       data={"csrf_token": csrf_of(home), f"b{installed}-budget": ""})
    assert cleared.status_code == 302
    assert "budget-alert" not in web.get("/adopter/").get_data(as_text=True)


def test_reported_usage_counts_against_the_open_budget_once(app, installed, factory, shenzhen):
    _budget(shenzhen, installed, "0.10")
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200   # 2 units
    usage = {"Authorization": f"Bearer {factory.token(shenzhen.email, 'usage')}"}
    events = {"events": [{"id": f"self-{n}", "module": "toy-echo", "operation": "echo",
                          "units": 3, "occurred_at": "2026-11-10T10:00:30+08:00"}
                         for n in range(2)]}
    for _ in range(2):                                   # the second time: duplicates only
        answer = shenzhen.client.post("/api/v1/usage", json=events, headers=usage)
        assert answer.status_code == 200 and not answer.json["rejected"], answer.json
    assert _units(app, installed) == 8
    assert [shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code
            for _ in range(2)] == [200, 402]
    billed = sum(r.units for r in usage_rows(app, installed) if r.status == "ok")
    assert billed == _units(app, installed) == 10
