"""Settlement of a period: the worked example, idempotence, period rules, invariants."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.errors import MarketplaceError
from marketplace.plugins import get_provider
from marketplace.settlement import service
from marketplace.settlement.models import Charge, JournalEntry, Period, ProviderRecord, Statement
from tests.settlement import worked_example as ex
from tests.settlement.conftest import fix_now


def settle(app, period=ex.PERIOD, fee_bps=ex.FEE_BPS):
    """Run settlement with the ledger provider inside an app context."""
    with app.app_context():
        return service.settle(db.session(), period, get_provider(app.config), "admin@test", fee_bps)


def statement(app, code, period=ex.PERIOD):
    """The JSON statement of ``code``."""
    with app.app_context():
        return service.statement_json(db.session(), period, code)


def snapshot(app):
    """Every row settlement writes, for before/after comparisons."""
    with app.app_context():
        session = db.session()
        return {model.__tablename__: sorted(tuple(r) for r in session.execute(
                    sa.select(*[c for c in model.__table__.c if c.name not in ("created_at", "updated_at")])))
                for model in (Charge, Statement, Period, ProviderRecord, JournalEntry)}


def test_worked_example_statements_are_exact(app, market):
    ex.build(market)
    result = settle(app)
    core = {k: v for k, v in statement(app, "440300").items()
            if k in ex.SHENZHEN}
    assert core == ex.SHENZHEN
    assert statement(app, "330100")["charges"] == ex.HANGZHOU_CHARGES
    assert statement(app, "310000")["charges"] == ex.SHANGHAI_CHARGES
    assert statement(app, "330000")["earnings"] == ex.ZHEJIANG_EARNINGS
    assert statement(app, "440000")["earnings"] == ex.GUANGDONG_EARNINGS
    for code, (charges, earnings, net) in ex.TOTALS.items():
        body = statement(app, code)
        assert (body["total_charges"], body["total_earnings"], body["net"]) == (charges, earnings, net)
    totals = result["totals"]
    assert {k: totals[k] for k in ex.PERIOD_TOTALS} == ex.PERIOD_TOTALS
    assert totals["balanced"] is True and totals["lines"] == 10 and totals["statements"] == 5


def test_sum_of_charges_equals_earnings_plus_fees(app, market):
    ex.build(market)
    settle(app)
    with app.app_context():
        charges, fees = db.session().execute(
            sa.select(sa.func.sum(Charge.amount_minor), sa.func.sum(Charge.fee_minor))).one()
        stmts = db.session().execute(sa.select(sa.func.sum(Statement.total_charges_minor),
                                               sa.func.sum(Statement.total_earnings_minor),
                                               sa.func.sum(Statement.total_fees_minor))).one()
    assert charges == 2752000 and fees == 27520
    assert stmts[0] == stmts[1] + stmts[2] == charges


def test_rerun_changes_nothing_and_books_nothing_twice(app, market):
    ex.build(market)
    first = settle(app)
    before = snapshot(app)
    fix_now(app, "2026-12-01T00:00:00+08:00")
    again = settle(app)
    assert snapshot(app) == before
    assert again == first
    assert len(before["provider_records"]) == 3  # one journal booking per paying adopter


def test_settling_before_the_period_ends_is_refused(app, market):
    ex.build(market)
    fix_now(app, "2026-10-31T23:59:59+08:00")
    with pytest.raises(MarketplaceError) as caught:
        settle(app)
    assert (caught.value.reason, caught.value.status) == ("period_open", 409)
    with app.app_context():
        assert db.session().get(Period, ex.PERIOD) is None
        assert db.session().scalar(sa.select(sa.func.count()).select_from(Charge)) == 0


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "october", ""])
def test_malformed_period_is_a_400(app, market, period):
    with pytest.raises(MarketplaceError) as caught:
        settle(app, period)
    assert (caught.value.reason, caught.value.status) == ("invalid_period", 400)


def test_closed_period_refuses_late_usage(app, market):
    ex.build(market)
    with app.app_context():
        service.ensure_open(db.session(), ex.PERIOD)  # open: no refusal
    settle(app)
    with app.app_context():
        with pytest.raises(MarketplaceError) as caught:
            service.ensure_open(db.session(), ex.PERIOD)
    assert (caught.value.reason, caught.value.status) == ("period_closed", 409)


def test_late_usage_report_for_a_closed_period_is_rejected(app, market, client, factory):
    ex.build(market)
    settle(app)
    headers = factory.headers("adopter", "440300", "usage")
    response = client.post("/api/v1/usage", headers=headers, json={"events": [{
        "id": "late-1", "module": "enterprise-registration", "operation": "op", "units": 1,
        "occurred_at": "2026-10-20T10:00:00+08:00"}]})
    assert response.status_code == 200, response.get_data(as_text=True)   # no skip: it must exist
    assert response.get_json()["accepted"] == 0
    reasons = [r["reason"] for r in response.get_json()["rejected"]]
    assert reasons == ["period_closed"]


def test_only_installations_active_in_the_period_are_priced(app, market):
    version = market.module("permit", "440000", {"kind": "pay_per_use", "currency": "CNY",
                                                 "model": "per_unit", "unit_price": "1.00"})
    ended_before = market.install(version, "440300", created="2026-01-01T00:00:00+08:00",
                                  ended="2026-09-30T12:00:00+08:00")
    ended_during = market.install(version, "330100", ended="2026-10-15T00:00:00+08:00")
    created_after = market.install(version, "310000", created="2026-11-01T00:00:00+08:00")
    market.usage(ended_during, 3)
    settle(app)
    with app.app_context():
        lines = dict(db.session().execute(sa.select(Charge.installation_id, Charge.amount_minor)).all())
    assert lines == {ended_during: 300}
    assert ended_before not in lines and created_after not in lines


def test_cost_share_equal_basis_gives_the_extra_fen_to_the_lower_code(app, market):
    version = market.module("shared-cloud", "440000", {"kind": "cost_share", "currency": "CNY",
                                                       "period_cost": "100.00", "basis": "equal"})
    for code in ("440300", "330100", "310000"):
        market.install(version, code)
    settle(app, fee_bps=0)
    amounts = {code: statement(app, code)["charges"][0]["amount"] for code in ("440300", "330100", "310000")}
    assert amounts == {"310000": "33.34", "330100": "33.33", "440300": "33.33"}


def test_transfer_fee_is_charged_only_in_the_period_of_installation(app, market):
    version = market.module("archive", "330000", {"kind": "transfer", "currency": "CNY", "fee": "800.00"})
    market.install(version, "440300", created="2026-09-20T10:00:00+08:00")
    fix_now(app, "2026-11-02T00:00:00+08:00")
    settle(app, "2026-09")
    settle(app, "2026-10")
    assert statement(app, "440300", "2026-09")["total_charges"] == "800.00"
    assert statement(app, "440300", "2026-10")["total_charges"] == "0.00"


def test_statement_csv_lists_lines_and_totals(app, market):
    ex.build(market)
    settle(app)
    with app.app_context():
        text = service.statement_csv(db.session(), ex.PERIOD, "440000")
        adopter = service.statement_csv(db.session(), ex.PERIOD, "440300").splitlines()
        fees = service.statement_json(db.session(), ex.PERIOD, "440300")["total_fees"]
    rows = text.splitlines()
    assert f"total_fees,,,,,,{fees},," in adopter and fees != "0.00"
    assert rows[0] == "section,module,kind,adopter,publisher,units,amount,fee,owner_share_bps"
    assert "earning,enterprise-registration,,440300,440000,,514.80,5.20,10000" in rows
    assert rows[-4:] == ["total_charges,,,,,,0.00,,", "total_earnings,,,,,,15364.80,,",
                         "total_fees,,,,,,0.00,,", "net,,,,,,15364.80,,"]


def test_statements_carry_metering_usage_chain_head(app, market):
    from datetime import date

    from marketplace.metering import digest

    ids = ex.build(market)
    with app.app_context():
        assert digest.seal_days(db.session(), date(2026, 10, 31)) > 0
        db.session().commit()
    settle(app)
    shenzhen = [i for name, i in ids.items() if name.endswith("@440300")]
    with app.app_context():
        expected = digest.statement_head(db.session(), shenzhen, ex.PERIOD)
    assert statement(app, "440300")["usage_chain_head"] == expected
    assert "usage_chain_head" not in statement(app, "440000")  # a publisher adopted nothing


def test_unknown_statement_is_not_found(app, market):
    ex.build(market)
    settle(app)
    with pytest.raises(MarketplaceError) as caught:
        statement(app, "110000")
    assert caught.value.status == 404
