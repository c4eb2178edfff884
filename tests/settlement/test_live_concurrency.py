"""Exactly once under concurrency, through real gunicorn workers (DESIGN §6, §7, §12).

Many client threads x 2 gunicorn workers on the test's own database: one period is
settled once whatever spellings race for it, and overlapping usage batches are each
counted once, nothing lost.
"""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.metering.models import UsageEvent
from marketplace.settlement.models import Charge, JournalEntry, Period, Statement
from tests.settlement.conftest import AFTER_OCTOBER
from tests.support.concurrency import hammer, live_server  # noqa: F401 - fixture

PER_UNIT = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "1.25"}
THREADS = 12


def _books(app) -> dict:
    with app.app_context():
        session = db.session()
        count = lambda model: session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
        return {"periods": list(session.execute(sa.select(Period.period, Period.state))),
                "charges": count(Charge), "statements": count(Statement),
                "journal": count(JournalEntry),
                "charged": session.scalar(sa.select(sa.func.sum(Charge.amount_minor))),
                "debits": session.scalar(sa.select(sa.func.sum(JournalEntry.debit_minor)))}


def test_racing_settlements_of_one_period_settle_it_once(app, market, factory, live_server):
    for adopter, units in (("440300", 40), ("330100", 7)):
        installation = market.install(market.module(f"permit-{adopter}", "440000", PER_UNIT), adopter)
        market.usage(installation, units, count=3)
    admin = factory.headers("admin", "110000", "admin read")
    server = live_server(workers=2, MARKETPLACE_NOW=AFTER_OCTOBER)
    spellings = ["2026-10", "2026-10\n", "2026-10 ", "２０２６-10"]

    def send(session, index):
        return session.post(f"{server.url}/api/v1/settlements", headers=admin, timeout=60,
                            json={"period": spellings[index % len(spellings)]})
    answers = hammer(THREADS, send)

    canonical = [a for i, a in enumerate(answers) if i % len(spellings) == 0]
    others = [a for i, a in enumerate(answers) if i % len(spellings)]
    assert {a.status_code for a in others} == {400}
    assert all(a.json()["error"] == "invalid_period" for a in others)
    assert {a.status_code for a in canonical} <= {200, 409}
    settled = [a.json() for a in canonical if a.status_code == 200]
    assert settled and all(body == settled[0] for body in settled)    # one result, replayed
    books = _books(app)
    assert books["periods"] == [("2026-10", "closed")]
    assert books["charges"] == 2 and books["charged"] == (120 + 21) * 125
    assert books["statements"] == 3                       # two adopters and the publisher
    assert books["debits"] == books["charged"]            # each charge booked once in the journal
    assert settled[0]["totals"]["charges_minor"] == (120 + 21) * 125


def test_overlapping_batches_through_two_workers_count_every_event_once(app, market, factory,
                                                                        live_server):
    installation = market.install(market.module("permit", "440000", PER_UNIT), "440300")
    headers = factory.headers("adopter", "440300", "usage")
    server = live_server(workers=2, MARKETPLACE_NOW=AFTER_OCTOBER)
    batch = 300
    # thread i sends ids [i * 100, i * 100 + 300): each id is sent by up to three threads,
    # and every batch carries one event over the units bound that must be refused alone
    plans = [[{"id": f"ev-{n}", "module": "permit", "operation": "op", "units": 1 + n % 3,
               "occurred_at": "2026-10-20T10:00:00+08:00"}
              for n in range(i * 100, i * 100 + batch)] for i in range(THREADS)]
    for i, plan in enumerate(plans):
        plan.insert(i % batch, {"id": f"huge-{i}", "module": "permit", "operation": "op",
                                "units": 2**63, "occurred_at": "2026-10-20T10:00:00+08:00"})

    def send(session, index):
        return session.post(f"{server.url}/api/v1/usage", headers=headers, timeout=60,
                            json={"events": plans[index]})
    answers = hammer(THREADS, send)

    assert {a.status_code for a in answers} == {200}
    bodies = [a.json() for a in answers]
    distinct = {e["id"]: e["units"] for plan in plans for e in plan if not e["id"].startswith("huge")}
    assert sum(b["accepted"] for b in bodies) == len(distinct)
    assert sum(b["accepted"] + b["duplicates"] for b in bodies) == THREADS * batch
    assert all([r["reason"] for r in b["rejected"]] == ["invalid_units"] for b in bodies)
    with app.app_context():
        session = db.session()
        stored = session.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(UsageEvent.event_id)),
                                           sa.func.sum(UsageEvent.units))
                                 .where(UsageEvent.installation_id == installation)).one()
    assert tuple(stored) == (len(distinct), len(distinct), sum(distinct.values()))
