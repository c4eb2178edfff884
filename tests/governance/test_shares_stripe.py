"""Stripe (on stripe-mock) pays each owner of a co-owned module its part: one Transfer per owner."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.clock import clock
from marketplace.settlement.models import ProviderRecord, Statement
from tests.governance import test_shares_settlement as ex
from tests.settlement.test_stripe import SECRET, event, signed


@pytest.fixture
def stripe_app(app, stripe_mock):
    """The app settling through Stripe (stripe-mock), platform fee 1 %."""
    app.config.update(SETTLEMENT_PROVIDER="stripe", STRIPE_API_KEY="sk_test_123",
                      STRIPE_API_BASE=stripe_mock, STRIPE_WEBHOOK_SECRET=SECRET,
                      PLATFORM_FEE_BPS=ex.FEE_BPS)
    return app


def records(app, object_type: str) -> list[tuple]:
    """(jurisdiction, amount, key) of done provider records of ``object_type``, by key."""
    with app.app_context():
        return [tuple(r) for r in db.session().execute(
            sa.select(ProviderRecord.jurisdiction_code, ProviderRecord.amount_minor, ProviderRecord.key)
            .where(ProviderRecord.object_type == object_type, ProviderRecord.status == "done")
            .order_by(ProviderRecord.key))]


def test_every_owner_gets_a_connected_account_and_its_own_transfer(stripe_app, client):
    clock.configure("2026-12-02T09:00:00+08:00", "Asia/Shanghai")
    ex.build(stripe_app)
    ex.settle(stripe_app, "2026-10")
    assert {code for code, *_ in records(stripe_app, "account")} == {"310000", "320000", "330000"}
    with stripe_app.app_context():
        invoice = db.session().scalar(sa.select(Statement.provider_ref).where(
            Statement.period == "2026-10", Statement.jurisdiction_code == "440300"))
    body = event("invoice.paid", invoice)
    answer = client.post("/api/v1/webhooks/stripe", data=body,
                         headers={"Stripe-Signature": signed(body), "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.get_json()
    iid = next(i for i, code in ex.installations(stripe_app) if code == "440300")
    # 深圳's 864.15 line, fee 8.64: 342.21 / 256.65 / 256.65 to 上海 / 江苏 / 浙江
    assert records(stripe_app, "transfer") == [
        ("310000", 34_221, f"govmarket:2026-10:310000:transfer-{iid}"),
        ("320000", 25_665, f"govmarket:2026-10:320000:transfer-{iid}"),
        ("330000", 25_665, f"govmarket:2026-10:330000:transfer-{iid}")]
    again = client.post("/api/v1/webhooks/stripe", data=body,
                        headers={"Stripe-Signature": signed(body), "Content-Type": "application/json"})
    assert again.status_code == 200 and len(records(stripe_app, "transfer")) == 3
