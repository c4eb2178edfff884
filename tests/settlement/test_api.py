"""Settlement over HTTP: settle, read results and statements, ledger payments and balances."""
from __future__ import annotations

from tests.settlement import worked_example as ex
from tests.settlement.conftest import fix_now


def admin(factory, code="110000"):
    """Headers of a platform administrator."""
    return factory.headers("admin", code, "read,admin")


def settle(client, headers, period=ex.PERIOD):
    """POST /api/v1/settlements."""
    return client.post("/api/v1/settlements", headers=headers, json={"period": period})


def test_admin_settles_and_reads_the_result(app, market, client, factory):
    app.config["PLATFORM_FEE_BPS"] = ex.FEE_BPS
    ex.build(market)
    headers = admin(factory)
    first = settle(client, headers)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["state"] == "closed" and body["totals"]["charges"] == "27520.00"
    assert [s["jurisdiction"] for s in body["statements"]] == sorted(ex.TOTALS)
    assert settle(client, headers).get_json() == body  # idempotent
    assert client.get(f"/api/v1/settlements/{ex.PERIOD}", headers=headers).get_json() == body


def test_a_close_is_audited_once_with_who_and_what_it_booked(app, market, client, factory):
    import sqlalchemy as sa

    from marketplace import db
    from marketplace.accounts.models import AuditEntry

    app.config["PLATFORM_FEE_BPS"] = ex.FEE_BPS
    ex.build(market)
    headers = admin(factory)
    assert settle(client, headers).status_code == 200
    assert settle(client, headers).status_code == 200          # a rerun books and audits nothing
    with app.app_context():
        entries = db.session().scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "settlement.close")).all()
        assert [e.subject for e in entries] == [ex.PERIOD]
        detail = entries[0].detail
        assert entries[0].actor_id is not None and "@" in entries[0].actor   # the admin, not "system"
        assert (detail["charges_minor"], detail["fee_bps"], detail["provider"]) == (
            2752000, ex.FEE_BPS, "ledger")


def test_settlement_errors_are_json(app, market, client, factory):
    headers = admin(factory)
    fix_now(app, "2026-10-15T00:00:00+08:00")
    early = settle(client, headers)
    assert early.status_code == 409 and early.get_json()["error"] == "period_open"
    bad = settle(client, headers, "2026-13")
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_period"
    assert set(bad.get_json()) == {"error", "message"}
    missing = client.get("/api/v1/settlements/2026-09", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_settled"


def test_settling_needs_the_admin_scope(app, market, client, factory):
    no_token = client.post("/api/v1/settlements", json={"period": ex.PERIOD})
    assert no_token.status_code == 401
    adopter = factory.headers("adopter", "440300", "read")
    assert settle(client, adopter).status_code == 403


def test_caller_reads_own_statement_and_admin_any(app, market, client, factory):
    app.config["PLATFORM_FEE_BPS"] = ex.FEE_BPS
    ex.build(market)
    settle(client, admin(factory))
    city = factory.headers("adopter", "440300", "read")
    own = client.get(f"/api/v1/statements/{ex.PERIOD}", headers=city).get_json()
    assert {k: own[k] for k in ex.SHENZHEN} == ex.SHENZHEN
    other = client.get(f"/api/v1/statements/{ex.PERIOD}?jurisdiction=440000", headers=city)
    assert other.status_code == 403
    by_admin = client.get(f"/api/v1/statements/{ex.PERIOD}?jurisdiction=440000",
                          headers=admin(factory)).get_json()
    assert by_admin["earnings"] == ex.GUANGDONG_EARNINGS and by_admin["net"] == "15364.80"
    csv = client.get(f"/api/v1/statements/{ex.PERIOD}?format=csv", headers=city)
    assert csv.mimetype == "text/csv"
    assert "charge,enterprise-registration,pay_per_use,440300,,12000,520.00," in csv.get_data(as_text=True)


def test_ledger_payments_change_balances(app, market, client, factory):
    app.config["PLATFORM_FEE_BPS"] = ex.FEE_BPS
    ex.build(market)
    headers = admin(factory)
    settle(client, headers)
    paid = client.post("/api/v1/ledger/payments", headers=headers, json={
        "jurisdiction": "440300", "amount": "15853.33", "period": ex.PERIOD, "reference": "bank-1"})
    assert paid.status_code == 201
    assert paid.get_json() == {"jurisdiction": "440300", "currency": "CNY", "receivable": "0.00",
                               "payable": "0.00", "net": "0.00", "booked": True}
    again = client.post("/api/v1/ledger/payments", headers=headers, json={
        "jurisdiction": "440300", "amount": "15853.33", "period": ex.PERIOD, "reference": "bank-1"})
    assert again.get_json()["receivable"] == "0.00"  # same reference: booked once
    assert again.get_json()["booked"] is False
    payout = client.post("/api/v1/ledger/payments", headers=headers, json={
        "jurisdiction": "440000", "amount": "5000.00", "period": ex.PERIOD, "direction": "out"})
    assert payout.get_json()["net"] == "10364.80"
    items = client.get("/api/v1/ledger/balances", headers=headers).get_json()["items"]
    assert {i["jurisdiction"]: i["net"] for i in items} == {
        "310000": "-1666.67", "330000": "11880.00", "330100": "-10000.00",
        "440000": "10364.80", "440300": "0.00"}
    city = factory.headers("adopter", "330100", "read")
    mine = client.get("/api/v1/ledger/balances", headers=city).get_json()["items"]
    assert mine == [{"jurisdiction": "330100", "currency": "CNY", "receivable": "10000.00",
                     "payable": "0.00", "net": "-10000.00"}]
    assert client.post("/api/v1/ledger/payments", headers=city, json={}).status_code == 403


def test_bad_payment_is_refused_with_a_reason(app, client, factory):
    headers = admin(factory)
    bad = client.post("/api/v1/ledger/payments", headers=headers, json={
        "jurisdiction": "440300", "amount": 12.5, "period": ex.PERIOD})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_amount"
    zero = client.post("/api/v1/ledger/payments", headers=headers, json={
        "jurisdiction": "440300", "amount": "0.00", "period": ex.PERIOD})
    assert zero.get_json()["error"] == "invalid_amount"


def test_balances_of_an_unknown_jurisdiction_is_404(client, factory):
    headers = factory.headers("admin", "110000", "read admin")
    answer = client.get("/api/v1/ledger/balances?jurisdiction=999999", headers=headers)
    assert answer.status_code == 404 and answer.json["error"] == "unknown_jurisdiction"


def test_payments_are_audited_and_refused_while_stripe_settles(app, market, client, factory):
    import sqlalchemy as sa

    from marketplace import db
    from marketplace.accounts.models import AuditEntry

    ex.build(market)
    headers = admin(factory)
    settle(client, headers)
    body = {"jurisdiction": "440300", "amount": "10.00", "period": ex.PERIOD, "reference": "r-1"}
    assert client.post("/api/v1/ledger/payments", headers=headers, json=body).status_code == 201
    again = client.post("/api/v1/ledger/payments", headers=headers, json=body)
    assert again.status_code == 201 and again.get_json()["booked"] is False
    with app.app_context():
        entries = db.session().scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "ledger.payment")).all()
    assert [(e.subject, e.detail["reference"]) for e in entries] == [("440300", "r-1")]
    assert entries[0].actor != "system"                     # the admin who booked it
    app.config["SETTLEMENT_PROVIDER"] = "stripe"
    refused = client.post("/api/v1/ledger/payments", headers=headers,
                          json={**body, "reference": "r-2"})
    assert refused.status_code == 409 and refused.get_json()["error"] == "provider_not_ledger"
