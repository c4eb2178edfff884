"""Ledger payments: one booking per bank reference however spelled; only what a settled statement owes."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.settlement.models import ProviderRecord
from tests.settlement import worked_example as ex
from tests.settlement.conftest import fix_now

SPELLINGS = ["BANK-77", " BANK-77", "BANK-77 ", "bank-77", "ＢＡＮＫ-77", "BANK\u201077", "BANK\u221277"]


def _admin(factory):
    return factory.headers("admin", "110000", "read,admin")


def _pay(client, headers, **fields):
    body = {"jurisdiction": "440300", "amount": "1.00", "period": ex.PERIOD, **fields}
    return client.post("/api/v1/ledger/payments", headers=headers, json=body)


def _settled(app, market, client, factory):
    app.config["PLATFORM_FEE_BPS"] = ex.FEE_BPS
    ex.build(market)
    headers = _admin(factory)
    assert client.post("/api/v1/settlements", headers=headers,
                       json={"period": ex.PERIOD}).status_code == 200
    return headers


def test_one_bank_reference_spelled_many_ways_books_one_payment(app, market, client, factory, runner):
    headers = _settled(app, market, client, factory)
    answers = [_pay(client, headers, reference=ref) for ref in SPELLINGS]
    assert [a.status_code for a in answers] == [201] * len(SPELLINGS)
    assert [a.get_json()["booked"] for a in answers] == [True] + [False] * (len(SPELLINGS) - 1)
    cli = runner.invoke(["ledger", "pay", "440300", "1.00", "--period", ex.PERIOD,
                         "--reference", "  Bank－77 "])
    assert cli.exit_code == 0, cli.output
    with app.app_context():
        rows = db.session().scalars(sa.select(ProviderRecord.external_id).where(
            ProviderRecord.object_type == "payment")).all()
    assert rows == ["BANK-77"]                              # one booking, the text as first typed
    assert answers[-1].get_json()["receivable"] == "15852.33"


def test_a_payment_needs_a_closed_statement_of_its_period(app, market, client, factory, runner):
    headers = _settled(app, market, client, factory)
    fix_now(app, "2026-11-20T10:00:00+08:00")
    for period in ("2099-11", "2000-01", "2026-11"):        # never settled, long ago, still open
        refused = _pay(client, headers, period=period)
        assert refused.status_code == 409 and refused.get_json()["error"] == "not_settled", period
        assert period in refused.get_json()["message"]
    nobody = _pay(client, headers, jurisdiction="110000")   # no statement of its own in October
    assert nobody.status_code == 409 and nobody.get_json()["error"] == "not_settled"
    cli = runner.invoke(["ledger", "pay", "440300", "1.00", "--period", "2099-11"])
    assert cli.exit_code == 1 and cli.output.startswith("error:") and "2099-11" in cli.output


def test_no_receipt_above_the_receivable_and_no_payout_above_the_payable(app, market, client, factory):
    headers = _settled(app, market, client, factory)
    over = _pay(client, headers, amount="1000000000000.00")
    assert over.status_code == 409 and over.get_json()["error"] == "overpayment"
    assert "15853.33" in over.get_json()["message"]
    payout = _pay(client, headers, direction="out")           # 440300 is owed nothing
    assert payout.status_code == 409 and payout.get_json()["error"] == "overpayment"
    assert _pay(client, headers, amount="15853.33").status_code == 201        # exactly what it owes
    again = _pay(client, headers, amount="0.01")
    assert again.status_code == 409 and "0.00" in again.get_json()["message"]
    owed = _pay(client, headers, jurisdiction="440000", direction="out", amount="15364.81")
    assert owed.status_code == 409 and owed.get_json()["error"] == "overpayment"
    balances = client.get("/api/v1/ledger/balances", headers=headers).get_json()["items"]
    assert {b["jurisdiction"]: b["receivable"] for b in balances}["440300"] == "0.00"
