"""Money checks hold under concurrency, through 2 real gunicorn workers (DESIGN §12, §15).

Credits racing on one installation's closed period never credit more than it was
charged; racing resolutions of one dispute resolve it once (one adjustment).
"""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.settlement.correction_models import Adjustment
from tests.settlement.conftest import AFTER_OCTOBER
from tests.support.concurrency import hammer, live_server  # noqa: F401 - fixture

PER_UNIT = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "1.25"}
THREADS = 10


def _settled(app, market, factory, client) -> tuple[int, dict]:
    """An installation charged ¥50.00 in October (40 units at ¥1.25), the period settled."""
    installation = market.install(market.module("permit", "440000", PER_UNIT), "440300")
    market.usage(installation, 40)
    admin = factory.headers("admin", "110000", "admin read")
    settled = client.post("/api/v1/settlements", headers=admin, json={"period": "2026-10"})
    assert settled.status_code == 200, settled.get_json()
    return installation, admin


def _credited(app, installation: int) -> list[int]:
    with app.app_context():
        return list(db.session().scalars(sa.select(Adjustment.amount_minor).where(
            Adjustment.installation_id == installation, Adjustment.period == "2026-10")))


def test_racing_credits_never_take_more_than_was_charged(app, market, factory, client,
                                                        live_server):
    installation, admin = _settled(app, market, factory, client)
    server = live_server(workers=2, MARKETPLACE_NOW=AFTER_OCTOBER)

    def send(session, index):
        return session.post(f"{server.url}/api/v1/adjustments", headers=admin, timeout=60,
                            json={"period": "2026-10", "installation": installation,
                                  "amount": "-12.00", "reason": f"meter fault {index}"})
    answers = hammer(THREADS, send)                 # 10 × ¥12.00 asked, ¥50.00 charged

    assert sorted(a.status_code for a in answers) == [201] * 4 + [409] * (THREADS - 4)
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"credit_exceeds_charge"}
    credited = _credited(app, installation)
    assert credited == [-1200] * 4 and 5000 + sum(credited) >= 0


def test_racing_resolutions_of_one_dispute_resolve_it_once(app, market, factory, client,
                                                          live_server):
    installation, admin = _settled(app, market, factory, client)
    with app.app_context():
        from marketplace.metering.models import UsageEvent

        ids = list(db.session().scalars(sa.select(UsageEvent.event_id)))
    adopter = factory.headers("adopter", "440300", "read,usage")
    opened = client.post("/api/v1/disputes", headers=adopter, json={
        "period": "2026-10", "module": "permit", "reason": "too many", "evidence_ids": ids})
    assert opened.status_code == 201, opened.get_json()
    dispute = opened.get_json()["id"]
    owner = factory.headers("publisher", "440000", "read,usage,publish")
    assert client.post(f"/api/v1/disputes/{dispute}/answer", headers=owner,
                       json={"answer": "billed as used"}).status_code == 200
    server = live_server(workers=2, MARKETPLACE_NOW=AFTER_OCTOBER)

    def send(session, index):
        return session.post(f"{server.url}/api/v1/disputes/{dispute}/resolve", headers=admin,
                            timeout=60, json={"decision": "adjust", "amount": "-10.00"})
    answers = hammer(THREADS, send)

    assert sorted(a.status_code for a in answers) == [200] + [409] * (THREADS - 1)
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"wrong_state"}
    assert _credited(app, installation) == [-1000]


def test_racing_first_budgets_of_one_installation_all_answer_and_one_is_kept(
        app, market, factory, live_server):
    from marketplace.settlement.budget_models import Budget, BudgetPeriod

    installation = market.install(market.module("permit", "440000", PER_UNIT), "440300")
    market.usage(installation, 40, at="2026-11-02T10:00:00+08:00")        # ¥50.00 spent
    adopter = factory.headers("adopter", "440300", "read,usage,install")
    server = live_server(workers=2, MARKETPLACE_NOW=AFTER_OCTOBER)
    amounts = [f"{52 + index}.00" for index in range(THREADS)]   # ¥50.00 is ≥ 80 % of each

    def send(session, index):
        return session.patch(f"{server.url}/api/v1/installations/{installation}",
                             headers=adopter, timeout=60, json={"budget": amounts[index]})
    answers = hammer(THREADS, send)

    assert [a.status_code for a in answers] == [200] * THREADS, [a.text for a in answers]
    with app.app_context():
        session = db.session()
        kept = session.scalars(sa.select(Budget.amount)).all()
        counter = session.get(BudgetPeriod, (installation, "2026-11"))
    assert len(kept) == 1 and f"{kept[0] // 100}.00" in amounts
    assert (counter.amount, counter.units, counter.warned) == (kept[0], 40, 80)
