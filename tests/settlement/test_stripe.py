"""The Stripe provider against stripe-mock: invoices, Connect accounts, transfers, webhooks."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.plugins import get_provider
from marketplace.settlement import service
from marketplace.settlement.models import ProviderRecord, Statement
from tests.settlement import worked_example as ex

SECRET = "whsec_test_secret"


@pytest.fixture
def stripe_app(app, stripe_mock):
    """The app configured for Stripe through stripe-mock."""
    app.config.update(SETTLEMENT_PROVIDER="stripe", STRIPE_API_KEY="sk_test_123",
                      STRIPE_API_BASE=stripe_mock, STRIPE_WEBHOOK_SECRET=SECRET,
                      PLATFORM_FEE_BPS=ex.FEE_BPS)
    return app


def settle(app):
    """Settle October through the configured provider."""
    with app.app_context():
        return service.settle(db.session(), ex.PERIOD, get_provider(app.config), "admin", ex.FEE_BPS)


def record_types(app):
    """Count of done provider records by object type."""
    with app.app_context():
        rows = db.session().execute(sa.select(ProviderRecord.object_type, sa.func.count())
                                    .where(ProviderRecord.status == "done")
                                    .group_by(ProviderRecord.object_type)).all()
    return dict(rows)


def signed(payload: bytes, secret: str = SECRET, at: int | None = None) -> str:
    """A Stripe-Signature header exactly as Stripe computes it."""
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def event(kind: str, invoice: str, event_id: str = "evt_1") -> bytes:
    """A minimal Stripe event about an invoice."""
    return json.dumps({"id": event_id, "object": "event", "type": kind, "api_version": "2024-06-20",
                       "data": {"object": {"id": invoice, "object": "invoice"}}}).encode()


def statement_row(app, code):
    """The stored statement of ``code``."""
    with app.app_context():
        return db.session().scalar(sa.select(Statement).where(Statement.jurisdiction_code == code))


def test_statements_become_finalised_invoices_and_accounts(stripe_app, market):
    ex.build(market)
    settle(stripe_app)
    # customers: 3 paying adopters; invoices + finalize: one each; items: 6 non-zero charge lines;
    # accounts: the 2 publishers
    assert record_types(stripe_app) == {"customer": 3, "invoice": 3, "invoiceitem": 6,
                                        "invoice_finalize": 3, "account": 2}
    shenzhen = statement_row(stripe_app, "440300")
    assert shenzhen.provider_status == "invoiced" and shenzhen.provider_ref.startswith("in_")
    assert statement_row(stripe_app, "440000").provider_status == "awaiting_payment"
    with stripe_app.app_context():
        keys = db.session().scalars(sa.select(ProviderRecord.key)).all()
    assert "govmarket:2026-10:440300:item-5" in keys and "govmarket:-:440300:customer" in keys
    settle(stripe_app)  # rerun: no new calls
    assert sum(record_types(stripe_app).values()) == 17


def test_invoice_paid_webhook_marks_paid_and_transfers_earnings_once(stripe_app, market, client):
    ex.build(market)
    settle(stripe_app)
    invoice = statement_row(stripe_app, "440300").provider_ref
    body = event("invoice.paid", invoice)
    response = client.post("/api/v1/webhooks/stripe", data=body,
                           headers={"Stripe-Signature": signed(body), "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["statement"]["status"] == "paid"
    assert statement_row(stripe_app, "440300").provider_status == "paid"
    # 440300's lines earn: archive 11,880.00 (330000), registration 514.80 and insurance 3,300.00 (440000)
    with stripe_app.app_context():
        transfers = db.session().execute(sa.select(ProviderRecord.jurisdiction_code, ProviderRecord.amount_minor)
                                         .where(ProviderRecord.object_type == "transfer")
                                         .order_by(ProviderRecord.amount_minor)).all()
    assert [tuple(t) for t in transfers] == [("440000", 51480), ("440000", 330000), ("330000", 1188000)]
    redelivered = client.post("/api/v1/webhooks/stripe", data=body,
                              headers={"Stripe-Signature": signed(body)})
    assert redelivered.status_code == 200
    assert record_types(stripe_app)["transfer"] == 3


def test_payment_failed_webhook_marks_the_statement(stripe_app, market, client):
    ex.build(market)
    settle(stripe_app)
    invoice = statement_row(stripe_app, "330100").provider_ref
    body = event("invoice.payment_failed", invoice, "evt_2")
    response = client.post("/api/v1/webhooks/stripe", data=body, headers={"Stripe-Signature": signed(body)})
    assert response.status_code == 200
    assert statement_row(stripe_app, "330100").provider_status == "payment_failed"
    assert "transfer" not in record_types(stripe_app)


@pytest.mark.parametrize("header", [
    lambda body: signed(body, secret="whsec_wrong"),
    lambda body: signed(body, at=int(time.time()) - 301),  # outside the 300 s replay window
    lambda body: "t=1,v1=deadbeef",
    lambda body: None,
])
def test_webhook_with_a_bad_signature_is_refused(stripe_app, market, client, header):
    body = event("invoice.paid", "in_x")
    value = header(body)
    response = client.post("/api/v1/webhooks/stripe", data=body,
                           headers={"Stripe-Signature": value} if value else {})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_signature"


def test_crash_mid_invoice_resumes_with_the_same_keys(stripe_app, market, tmp_path):
    from tests.settlement.test_crash_and_concurrency import run_settle

    ex.build(market)
    env = {"MARKETPLACE_SETTLEMENT_PROVIDER": "stripe", "STRIPE_API_KEY": "sk_test_123",
           "STRIPE_API_BASE": stripe_app.config["STRIPE_API_BASE"]}
    assert run_settle(stripe_app, tmp_path, crash="4", extra_env=env) == 75
    assert sum(record_types(stripe_app).values()) == 4
    assert run_settle(stripe_app, tmp_path, crash="3", extra_env=env) == 75
    assert run_settle(stripe_app, tmp_path, extra_env=env) == 0
    assert record_types(stripe_app) == {"customer": 3, "invoice": 3, "invoiceitem": 6,
                                        "invoice_finalize": 3, "account": 2}
    with stripe_app.app_context():
        statuses = set(db.session().scalars(sa.select(Statement.provider_status)))
    assert statuses == {"invoiced", "awaiting_payment"}
