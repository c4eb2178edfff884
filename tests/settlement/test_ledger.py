"""The ledger provider: double entry, one booking per statement, netting."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.settlement import service
from marketplace.settlement.models import JournalEntry, ProviderRecord, Statement
from tests.settlement import worked_example as ex

PER_UNIT = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "1.00"}


def settle(app, netting=False):
    """Settle October with a ledger provider."""
    from govmarket_plugins.ledger import LedgerProvider

    with app.app_context():
        return service.settle(db.session(), ex.PERIOD, LedgerProvider({"NETTING": netting}), "t", ex.FEE_BPS)


def test_every_booking_balances_and_statements_are_booked(app, market):
    from govmarket_plugins.ledger import trial_balance

    ex.build(market)
    settle(app)
    with app.app_context():
        session = db.session()
        assert trial_balance(session, "CNY") == (2752000, 2752000)
        fee = session.scalar(sa.select(sa.func.sum(JournalEntry.credit_minor))
                             .where(JournalEntry.account == "platform_fee"))
        statuses = dict(session.execute(sa.select(Statement.jurisdiction_code,
                                                    Statement.provider_status)).all())
    assert fee == 27520
    assert statuses == {"310000": "booked", "330000": "booked", "330100": "booked",
                        "440000": "booked", "440300": "booked"}


def test_issuing_one_statement_again_books_nothing_twice(app, market):
    from govmarket_plugins.ledger import LedgerProvider, trial_balance

    ex.build(market)
    settle(app)
    with app.app_context():
        session = db.session()
        statement = session.scalar(sa.select(Statement).where(Statement.jurisdiction_code == "440300"))
        assert LedgerProvider({}).issue(session, statement) == "booked"
        assert trial_balance(session, "CNY") == (2752000, 2752000)
        assert session.scalar(sa.select(sa.func.count()).select_from(ProviderRecord)) == 3


def test_netting_leaves_only_the_net_position(app, market):
    from govmarket_plugins.ledger import balances

    guangdong = market.module("gd-permit", "440000", PER_UNIT)
    zhejiang = market.module("zj-archive", "330000", PER_UNIT)
    market.usage(market.install(guangdong, "330000"), 300)   # 浙江 owes 广东 300.00
    market.usage(market.install(zhejiang, "440000"), 100)    # 广东 owes 浙江 100.00
    settle(app, netting=True)
    with app.app_context():
        items = {b["jurisdiction"]: b for b in balances(db.session())}
    # fees 1 %: 广东 earns 297.00 and owes 100.00 → net +197.00, all on one side
    assert items["440000"] == {"jurisdiction": "440000", "currency": "CNY", "receivable": "0.00",
                               "payable": "197.00", "net": "197.00"}
    assert items["330000"] == {"jurisdiction": "330000", "currency": "CNY", "receivable": "201.00",
                               "payable": "0.00", "net": "-201.00"}


def test_without_netting_both_sides_stay_open(app, market):
    from govmarket_plugins.ledger import balances

    guangdong = market.module("gd-permit", "440000", PER_UNIT)
    zhejiang = market.module("zj-archive", "330000", PER_UNIT)
    market.usage(market.install(guangdong, "330000"), 300)
    market.usage(market.install(zhejiang, "440000"), 100)
    settle(app)
    with app.app_context():
        items = {b["jurisdiction"]: b for b in balances(db.session())}
    assert (items["440000"]["receivable"], items["440000"]["payable"]) == ("100.00", "297.00")
    assert items["440000"]["net"] == "197.00"
