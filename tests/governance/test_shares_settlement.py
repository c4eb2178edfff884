"""Settlement with co-owned modules (DESIGN §13): the README's co-owned worked example, pinned.

长三角 module ``yangtze-permit``, published by 上海市 (310000) and owned from
January 2026 by 上海 4,000 / 江苏 3,000 / 浙江 3,000 bps; from November 2026 安徽
(340000) joins: 上海 3,000 / 江苏 2,500 / 浙江 2,500 / 安徽 2,000. Price ¥0.07 a
unit, platform fee 1 %. 深圳市 (440300), 杭州市 (330100) and 上海市 itself (an
owner that adopts, billed like anyone else) use it in October; 深圳 in November.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.catalog.models import ModuleVersion
from marketplace.clock import clock
from marketplace.governance import shares
from marketplace.governance.models import ChargeShare
from marketplace.plugins import get_provider
from marketplace.settlement import service
from marketplace.settlement.models import Charge, JournalEntry, Period
from tests.settlement.conftest import Market

FEE_BPS = 100
TERMS = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "0.07"}
OWNERS_2026 = [("310000", 4_000), ("320000", 3_000), ("330000", 3_000)]
OWNERS_NOVEMBER = [("310000", 3_000), ("320000", 2_500), ("330000", 2_500), ("340000", 2_000)]
BUILD_COST_MINOR = 120_000_000          # ¥1,200,000.00

#: October's lines: adopter → (units, amount, fee, {owner: (earnings, fee part)})
OCTOBER = {
    "310000": (1_001, "70.07", "0.70", {"310000": ("27.75", "0.28"), "320000": ("20.81", "0.21"),
                                        "330000": ("20.81", "0.21")}),
    "330100": (5_000, "350.00", "3.50", {"310000": ("138.60", "1.40"), "320000": ("103.95", "1.05"),
                                         "330000": ("103.95", "1.05")}),
    "440300": (12_345, "864.15", "8.64", {"310000": ("342.21", "3.46"), "320000": ("256.65", "2.59"),
                                          "330000": ("256.65", "2.59")}),
}
#: owner → total earnings in October
OCTOBER_EARNINGS = {"310000": "508.56", "320000": "381.41", "330000": "381.41"}
#: November, 深圳 10,001 units = 700.07, fee 7.00, 693.07 split four ways
NOVEMBER_EARNINGS = {"310000": "207.92", "320000": "173.27", "330000": "173.27", "340000": "138.61"}


def build(app) -> int:
    """The example's module, ownership history and usage; returns the module id."""
    market = Market(app)
    version = market.module("yangtze-permit", "310000", TERMS)
    with app.app_context():
        session = db.session()
        module_id = session.get(ModuleVersion, version).module_id
        shares.set_owners(session, module_id, OWNERS_2026, BUILD_COST_MINOR, "2026-01", None)
        shares.set_owners(session, module_id, OWNERS_NOVEMBER, None, "2026-11", None)
        session.commit()
    for adopter, (units, *_rest) in OCTOBER.items():
        market.usage(market.install(version, adopter), units)
    shenzhen = next(i for i in installations(app) if i[1] == "440300")[0]
    market.usage(shenzhen, 10_001, at="2026-11-20T10:00:00+08:00")
    return module_id


def installations(app) -> list[tuple[int, str]]:
    """(id, adopter) of every installation."""
    from marketplace.runtime.models import Installation

    with app.app_context():
        return list(db.session().execute(sa.select(Installation.id, Installation.jurisdiction_code)))


def settle(app, period: str) -> dict:
    """Settle ``period`` with the configured provider (ledger unless the test says)."""
    with app.app_context():
        return service.settle(db.session(), period, get_provider(app.config), "admin", FEE_BPS)


def statement(app, code: str, period: str = "2026-10") -> dict:
    """The statement JSON of ``code``."""
    with app.app_context():
        return service.statement_json(db.session(), period, code)


@pytest.fixture
def coowned(app):
    """The example built, the clock after November 2026."""
    clock.configure("2026-12-02T09:00:00+08:00", "Asia/Shanghai")
    return build(app)


def test_each_owner_earns_its_largest_remainder_part_of_every_line(app, coowned):
    settle(app, "2026-10")
    for owner, total in OCTOBER_EARNINGS.items():
        body = statement(app, owner)
        assert body["total_earnings"] == total
        assert body["earnings"] == [
            {"module": "yangtze-permit", "adopter": adopter, "amount": parts[owner][0],
             "fee": parts[owner][1], "owner_share_bps": dict(OWNERS_2026)[owner]}
            for adopter, (_, _, _, parts) in sorted(OCTOBER.items())]


def test_an_owner_that_adopts_is_billed_like_anyone_else(app, coowned):
    settle(app, "2026-10")
    body = statement(app, "310000")
    assert body["charges"] == [{"module": "yangtze-permit", "kind": "pay_per_use", "units": 1_001,
                                "amount": "70.07"}]
    assert (body["total_charges"], body["net"]) == ("70.07", "438.49")
    for adopter, (_, amount, _, _) in OCTOBER.items():
        if adopter != "310000":
            assert statement(app, adopter)["total_charges"] == amount


