"""The operator's ledger page: balances, trial balance, latest payments, booking a payment."""
from __future__ import annotations

import re

import sqlalchemy as sa

from tests.web.conftest import csrf_of, login


def _pay(client, **fields):
    html = client.get("/admin/ledger").get_data(as_text=True)
    data = {"csrf_token": csrf_of(html), "jurisdiction": "440300", "direction": "in",
            "amount": "1,234.50", "period": "2026-10", "reference": ""}
    return client.post("/admin/ledger", data={**data, **fields})


def _settled(app) -> None:
    """October closed: 440300 owes 440000 ¥5,000.00 (payments need a settled statement)."""
    from marketplace import db
    from marketplace.clock import now
    from marketplace.settlement.models import JournalEntry, Period, Statement

    with app.app_context():
        session = db.session()
        session.add(Period(period="2026-10", state="closed", closed_by="t", totals={}))
        for code, charges, earnings in (("440300", 500000, 0), ("440000", 0, 500000)):
            session.add(Statement(period="2026-10", jurisdiction_code=code, currency="CNY",
                                  total_charges_minor=charges, total_earnings_minor=earnings,
                                  total_fees_minor=0, usage_chain_head="", provider="ledger",
                                  provider_status="booked", provider_ref="", created_at=now()))
        for account, code, debit, credit in (("receivable", "440300", 500000, 0),
                                             ("payable", "440000", 0, 500000)):
            session.add(JournalEntry(period="2026-10", account=account, jurisdiction_code=code,
                                     currency="CNY", debit_minor=debit, credit_minor=credit,
                                     ref="seed", created_at=now()))
        session.commit()


def _journal(app) -> list[tuple]:
    from marketplace import db
    from marketplace.settlement.models import JournalEntry

    with app.app_context():
        return db.session().execute(sa.select(
            JournalEntry.account, JournalEntry.jurisdiction_code, JournalEntry.debit_minor,
            JournalEntry.credit_minor).where(JournalEntry.ref != "seed")
            .order_by(JournalEntry.id)).all()


def test_admin_books_a_payment_and_sees_balances_and_the_audit(app, client, people):
    login(client, people["admin"])
    page = client.get("/admin/ledger").get_data(as_text=True)
    assert "账本中还没有记录" in page                                # empty so far
    _settled(app)
    assert re.search(r'name="period"[^>]*value="\d{4}-\d{2}"', page)   # last period by default
    response = _pay(client, reference="BOC-20261105-001")
    assert response.status_code == 302
    page = client.get("/admin/ledger").get_data(as_text=True)
    assert "已记账：440300 深圳市 ¥1,234.50（2026-10）" in page
    assert _journal(app) == [("cash", None, 123450, 0), ("receivable", "440300", 0, 123450)]
    row = page[page.index('id="balance-440300"'):]
    row = row[:row.index("</tr>")]
    assert "¥3,765.50" in row                                    # ¥5,000.00 owed, ¥1,234.50 paid
    assert "✔" in page[page.index('id="trial-balance"'):]         # debits equal credits
    payments = page[page.index('id="payments"'):]
    assert "BOC-20261105-001" in payments and "收款" in payments
    assert _pay(client, amount="10").status_code == 302           # no bank reference
    payments = client.get("/admin/ledger").get_data(as_text=True).split('id="payments"')[1]
    assert "payment:" not in payments                               # no internal ref shown
    audit = client.get("/admin/audit?action=ledger").get_data(as_text=True)
    assert "ledger.payment" in audit and "BOC-20261105-001" in audit


def test_the_same_bank_reference_is_booked_once(app, client, people):
    login(client, people["admin"])
    _settled(app)
    assert _pay(client, reference="ICBC-7").status_code == 302
    assert _pay(client, reference="ICBC-7", amount="99.00").status_code == 302
    page = client.get("/admin/ledger").get_data(as_text=True)
    assert "流水号 ICBC-7 已记过账，本次未重复记账。" in page
    assert len(_journal(app)) == 2


def test_a_payout_is_booked_against_payable(app, client, people):
    login(client, people["admin"])
    _settled(app)
    assert _pay(client, jurisdiction="440000", direction="out", amount="500").status_code == 302
    assert _journal(app) == [("payable", "440000", 50000, 0), ("cash", None, 0, 50000)]
    page = client.get("/admin/ledger").get_data(as_text=True)
    assert "付款" in page[page.index('id="payments"'):]


def test_bad_input_is_shown_in_place_and_books_nothing(app, client, people):
    login(client, people["admin"])
    for fields, message in [({"amount": "12.345"}, "最多两位小数"), ({"amount": "-5"}, "最多两位小数"),
                            ({"amount": "0.00"}, "金额须大于 0"),
                            ({"amount": "1,000,000,000,000,000,000.00"}, "最多两位小数"),
                            ({"period": "2026-13"}, "YYYY-MM"),
                            ({"jurisdiction": "999999"}, "不是有效的选择")]:
        response = _pay(client, **fields)
        assert response.status_code in (400, 422), fields
        assert message in response.get_data(as_text=True), fields
    assert _journal(app) == []


def test_only_jurisdictions_taking_part_are_offered(client, people):
    login(client, people["admin"])
    html = client.get("/admin/ledger").get_data(as_text=True)
    offered = re.findall(r'<option value="(\d{6})"', html)
    assert offered == ["110000", "440000", "440300"]       # the people fixture's users


def test_english_ledger_page(client, people):
    login(client, people["admin"])
    html = client.get("/admin/ledger?lang=en").get_data(as_text=True)
    assert "Trial balance" in html and "Record a payment" in html and "试算平衡" not in html


def test_a_racing_post_of_the_same_reference_is_reported_not_a_500(app, client, people,
                                                                   monkeypatch):
    from marketplace.settlement import records

    login(client, people["admin"])
    _settled(app)
    assert _pay(client, reference="CCB-1").status_code == 302
    real_find, calls = records.find, []

    def find(session, key):                  # the first look misses: as if not yet committed
        calls.append(key)
        return None if len(calls) == 1 else real_find(session, key)
    monkeypatch.setattr(records, "find", find)
    response = _pay(client, reference="CCB-1")
    assert response.status_code == 302
    assert "流水号 CCB-1 已记过账" in client.get("/admin/ledger").get_data(as_text=True)
    assert len(_journal(app)) == 2


def test_no_booking_in_the_ledger_when_stripe_settles(app, client, people):
    login(client, people["admin"])
    app.config["SETTLEMENT_PROVIDER"] = "stripe"
    page = client.get("/admin/ledger").get_data(as_text=True)
    assert 'id="record-payment"' not in page and "stripe" in page
    response = _pay(client)
    assert response.status_code == 409 and "不在内置账本记账" in response.get_data(as_text=True)
    assert _journal(app) == []
