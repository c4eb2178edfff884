"""The Stripe calls the provider makes, through the official SDK (16.x) over ``requests``.

Every POST carries the Idempotency-Key it is given; the provider derives it from
(period, jurisdiction, line) and stores it unique in our database, because
stripe-mock (used by the tests) does not enforce keys itself.
"""
from __future__ import annotations

from typing import Any, Mapping

import stripe


class StripeGateway:
    """Thin wrapper over ``stripe.StripeClient``: one method per object we create."""

    def __init__(self, api_key: str, api_base: str) -> None:
        self.client = stripe.StripeClient(
            api_key, base_addresses={"api": api_base}, http_client=stripe.RequestsClient(),
            max_network_retries=2)  # safe: every POST carries an idempotency key

    def create_customer(self, key: str, code: str, name: str) -> str:
        """A Customer for an adopter jurisdiction; returns its id."""
        customer = self.client.v1.customers.create(
            params={"name": f"{name} ({code})", "metadata": {"jurisdiction": code}},
            options={"idempotency_key": key})
        return customer.id

    def create_invoice(self, key: str, customer: str, currency: str,
                       metadata: Mapping[str, str], days_until_due: int = 30) -> str:
        """A draft Invoice to be sent (not charged automatically); returns its id."""
        invoice = self.client.v1.invoices.create(
            params={"customer": customer, "collection_method": "send_invoice",
                    "days_until_due": days_until_due, "currency": currency.lower(),
                    "auto_advance": False, "pending_invoice_items_behavior": "exclude",
                    "metadata": dict(metadata)},
            options={"idempotency_key": key})
        return invoice.id

    def add_invoice_item(self, key: str, customer: str, invoice: str, amount_minor: int,
                         currency: str, description: str, metadata: Mapping[str, str]) -> str:
        """One charge line as an InvoiceItem on ``invoice``; returns its id."""
        item = self.client.v1.invoice_items.create(
            params={"customer": customer, "invoice": invoice, "amount": amount_minor,
                    "currency": currency.lower(), "description": description,
                    "metadata": dict(metadata)},
            options={"idempotency_key": key})
        return item.id

    def finalize_invoice(self, key: str, invoice: str) -> str:
        """Finalise the invoice so it can be sent and paid; returns its id."""
        return self.client.v1.invoices.finalize_invoice(
            invoice, options={"idempotency_key": key}).id

    def create_account(self, key: str, code: str, name: str) -> str:
        """A connected (custom) Account for a publisher jurisdiction; returns its id."""
        account = self.client.v1.accounts.create(
            params={"type": "custom", "country": "CN",
                    "capabilities": {"transfers": {"requested": True}},
                    "business_profile": {"name": f"{name} ({code})"},
                    "metadata": {"jurisdiction": code}},
            options={"idempotency_key": key})
        return account.id

    def create_transfer(self, key: str, destination: str, amount_minor: int, currency: str,
                        group: str, metadata: Mapping[str, Any]) -> str:
        """Pay earnings out to a connected account; returns the Transfer id."""
        transfer = self.client.v1.transfers.create(
            params={"amount": amount_minor, "currency": currency.lower(),
                    "destination": destination, "transfer_group": group,
                    "metadata": {k: str(v) for k, v in metadata.items()}},
            options={"idempotency_key": key})
        return transfer.id

    def reverse_transfer(self, key: str, transfer: str, amount_minor: int,
                         metadata: Mapping[str, Any]) -> str:
        """Take ``amount_minor`` of an earlier Transfer back (a credit, DESIGN §15); returns the
        TransferReversal id."""
        reversal = self.client.v1.transfers.reversals.create(
            transfer, params={"amount": amount_minor,
                              "metadata": {k: str(v) for k, v in metadata.items()}},
            options={"idempotency_key": key})
        return reversal.id
