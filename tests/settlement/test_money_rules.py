"""The explicit money rules: one cost-share pool per module and period, one currency, no defaults."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.errors import MarketplaceError
from marketplace.settlement.models import Charge, JournalEntry, Period, Statement
from marketplace.settlement.pricing import Line
from tests.settlement.conftest import fix_now
from tests.settlement.test_service import settle, statement

SHARE_100 = {"kind": "cost_share", "currency": "CNY", "period_cost": "100.00", "basis": "equal"}
SHARE_300 = {"kind": "cost_share", "currency": "CNY", "period_cost": "300.00", "basis": "equal"}
USD_PER_UNIT = {"kind": "pay_per_use", "currency": "USD", "model": "per_unit", "unit_price": "1.00"}
CNY_PER_UNIT = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "1.00"}


def charges(app) -> dict[str, int]:
    with app.app_context():
        return dict(db.session().execute(sa.select(Charge.adopter_code, Charge.amount_minor)).all())


def test_two_versions_of_one_module_share_one_pool_under_the_terms_in_force_at_the_start(app, market):
    v1 = market.module("shared-cloud", "440000", SHARE_100)
    v2 = market.version(v1, "2.0.0", SHARE_300)
    market.install(v1, "440300", accepted="2026-01-01T00:00:00+08:00")
    market.install(v2, "330100", accepted="2026-03-01T00:00:00+08:00")  # newest before October
    settle(app, fee_bps=0)
    assert charges(app) == {"440300": 15000, "330100": 15000}  # 300.00 once, not 100 + 300


def test_terms_accepted_during_the_period_apply_from_the_next_one(app, market):
    v1 = market.module("shared-cloud", "440000", SHARE_100)
    v2 = market.version(v1, "2.0.0", SHARE_300)
    market.install(v1, "440300", accepted="2026-01-01T00:00:00+08:00")
    market.install(v2, "330100", created="2026-01-01T00:00:00+08:00",
                   accepted="2026-10-15T00:00:00+08:00")  # upgraded mid-October
    settle(app, fee_bps=0)
    assert charges(app) == {"440300": 5000, "330100": 5000}


def test_money_in_two_currencies_in_one_period_is_refused_and_nothing_is_written(app, market):
    usd = market.install(market.module("usd-mod", "440000", USD_PER_UNIT), "440300")
    cny = market.install(market.module("cny-mod", "440000", CNY_PER_UNIT), "330100")
    market.usage(usd, 2)
    market.usage(cny, 3)
    with pytest.raises(MarketplaceError) as caught:
        settle(app)
    assert (caught.value.reason, caught.value.status) == ("mixed_currency", 409)
    assert "USD: usd-mod" in caught.value.message and "CNY: cny-mod" in caught.value.message
    with app.app_context():
        session = db.session()
        assert session.scalar(sa.select(sa.func.count()).select_from(Charge)) == 0
        assert session.scalar(sa.select(Period.state).where(Period.period == "2026-10")) != "closed"


def test_a_statement_of_free_lines_takes_the_period_currency_not_cny(app, market):
    usd = market.install(market.module("usd-mod", "440000", USD_PER_UNIT), "440300")
    market.install(market.module("free-mod", "330000", {"kind": "free"}), "330100")
    market.usage(usd, 2)
    result = settle(app)
    assert result["totals"]["currency"] == "USD"
    assert statement(app, "330100")["currency"] == "USD"
    assert statement(app, "440300")["total_charges"] == "2.00"


def test_a_zero_line_in_another_currency_does_not_block_or_relabel_the_period(app, market):
    usd = market.install(market.module("usd-mod", "440000", USD_PER_UNIT), "440300")
    market.install(market.module("cny-mod", "440000", CNY_PER_UNIT), "330100")  # no usage
    market.usage(usd, 2)
    assert settle(app)["totals"]["currency"] == "USD"
    with app.app_context():
        rows = dict(db.session().execute(sa.select(Charge.module_name, Charge.currency)).all())
    assert rows == {"usd-mod": "USD", "cny-mod": "CNY"}


def test_a_line_has_no_default_currency():
    with pytest.raises(TypeError):
        Line.priced("m", "free", "440300", "440000", 0, 0, 0)  # noqa - the currency is required
    with pytest.raises(ValueError, match="currency"):
        Line.priced("m", "free", "440300", "440000", 0, 0, 0, "")


def test_ledger_balances_are_kept_per_currency_never_summed(app, market):
    from govmarket_plugins import ledger

    from types import SimpleNamespace

    with app.app_context():
        session = db.session()
        for cur, amount in (("USD", 500), ("CNY", 700)):   # journal lines of two periods' charges
            charge = SimpleNamespace(period="2026-10", currency=cur, adopter_code="440300",
                                     publisher_code="440000", amount_minor=amount,
                                     earnings_minor=amount, fee_minor=0)
            ledger._book(session, ledger.charge_entries(charge, f"t:{cur}"))
        session.commit()
        items = ledger.balances(session, "440300")
        assert [(i["currency"], i["receivable"]) for i in items] == [("CNY", "7.00"),
                                                                     ("USD", "5.00")]
        assert ledger.trial_balances(session) == {"CNY": (700, 700), "USD": (500, 500)}
        assert ledger.balance_sums(session, "USD") == {"440300": {"receivable": 500, "payable": 0},
                                                       "440000": {"receivable": 0, "payable": 500}}
        assert set(session.scalars(sa.select(JournalEntry.currency))) == {"CNY", "USD"}
        assert session.scalar(sa.select(sa.func.count()).select_from(Statement)) == 0


def test_terms_accepted_after_a_period_never_reprice_it(app, market):
    """Found by the stateful model (seed 167249783131097738387128987313837428090): an upgrade
    to other terms before a late settlement priced the past period under the new terms."""
    from types import SimpleNamespace

    from marketplace.runtime import service as runtime

    v1 = market.module("archive", "440000", {"kind": "free"})
    market.version(v1, "2.0.0", SHARE_300)
    iid = market.install(v1, "330100", created="2026-09-10T00:00:00+08:00")
    fix_now(app, "2026-11-02T00:00:00+08:00")        # October ended, not settled yet
    with app.app_context():
        session = db.session()
        runtime.change_version(session, SimpleNamespace(jurisdiction_code="330100", user_id=None),
                               iid, "2.0.0", accept_terms=True)
        session.commit()
    settle(app, fee_bps=0)
    assert statement(app, "330100")["total_charges"] == "0.00"   # October was free
    assert [c["kind"] for c in statement(app, "330100")["charges"]] == ["free"]


def test_an_installation_ended_as_the_period_began_is_not_in_it(app, market):
    """Ended at 00:00 on the 1st (Shanghai): it was in force only before the period."""
    version = market.module("shared-cloud", "440000", SHARE_100)
    market.install(version, "440300", ended="2026-10-01T00:00:00+08:00")
    market.install(version, "330100")
    settle(app, fee_bps=0)
    assert charges(app) == {"330100": 10000}       # not 50.00 each
