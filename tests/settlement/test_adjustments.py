"""Adjustments (DESIGN §15): booked into the next settlement, closed statements unchanged,
ledger and Stripe carry them, owners' shares and fees exact, Σ charges = Σ earnings + Σ fees."""
from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.governance.models import ChargeShare
from marketplace.plugins import get_ledger, get_provider
from marketplace.settlement import service
from marketplace.settlement.adjustments import _fee_through
from marketplace.settlement.correction_models import Adjustment
from marketplace.settlement.models import Charge, ProviderRecord
from tests.settlement import worked_example as ex
from tests.settlement.conftest import fix_now

NOVEMBER, AFTER_NOVEMBER = "2026-11", "2026-12-02T09:00:00+08:00"


def admin(factory):
    """Headers of a platform administrator."""
    return factory.headers("admin", "110000", "read,admin")


def settle(app, period):
    """Settle ``period`` through the configured provider."""
    with app.app_context():
        return service.settle(db.session(), period, get_provider(app.config), "admin",
                              int(app.config.get("PLATFORM_FEE_BPS") or 0))


def adjust(client, factory, installation, amount, period=ex.PERIOD, reason="meter fault"):
    """POST /api/v1/adjustments."""
    return client.post("/api/v1/adjustments", headers=admin(factory), json={
        "period": period, "installation": installation, "amount": amount, "reason": reason})


def statement(client, factory, code, period):
    """The admin's view of ``code``'s statement."""
    return client.get(f"/api/v1/statements/{period}?jurisdiction={code}",
                      headers=admin(factory)).get_json()


def adjustments_of(body):
    """The adjustment lines among a statement's earnings."""
    return [line for line in body["earnings"] if "adjusts_period" in line]


def balanced_every_period(app):
    """Per period: Σ charges, Σ owners' earnings (charge_shares) and Σ fees, asserting the invariant."""
    with app.app_context():
        session = db.session()
        charges = dict(session.execute(sa.select(Charge.period, sa.func.sum(Charge.amount_minor))
                                       .group_by(Charge.period)).all())
        shares = dict(session.execute(sa.select(
            ChargeShare.period, sa.func.sum(ChargeShare.earnings_minor + ChargeShare.fee_minor))
            .group_by(ChargeShare.period)).all())
        fees = dict(session.execute(sa.select(ChargeShare.period, sa.func.sum(ChargeShare.fee_minor))
                                    .group_by(ChargeShare.period)).all())
        line_fees = dict(session.execute(sa.select(Charge.period, sa.func.sum(Charge.fee_minor))
                                         .group_by(Charge.period)).all())
    assert charges == shares and fees == line_fees, (charges, shares, fees, line_fees)
    return charges


@pytest.fixture
def october(app, market, client, factory):
    """The worked example settled (ledger, 1 % fee); the clock after November."""
    app.config["PLATFORM_FEE_BPS"] = ex.FEE_BPS
    ids = ex.build(market)
    assert settle(app, ex.PERIOD)["state"] == "closed"
    fix_now(app, AFTER_NOVEMBER)
    return ids


def test_a_credit_is_booked_into_the_next_settlement_and_october_never_changes(
        app, client, factory, october):
    before = {code: statement(client, factory, code, ex.PERIOD) for code in ex.TOTALS}
    made = adjust(client, factory, october["registration@440300"], "-12.34")
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["state"] == "pending" and made.get_json()["amount"] == "-12.34"
    draft = statement(client, factory, "440300", NOVEMBER)
    assert draft["state"] == "draft"
    assert {"module": "enterprise-registration", "kind": "adjustment", "units": 0,
            "amount": "-12.34", "adjusts_period": "2026-10"} in draft["charges"]
    settle(app, NOVEMBER)
    for code, body in before.items():
        assert statement(client, factory, code, ex.PERIOD) == body     # closed: unchanged
    shenzhen = statement(client, factory, "440300", NOVEMBER)
    assert shenzhen["state"] == "final" and shenzhen["total_charges"] == "-12.34"
    assert {k: v for k, v in shenzhen.items() if k not in ("state", "provider")} == \
        {k: v for k, v in draft.items() if k not in ("state", "as_of")}
    guangdong = statement(client, factory, "440000", NOVEMBER)
    # fee refunded pro rata to October's 5.20 on 520.00: 12.34 × 1 % = 0.1234 → 0.12
    assert adjustments_of(guangdong) == [{"module": "enterprise-registration", "adopter": "440300",
                                      "amount": "-12.22", "fee": "-0.12",
                                      "owner_share_bps": 10000, "kind": "adjustment",
                                      "adjusts_period": "2026-10"}]
    assert guangdong["total_earnings"] == "-12.22"
    listed = client.get("/api/v1/adjustments", headers=admin(factory)).get_json()["items"]
    assert listed[0]["state"] == "booked" and listed[0]["booked_period"] == NOVEMBER
    settle(app, NOVEMBER)                                                  # a rerun books nothing twice
    with app.app_context():
        assert db.session().scalar(sa.select(sa.func.count()).select_from(Charge).where(
            Charge.kind == "adjustment")) == 1
    totals = balanced_every_period(app)
    assert totals[NOVEMBER] == -1234


