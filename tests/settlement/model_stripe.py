"""The market model settling through Stripe (stripe-mock): one invoice per paying statement."""
from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from hypothesis.stateful import invariant

from marketplace.settlement.models import Charge, ProviderRecord, Statement
from tests.settlement.model import MarketModel


class StripeMarketModel(MarketModel):
    """Same rules and invariants; settlement goes to Stripe, whose records are checked too."""

    provider = "stripe"
    stripe_url = ""             # set by the test (the stripe_mock fixture)

    def provider_config(self) -> dict:
        return {"STRIPE_API_KEY": "sk_test_model", "STRIPE_API_BASE": self.stripe_url}

    @invariant()
    def each_paying_statement_is_one_invoice_with_one_item_per_line(self):
        for period in self.settled:
            records = self.session.scalars(sa.select(ProviderRecord).where(
                ProviderRecord.provider == "stripe", ProviderRecord.period == period)).all()
            assert {r.status for r in records} <= {"done"}
            for s in self.session.scalars(sa.select(Statement).where(Statement.period == period)):
                code = s.jurisdiction_code
                # one item per non-zero line: an installation's own, and one per period an
                # adjustment corrects (a credit is a negative item, DESIGN §15)
                billable = {(iid, adjusts): amount for iid, adjusts, amount in self.session.execute(
                    sa.select(Charge.installation_id, Charge.adjusts_period, Charge.amount_minor)
                    .where(Charge.period == period, Charge.adopter_code == code,
                           Charge.amount_minor != 0)).all()}
                mine = [r for r in records if r.jurisdiction_code == code]
                kinds = Counter(r.object_type for r in mine)
                items = {_item_line(r.key): r.amount_minor for r in mine
                         if r.object_type == "invoiceitem"}
                assert items == billable
                if billable:
                    assert (kinds["invoice"], kinds["invoice_finalize"]) == (1, 1)
                    assert s.provider_status == "invoiced" and s.provider_ref
                else:
                    assert kinds["invoice"] == 0
                    assert s.provider_status == ("awaiting_payment" if s.total_earnings_minor
                                                 else "nothing_due")


def _item_line(key: str) -> tuple[int, str]:
    """(installation, adjusted period or "") of an invoice item's idempotency key."""
    line = key.split(":item-", 1)[1]
    installation, _, adjusts = line.partition("-adjusts-")
    return int(installation), adjusts
