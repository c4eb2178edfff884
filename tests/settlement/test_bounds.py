"""Settlement bounds: a line above 10¹² major units never stops the period for everyone else."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.accounts.models import AuditEntry
from marketplace.settlement.models import Charge, Period

ABSURD = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "1000000000000"}
CENT = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "0.01"}
GRAND = {**CENT, "unit_price": "1000"}
MOST = 10**12 * 100                                       # MAX_AMOUNT in fen


def test_a_line_beyond_the_money_bound_is_capped_audited_and_everyone_else_settles(
        app, market, factory, client):
    absurd = market.install(market.module("absurd", "440000", ABSURD), "440300")
    market.usage(absurd, 10**9, count=10)                  # 10¹⁰ units at 10¹² yuan each
    flooded = market.install(market.module("evil-probe", "330000", GRAND), "330100")
    market.usage(flooded, 10**9, count=3)                  # each event in bounds, 3·10¹² yuan in all
    honest = market.install(market.module("permit", "310000", CENT), "320000")
    market.usage(honest, 500)
    admin = factory.headers("admin", "110000", "admin read")
    answer = client.post("/api/v1/settlements", json={"period": "2026-10"}, headers=admin)
    assert answer.status_code in (200, 201), answer.get_json()
    totals = answer.get_json()["totals"]
    assert {(c["module"], c["installation"]) for c in totals["capped_lines"]} == {
        ("absurd", absurd), ("evil-probe", flooded)}
    with app.app_context():
        session = db.session()
        amounts = dict(session.execute(sa.select(Charge.installation_id, Charge.amount_minor)).all())
        assert amounts == {absurd: MOST, flooded: MOST, honest: 500}
        assert session.scalar(sa.select(Period.state).where(Period.period == "2026-10")) == "closed"
        audited = session.scalars(sa.select(AuditEntry.subject).where(
            AuditEntry.action == "settlement.line_capped").order_by(AuditEntry.subject)).all()
        assert audited == sorted([f"2026-10:{absurd}", f"2026-10:{flooded}"])
    assert totals["charges_minor"] == totals["earnings_minor"] + totals["fees_minor"] == 2 * MOST + 500