def test_the_ledger_books_a_credit_reversed_and_stays_balanced(app, client, factory, october):
    ledger = get_ledger(app.config)
    with app.app_context():
        before = {b["jurisdiction"]: b for b in ledger.balances(db.session())}
    adjust(client, factory, october["registration@440300"], "-12.34")
    adjust(client, factory, october["insurance@310000"], "5.00", reason="under-billed")
    settle(app, NOVEMBER)
    with app.app_context():
        session = db.session()
        after = {b["jurisdiction"]: b for b in ledger.balances(session)}
        debits, credits = ledger.trial_balance(session, "CNY")
    assert debits == credits
    assert before["440300"]["receivable"] == "15853.33" and after["440300"]["receivable"] == "15840.99"
    assert after["310000"]["receivable"] == "1671.67"
    # Guangdong: −12.22 on the credit, +4.95 on the debit (5.00 less its pro-rata fee 0.05)
    assert after["440000"]["payable"] == "15357.53"
    balanced_every_period(app)


def test_credits_are_bounded_by_what_was_charged_net(app, client, factory, october):
    iid = october["registration@440300"]
    assert adjust(client, factory, iid, "-500.00").status_code == 201
    refused = adjust(client, factory, iid, "-20.01")
    assert refused.status_code == 409 and refused.get_json()["error"] == "credit_exceeds_charge"
    assert "20.00" in refused.get_json()["message"]
    assert adjust(client, factory, iid, "-20.00").status_code == 201     # the whole 520.00 back
    settle(app, NOVEMBER)
    guangdong = statement(client, factory, "440000", NOVEMBER)
    assert adjustments_of(guangdong)[0]["fee"] == "-5.20"               # exactly October's fee back
    assert adjust(client, factory, october["faq@440300"], "-0.01").get_json()["error"] == \
        "credit_exceeds_charge"                                       # a free line: nothing to credit
    for body, error in (({"amount": "0.00"}, "invalid_amount"), ({"amount": "1.001"}, "invalid_amount"),
                        ({"amount": 5}, "invalid_amount"), ({"installation": 0}, "invalid_installation"),
                        ({"installation": 99999}, "no_charge_line"), ({"period": "2026-12"}, "not_settled"),
                        ({"reason": ""}, "reason_required"), ({"why": "x"}, "unknown_field")):
        answer = client.post("/api/v1/adjustments", headers=admin(factory), json={
            "period": ex.PERIOD, "installation": iid, "amount": "-1.00", "reason": "x", **body})
        assert answer.get_json()["error"] == error, (body, answer.get_json())
        assert answer.status_code in (400, 404, 409)


def test_a_co_owned_modules_adjustment_is_split_by_share(app, market, client, factory):
    from marketplace.governance import shares
    from marketplace.runtime.models import Installation

    app.config["PLATFORM_FEE_BPS"] = ex.FEE_BPS
    version = market.module("shared", "440000", ex.PAY_PER_USE)
    iid = market.install(version, "330100")
    market.usage(iid, 30000, count=10)                                  # 5,000.00 (the cap)
    with app.app_context():
        session = db.session()
        module_id = session.get(Installation, iid).module_id
        shares.set_owners(session, module_id, [("440000", 6000), ("330000", 4000)], None, "2026-01",
                          None)
        session.commit()
    settle(app, ex.PERIOD)
    fix_now(app, AFTER_NOVEMBER)
    assert adjust(client, factory, iid, "-100.01").status_code == 201
    settle(app, NOVEMBER)
    parts = {code: adjustments_of(statement(client, factory, code, NOVEMBER))[0]
             for code in ("440000", "330000")}
    # −100.01 with fee −1.00 (1 % of 100.01, pro rata): earnings −99.01 split 60/40 by largest remainder
    assert (parts["440000"]["amount"], parts["440000"]["fee"]) == ("-59.41", "-0.60")
    assert (parts["330000"]["amount"], parts["330000"]["fee"]) == ("-39.60", "-0.40")
    assert parts["440000"]["owner_share_bps"] == 6000
    balanced_every_period(app)


