"""Stripe: invoices adopters and pays publishers out through Stripe Connect.

Each adopter jurisdiction is a Customer; each statement with charges becomes
one Invoice (``collection_method=send_invoice``) holding one InvoiceItem per
charge line, then finalised; each owner of a module (its publisher, or its
co-owners, DESIGN §13) is a connected Account and gets a Transfer of its
earnings per line once the adopter's invoice is paid (webhook ``invoice.paid``).  Every POST carries an Idempotency-Key derived from
(period, jurisdiction, line) and recorded unique in our database, so retries
and reruns after a crash never charge or pay twice.
"""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa
import stripe
from sqlalchemy.orm import Session

from marketplace.accounts.models import Jurisdiction
from marketplace.errors import MarketplaceError
from marketplace.governance.shares import owner_earnings
from marketplace.sdk import hookimpl
from marketplace.settlement import records
from marketplace.settlement.models import Statement
from marketplace.settlement.providers import issue_each
from marketplace.settlement.statements import statement_lines

from .client import StripeGateway

NAME = "stripe"
WEBHOOK_TOLERANCE = 300  # seconds: signed events older than this are replays


@hookimpl
def register_settlement_providers(register):
    """Offer the Stripe provider."""
    register(NAME, StripeProvider)


class StripeProvider:
    """Settlement through Stripe invoices (adopters) and Connect transfers (publishers)."""

    name = NAME

    def __init__(self, config: Mapping[str, Any]) -> None:
        if not config.get("STRIPE_API_KEY"):
            raise MarketplaceError("stripe_not_configured",
                                   "set STRIPE_API_KEY to settle through Stripe")
        self.api_base = config.get("STRIPE_API_BASE") or "https://api.stripe.com"
        self.gateway = StripeGateway(config["STRIPE_API_KEY"], self.api_base)
        self.webhook_secret = config.get("STRIPE_WEBHOOK_SECRET") or ""

    def _once(self, session: Session, period: str | None, code: str, line: str, object_type: str,
              call, amount_minor: int = 0) -> str:
        """Make one Stripe call at most once; returns the Stripe id."""
        key = records.idempotency_key(period, code, line)
        return records.once(session, provider=NAME, key=key, object_type=object_type,
                            period=period, jurisdiction=code, call=call,
                            amount_minor=amount_minor).external_id

    def _name(self, session: Session, code: str) -> str:
        """A jurisdiction's name for Stripe objects."""
        found = session.get(Jurisdiction, code)
        return found.name if found else code

    def customer(self, session: Session, code: str) -> str:
        """The Customer id of an adopter (created on first need)."""
        return self._once(session, None, code, "customer", "customer",
                          lambda key: self.gateway.create_customer(key, code, self._name(session, code)))

    def account(self, session: Session, code: str) -> str:
        """The connected Account id of a publisher (created on first need)."""
        return self._once(session, None, code, "account", "account",
                          lambda key: self.gateway.create_account(key, code, self._name(session, code)))

    def issue(self, session: Session, statement: Statement) -> str:
        """Invoice the statement's charges and make sure its publisher can be paid out."""
        period, code, cur = statement.period, statement.jurisdiction_code, statement.currency
        charges, _ = statement_lines(session, period, code)
        billable = [c for c in charges if c.amount_minor]
        if statement.total_earnings_minor:
            self.account(session, code)
        if not billable:
            return "awaiting_payment" if statement.total_earnings_minor else "nothing_due"
        customer = self.customer(session, code)
        meta = {"period": period, "jurisdiction": code}
        invoice = self._once(session, period, code, "invoice", "invoice", lambda key: (
            self.gateway.create_invoice(key, customer, cur, meta)))
        for charge in billable:
            self._once(session, period, code, _item_line(charge), "invoiceitem",
                       lambda key, c=charge: self.gateway.add_invoice_item(
                           key, customer, invoice, c.amount_minor, cur,
                           f"{c.module_name} {period} ({c.kind}, {c.units} units)",
                           {**meta, "installation": str(c.installation_id)}),
                       amount_minor=charge.amount_minor)
        self._once(session, period, code, "finalize", "invoice_finalize",
                   lambda key: self.gateway.finalize_invoice(key, invoice))
        statement.provider_ref = invoice
        return "invoiced"

    def issue_all(self, session: Session, statements: list[Statement]) -> dict[str, str]:
        """Issue each statement in turn, committing its status as soon as Stripe has it."""
        return issue_each(self, session, statements)

    def status(self, session: Session | None = None, statement: Statement | None = None) -> dict:
        """The statement's Stripe objects as recorded in our database; without one, the set-up."""
        if session is None or statement is None:
            return {"provider": NAME, "ok": True, "api_base": self.api_base,
                    "webhook_secret_set": bool(self.webhook_secret)}
        rows = session.scalars(sa.select(records.ProviderRecord).where(
            records.ProviderRecord.provider == NAME,
            records.ProviderRecord.period == statement.period,
            records.ProviderRecord.jurisdiction_code == statement.jurisdiction_code)
            .order_by(records.ProviderRecord.id))
        return {"status": statement.provider_status, "invoice": statement.provider_ref,
                "objects": [{"type": r.object_type, "id": r.external_id, "status": r.status}
                            for r in rows]}

    def pay_out(self, session: Session, statement: Statement) -> None:
        """Transfer each line's earnings of a paid invoice to its owners (once per line and owner)."""
        charges, _ = statement_lines(session, statement.period, statement.jurisdiction_code)
        owners = owner_earnings(session, statement.period, [c.id for c in charges])
        for charge in charges:
            for code, earned in owners.get(charge.id) or [(charge.publisher_code,
                                                            charge.earnings_minor)]:
                if earned > 0:
                    self._transfer(session, charge, code, earned)
                elif earned < 0:
                    self._reverse(session, charge, code, -earned)

    def _transfer(self, session: Session, charge: Any, code: str, amount_minor: int) -> None:
        """One Transfer of ``amount_minor`` of ``charge`` to owner ``code``, keyed (period, owner, line)."""
        destination = self.account(session, code)
        self._once(session, charge.period, code, _transfer_line(charge), "transfer",
                   lambda key, c=charge: self.gateway.create_transfer(
                       key, destination, amount_minor, c.currency, f"{c.period}:{c.adopter_code}",
                       {"period": c.period, "adopter": c.adopter_code, "module": c.module_name}),
                   amount_minor=amount_minor)

    def _reverse(self, session: Session, charge: Any, code: str, amount_minor: int) -> None:
        """A credit's owner part taken back from the owner's Transfer for the corrected period.

        One TransferReversal per (period, owner, line), at most what that Transfer paid
        less what earlier credits took back. Nothing was paid out for the corrected line
        yet (its invoice unpaid): nothing to take back, and the credit stays on the books.
        """
        adjusted = getattr(charge, "adjusts_period", "") or ""
        original = records.find(session, records.idempotency_key(
            adjusted, code, f"transfer-{charge.installation_id}"))
        if original is None or original.status != "done" or not original.external_id:
            return
        taken = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(
            records.ProviderRecord.amount_minor), 0)).where(
            records.ProviderRecord.provider == NAME,
            records.ProviderRecord.object_type == "transfer_reversal",
            records.ProviderRecord.jurisdiction_code == code,
            records.ProviderRecord.key.like(f"%:reversal-{charge.installation_id}-adjusts-"
                                            f"{adjusted}")))
        amount = min(amount_minor, original.amount_minor - int(taken or 0))
        if amount <= 0:
            return
        self._once(session, charge.period, code,
                   f"reversal-{charge.installation_id}-adjusts-{adjusted}", "transfer_reversal",
                   lambda key: self.gateway.reverse_transfer(
                       key, original.external_id, amount,
                       {"period": charge.period, "adjusts_period": adjusted,
                        "adopter": charge.adopter_code, "module": charge.module_name}),
                   amount_minor=amount)

    def handle_webhook(self, session: Session, payload: bytes, headers: Mapping) -> dict:
        """Verify a Stripe event's signature and apply ``invoice.paid`` / ``invoice.payment_failed``."""
        if not self.webhook_secret:
            raise MarketplaceError("webhook_not_configured", "set STRIPE_WEBHOOK_SECRET", status=503)
        try:
            event = stripe.Webhook.construct_event(payload, headers.get("Stripe-Signature"),
                                                   self.webhook_secret, WEBHOOK_TOLERANCE)
        except stripe.SignatureVerificationError:
            raise MarketplaceError("invalid_signature", "the Stripe-Signature header does not verify "
                                   f"(wrong secret, or older than {WEBHOOK_TOLERANCE} s)") from None
        except ValueError:
            raise MarketplaceError("invalid_payload", "the webhook body is not a Stripe event") from None
        if event.type not in ("invoice.paid", "invoice.payment_failed"):
            return {"received": True, "event": event.id, "applied": False}
        statement = session.scalar(sa.select(Statement).where(
            Statement.provider == NAME, Statement.provider_ref == event.data.object.id))
        if statement is None:
            return {"received": True, "event": event.id, "applied": False}

        def apply(_key: str) -> str:
            if event.type == "invoice.paid":
                statement.provider_status = "paid"
                session.commit()
                self.pay_out(session, statement)
            elif statement.provider_status != "paid":
                statement.provider_status = "payment_failed"
            return event.id
        self._once(session, statement.period, statement.jurisdiction_code,
                   f"event-{event.id}", "event", apply)
        return {"received": True, "event": event.id, "applied": True,
                "statement": {"jurisdiction": statement.jurisdiction_code,
                              "period": statement.period, "status": statement.provider_status}}


def _transfer_line(charge: Any) -> str:
    """The idempotency line of an owner's Transfer of a charge line (adjustment lines apart)."""
    return "transfer" + _item_line(charge)[len("item"):]


def _item_line(charge: Any) -> str:
    """The idempotency line of a charge's InvoiceItem: one per installation, plus one per
    period an adjustment corrects (a negative item for a credit, DESIGN §15)."""
    adjusts = getattr(charge, "adjusts_period", "")
    return f"item-{charge.installation_id}" + (f"-adjusts-{adjusts}" if adjusts else "")
