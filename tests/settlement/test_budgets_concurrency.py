"""Concurrent calls never overspend a budget: threads against 2 real gunicorn workers (both DBs).

The period's counter is taken with one conditional UPDATE before the module runs,
so the grants between all workers stop exactly at the budget; the counter then
equals the units of the period's successful events, which settlement bills.
"""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.metering.models import UsageEvent
from marketplace.settlement.budget_models import BudgetPeriod
from marketplace.settlement.pricing import price_usage
from tests.runtime.conftest import catalog, shenzhen  # noqa: F401 - fixtures
from tests.support.concurrency import hammer, invoke, live_server  # noqa: F401 - fixture

FIXED_NOW = "2026-11-10T10:00:30+08:00"
TIERED = ('kind = "pay_per_use"\ncurrency = "CNY"\nmodel = "graduated"\nfree_units = 6\n'
          'tiers = [{ up_to = 10, unit_price = "0.03" }, { unit_price = "0.01" }]')


def test_parallel_calls_never_take_the_period_above_its_budget(app, catalog, shenzhen,  # noqa: F811
                                                               live_server):
    catalog.toy(terms=TIERED)
    iid = shenzhen.install("toy-echo").json["id"]
    terms = shenzhen.client.get(f"/api/v1/installations/{iid}", headers=shenzhen.headers).json[
        "terms"]
    # echo takes 2 units: 6 free, 10 at ¥0.03 (¥0.30), then ¥0.01; ¥0.35 buys 21 units → 10 calls
    assert shenzhen.client.patch(f"/api/v1/installations/{iid}", json={"budget": "0.35"},
                                 headers=shenzhen.headers).status_code == 200
    server = live_server(2, MARKETPLACE_NOW=FIXED_NOW)
    answers = hammer(30, invoke(server, shenzhen.headers, "toy-echo", "echo", {"text": "x"}))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 10 + [402] * 20
    assert {a.json()["error"] for a in answers if a.status_code == 402} == {"budget_exhausted"}
    with app.app_context():
        session = db.session()
        billed = session.scalar(sa.select(sa.func.sum(UsageEvent.units)).where(
            UsageEvent.installation_id == iid, UsageEvent.status == "ok"))
        rejected = session.scalar(sa.select(sa.func.count()).where(
            UsageEvent.installation_id == iid, UsageEvent.status == "rejected"))
        counter = session.get(BudgetPeriod, (iid, "2026-11"))
        assert (billed, rejected, counter.units, counter.warned) == (20, 20, 20, 100)
    assert price_usage(terms, billed) == 34 <= 35 < price_usage(terms, billed + 2)


def test_parallel_failing_calls_give_every_unit_back(app, catalog, shenzhen, live_server):  # noqa: F811
    catalog.toy(terms=TIERED)
    iid = shenzhen.install("toy-echo").json["id"]
    shenzhen.client.patch(f"/api/v1/installations/{iid}", json={"budget": "0.35"},
                          headers=shenzhen.headers)
    server = live_server(2, MARKETPLACE_NOW=FIXED_NOW)
    answers = hammer(16, invoke(server, shenzhen.headers, "toy-echo", "crash", {}))
    assert {a.status_code for a in answers} == {502}
    with app.app_context():
        assert db.session().get(BudgetPeriod, (iid, "2026-11")).units == 0