@pytest.mark.parametrize("seed", range(6))
def test_invariant_holds_in_every_period_with_random_adjustments(app, market, client, factory, seed):
    rng = random.Random(seed)
    app.config["PLATFORM_FEE_BPS"] = rng.choice([0, 1, 100, 333, 2500])
    version = market.module("meter", "440000", {"kind": "pay_per_use", "currency": "CNY",
                                                "model": "per_unit", "unit_price": "0.013"})
    ids = [market.install(version, code) for code in ("440300", "330100", "310000")]
    for iid in ids:
        market.usage(iid, rng.randint(0, 5000), count=rng.randint(1, 3))
    settle(app, ex.PERIOD)
    booked = 0
    for month, after in (("2026-11", "2026-12-02T09:00:00+08:00"),
                         ("2026-12", "2027-01-02T09:00:00+08:00")):
        fix_now(app, after)
        for _ in range(rng.randint(1, 5)):
            iid = rng.choice(ids)
            answer = adjust(client, factory, iid, rng.choice(["-", ""]) + f"{rng.randint(1, 9000) / 100:.2f}")
            assert answer.status_code in (201, 409), answer.get_json()
            booked += answer.status_code == 201
        settle(app, month)
    balanced_every_period(app)
    with app.app_context():
        session = db.session()
        assert session.scalar(sa.select(sa.func.count()).select_from(Adjustment).where(
            Adjustment.booked_period == "")) == 0
        for iid in ids:      # net of October's line and its credits never below zero
            net = session.scalar(sa.select(sa.func.sum(Charge.amount_minor)).where(
                Charge.installation_id == iid,
                sa.or_(Charge.period == ex.PERIOD, Charge.adjusts_period == ex.PERIOD)))
            assert net >= 0


def test_partial_credits_refund_exactly_the_original_fee():
    class Original:
        amount_minor, fee_minor = 52_001, 5_203

    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, Original.amount_minor), rng.randint(1, 6)))
        steps = [b - a for a, b in zip([0] + cuts, cuts + [Original.amount_minor])]
        done, refunded = 0, 0
        for step in steps:
            refunded += _fee_through(-(done + step), Original, 0) - _fee_through(-done, Original, 0)
            done += step
        assert refunded == -Original.fee_minor


def test_stripe_carries_a_credit_as_a_negative_invoice_item(app, market, client, factory, stripe_mock):
    app.config.update(SETTLEMENT_PROVIDER="stripe", STRIPE_API_KEY="sk_test_123",
                      STRIPE_API_BASE=stripe_mock, STRIPE_WEBHOOK_SECRET="whsec_x",
                      PLATFORM_FEE_BPS=ex.FEE_BPS)
    ids = ex.build(market)
    settle(app, ex.PERIOD)
    fix_now(app, AFTER_NOVEMBER)
    assert adjust(client, factory, ids["registration@440300"], "-12.34").status_code == 201
    settle(app, NOVEMBER)
    settle(app, NOVEMBER)
    with app.app_context():
        rows = db.session().execute(sa.select(ProviderRecord.key, ProviderRecord.amount_minor,
                                              ProviderRecord.status, ProviderRecord.external_id)
                                    .where(ProviderRecord.period == NOVEMBER,
                                           ProviderRecord.object_type == "invoiceitem")).all()
    key = f"govmarket:2026-11:440300:item-{ids['registration@440300']}-adjusts-2026-10"
    assert [(r.key, r.amount_minor, r.status) for r in rows] == [(key, -1234, "done")]
    assert rows[0].external_id.startswith("ii_")
    assert statement(client, factory, "440300", NOVEMBER)["provider"]["status"] == "invoiced"


