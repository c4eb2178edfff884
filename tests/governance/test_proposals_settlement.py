"""An owners proposal accepted in October: October is still split among the old owners,
November among the new ones (in force from the next period, DESIGN §13)."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.catalog.models import ModuleVersion
from marketplace.clock import clock
from marketplace.governance import shares
from marketplace.governance.models import ChargeShare
from marketplace.plugins import get_provider
from marketplace.settlement import service
from tests.governance.proposals_support import owners_body
from tests.settlement.conftest import Market

TERMS = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "0.07"}
OLD = [("310000", 4_000), ("320000", 3_000), ("330000", 3_000)]
NEW = [("310000", 3_000), ("320000", 2_500), ("330000", 2_500), ("340000", 2_000)]


def _owners_of(app, period: str) -> dict[str, int]:
    with app.app_context():
        rows = db.session().execute(sa.select(ChargeShare.owner_code, ChargeShare.share_bps)
                                    .where(ChargeShare.period == period)).all()
    return dict(rows)


def test_an_ownership_change_voted_in_october_splits_november_not_october(app, client, factory):
    clock.configure("2026-10-20T10:00:00+08:00", "Asia/Shanghai")
    try:
        market = Market(app)
        version = market.module("yangtze-permit", "310000", TERMS)
        with app.app_context():
            session = db.session()
            module_id = session.get(ModuleVersion, version).module_id
            shares.set_owners(session, module_id, OLD, 120_000_000, "2026-01", None)
            session.commit()
        shenzhen = market.install(version, "440300")
        market.usage(shenzhen, 10_000, at="2026-10-10T10:00:00+08:00")
        tokens = {code: factory.headers("publisher", code, "read publish")
                  for code, _ in NEW}
        made = client.post("/api/v1/modules/yangtze-permit/proposals",
                           json=owners_body(*NEW, build_cost=None), headers=tokens["310000"])
        assert made.status_code == 201, made.get_json()
        pid = made.get_json()["id"]
        for code, _ in NEW:
            answer = client.post(f"/api/v1/proposals/{pid}/approve", headers=tokens[code])
            assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["state"] == "accepted"
        assert answer.get_json()["effective_period"] == "2026-11"
        market.usage(shenzhen, 10_000, at="2026-11-10T10:00:00+08:00")

        clock.configure("2026-12-02T09:00:00+08:00", "Asia/Shanghai")
        with app.app_context():
            for period in ("2026-10", "2026-11"):
                service.settle(db.session(), period, get_provider(app.config), "admin", 100)
        assert _owners_of(app, "2026-10") == dict(OLD)
        assert _owners_of(app, "2026-11") == dict(NEW)
        with app.app_context():
            assert shares.build_cost_minor(db.session(), module_id) == 120_000_000   # kept
    finally:
        clock.configure("", "Asia/Shanghai")
