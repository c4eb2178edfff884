"""Settlement bounds: a line above 10¹² major units is refused clearly, never a server error."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.settlement.models import Charge, Period

ABSURD = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "1000000000000"}


def test_a_line_beyond_the_money_bound_is_refused_and_nothing_is_written(app, market, factory, client):
    installation = market.install(market.module("absurd", "440000", ABSURD), "440300")
    market.usage(installation, 10**9, count=10)            # 10¹⁰ units at 10¹² yuan each
    admin = factory.headers("admin", "110000", "admin read")
    answer = client.post("/api/v1/settlements", json={"period": "2026-10"}, headers=admin)
    assert answer.status_code == 422, answer.get_json()
    body = answer.get_json()
    assert body["error"] == "amount_out_of_range" and "absurd" in body["message"]
    with app.app_context():
        session = db.session()
        assert session.scalar(sa.select(sa.func.count()).select_from(Charge)) == 0
        assert session.scalar(sa.select(Period.state).where(Period.period == "2026-10")) in (None, "open")