def test_statement_pages_show_the_adjustment_line(app, client, factory, october):
    from tests.web.conftest import login

    adjust(client, factory, october["registration@440300"], "-12.34")
    settle(app, NOVEMBER)
    city = app.test_client()
    login(city, factory.user("adopter", "440300"))
    html = city.get(f"/adopter/statements?period={NOVEMBER}").get_data(as_text=True)
    assert "调整 2026-10" in html and "-¥12.34" in html
    province = app.test_client()
    login(province, factory.user("publisher", "440000"))
    html = province.get(f"/publisher/earnings?period={NOVEMBER}").get_data(as_text=True)
    assert "调整 2026-10" in html and "-¥12.22" in html


def test_an_idempotency_key_makes_a_retry_answer_the_first_adjustment(app, client, factory, october):
    iid = october["registration@440300"]
    body = {"period": ex.PERIOD, "installation": iid, "amount": "-12.34", "reason": "meter fault"}
    headers = {**admin(factory), "Idempotency-Key": "adj-2026-10-5"}
    first = client.post("/api/v1/adjustments", headers=headers, json=body)
    again = client.post("/api/v1/adjustments", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    other = client.post("/api/v1/adjustments", headers=headers, json={**body, "amount": "-1.00"})
    assert other.status_code == 409 and other.get_json()["error"] == "idempotency_key_reused"
    bad = client.post("/api/v1/adjustments", json=body,
                      headers={**admin(factory), "Idempotency-Key": "no spaces"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_idempotency_key"
    with app.app_context():
        assert db.session().scalar(sa.select(sa.func.count()).select_from(Adjustment)) == 1


def test_stripe_takes_a_credit_back_from_the_owner_and_pays_a_debit_on_its_own(
        app, market, client, factory, stripe_mock):
    """Paid October, then a credit and a debit booked into November: when November's invoice is
    paid, the owner's part of the credit is reversed from its October Transfer of that line, and
    the debit's part is a Transfer of its own (not mistaken for November's regular line)."""
    from tests.settlement.test_stripe import event, signed

    app.config.update(SETTLEMENT_PROVIDER="stripe", STRIPE_API_KEY="sk_test_123",
                      STRIPE_API_BASE=stripe_mock, STRIPE_WEBHOOK_SECRET="whsec_test_secret",
                      PLATFORM_FEE_BPS=ex.FEE_BPS)
    ids = ex.build(market)
    settle(app, ex.PERIOD)

    def pay(period, event_id):
        with app.app_context():
            invoice = db.session().scalar(sa.select(service.Statement.provider_ref).where(
                service.Statement.period == period, service.Statement.jurisdiction_code == "440300"))
        body = event("invoice.paid", invoice, event_id)
        answer = client.post("/api/v1/webhooks/stripe", data=body,
                             headers={"Stripe-Signature": signed(body), "Content-Type": "application/json"})
        assert answer.status_code == 200, answer.get_json()

    pay(ex.PERIOD, "evt_oct")
    fix_now(app, AFTER_NOVEMBER)
    assert adjust(client, factory, ids["registration@440300"], "-12.34").status_code == 201
    assert adjust(client, factory, ids["insurance@440300"], "5.00").status_code == 201
    settle(app, NOVEMBER)
    pay(NOVEMBER, "evt_nov")
    pay(NOVEMBER, "evt_nov_again")                        # a second delivery moves nothing more
    with app.app_context():
        rows = db.session().execute(sa.select(ProviderRecord.object_type, ProviderRecord.key,
                                              ProviderRecord.amount_minor, ProviderRecord.external_id)
                                    .where(ProviderRecord.period == NOVEMBER,
                                           ProviderRecord.object_type.in_(("transfer",
                                                                          "transfer_reversal")))
                                    .order_by(ProviderRecord.key)).all()
    registration, insurance = ids["registration@440300"], ids["insurance@440300"]
    found = {(r.object_type, r.key, r.amount_minor) for r in rows}
    assert ("transfer_reversal", f"govmarket:2026-11:440000:reversal-{registration}-adjusts-2026-10",
            1222) in found                                     # 12.34 less its 1 % fee
    assert ("transfer", f"govmarket:2026-11:440000:transfer-{insurance}-adjusts-2026-10",
            495) in found                                      # 5.00 less its 1 % fee
    assert all(r.external_id for r in rows)
    assert [r.object_type for r in rows].count("transfer_reversal") == 1