def test_period_totals_balance_and_owners_parts_add_up_to_each_line(app, coowned):
    totals = settle(app, "2026-10")["totals"]
    assert (totals["charges"], totals["earnings"], totals["fees"]) == ("1284.22", "1271.38", "12.84")
    with app.app_context():
        session = db.session()
        lines = session.execute(sa.select(Charge.id, Charge.amount_minor - Charge.fee_minor,
                                          Charge.fee_minor).where(Charge.period == "2026-10")).all()
        for charge_id, earnings, fee in lines:
            parts = session.execute(sa.select(sa.func.sum(ChargeShare.earnings_minor),
                                              sa.func.sum(ChargeShare.fee_minor))
                                    .where(ChargeShare.charge_id == charge_id)).one()
            assert tuple(parts) == (earnings, fee)


def test_november_is_split_among_the_owners_in_force_at_its_start(app, coowned):
    settle(app, "2026-10")
    settle(app, "2026-11")
    for owner, total in NOVEMBER_EARNINGS.items():
        body = statement(app, owner, "2026-11")
        assert body["total_earnings"] == total
        assert body["earnings"][0]["owner_share_bps"] == dict(OWNERS_NOVEMBER)[owner]
    assert statement(app, "440300", "2026-11")["total_charges"] == "700.07"
    assert "340000" not in {s["jurisdiction"] for s in settle(app, "2026-10")["statements"]}


def test_a_change_recorded_after_a_period_closed_does_not_touch_it(app, coowned):
    settle(app, "2026-10")
    before = statement(app, "320000")
    with app.app_context():
        session = db.session()
        shares.set_owners(session, coowned, [("320000", 10_000)], None, "2026-10", None)
        session.commit()
    settle(app, "2026-10")  # rerun: closed, nothing changes
    assert statement(app, "320000") == before


def test_statement_csv_carries_the_owner_share(app, coowned):
    settle(app, "2026-10")
    with app.app_context():
        rows = service.statement_csv(db.session(), "2026-10", "320000").splitlines()
    assert rows[0] == "section,module,kind,adopter,publisher,units,amount,fee,owner_share_bps"
    assert "earning,yangtze-permit,,440300,320000,,256.65,2.59,3000" in rows
    assert rows[-1] == "net,,,,,,381.41,,"


def test_ledger_books_one_payable_per_owner(app, coowned):
    settle(app, "2026-10")
    with app.app_context():
        session = db.session()
        payable = dict(session.execute(
            sa.select(JournalEntry.jurisdiction_code,
                      sa.func.sum(JournalEntry.credit_minor - JournalEntry.debit_minor))
            .where(JournalEntry.account == "payable", JournalEntry.period == "2026-10")
            .group_by(JournalEntry.jurisdiction_code)).all())
        shenzhen = session.execute(sa.select(JournalEntry.account, JournalEntry.jurisdiction_code,
                                          JournalEntry.credit_minor)
                                .where(JournalEntry.ref.like("%:440300:%"),
                                       JournalEntry.credit_minor > 0)
                                .order_by(JournalEntry.account, JournalEntry.jurisdiction_code)).all()
    assert payable == {"310000": 50_856, "320000": 38_141, "330000": 38_141}
    assert [tuple(r) for r in shenzhen] == [("payable", "310000", 34_221), ("payable", "320000", 25_665),
                                          ("payable", "330000", 25_665), ("platform_fee", None, 864)]


def test_ledger_netting_offsets_an_owner_that_adopts(app, coowned):
    app.config["NETTING"] = True
    settle(app, "2026-10")
    with app.app_context():
        session = db.session()
        net = session.execute(
            sa.select(JournalEntry.account, sa.func.sum(JournalEntry.debit_minor - JournalEntry.credit_minor))
            .where(JournalEntry.jurisdiction_code == "310000").group_by(JournalEntry.account)).all()
    # 上海 owes 70.07 and earns 508.56: after netting it is owed 438.49 and owes nothing
    assert dict(net) == {"payable": -43_849, "receivable": 0}


def test_both_owner_and_period_rows_are_written_in_the_close_transaction(app, coowned):
    settle(app, "2026-10")
    with app.app_context():
        session = db.session()
        count = session.scalar(sa.select(sa.func.count()).select_from(ChargeShare)
                               .where(ChargeShare.period == "2026-10"))
        assert session.get(Period, "2026-10").state == "closed"
    assert count == 9  # 3 lines × 3 owners


@pytest.mark.parametrize("side,owners,floors,parts", [
    (85_551, OWNERS_2026, 85_550, {"310000": 34_221, "320000": 25_665, "330000": 25_665}),
    (6_937, OWNERS_2026, 6_936, {"310000": 2_775, "320000": 2_081, "330000": 2_081}),
    (69_307, OWNERS_NOVEMBER, 69_305, {"310000": 20_792, "320000": 17_327, "330000": 17_327,
                                       "340000": 13_861}),
])
def test_readme_quotas_floors_and_leftover_fen(side, owners, floors, parts):
    assert sum(side * bps // 10_000 for _, bps in owners) == floors
    assert shares.split(side, owners) == parts


def test_a_co_owner_sees_its_share_on_its_earnings_page(app, coowned, client, factory):
    from tests.web.conftest import login, page_text

    settle(app, "2026-10")
    login(client, factory.user("publisher", "320000"))
    text = page_text(client.get("/publisher/earnings?period=2026-10&lang=zh").get_data(as_text=True))
    assert "共有份额 30.00 %" in text and "¥256.65" in text and "¥381.41" in text
