"""Invariants of the market model: what must hold after every step (see tests/settlement/model.py)."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from hypothesis.stateful import RuleBasedStateMachine, invariant

from marketplace.clock import period_bounds
from marketplace.plugins import get_ledger
from marketplace.settlement.models import Charge, JournalEntry, Statement
from tests.settlement import reference as ref


class MarketChecks(RuleBasedStateMachine):
    """Compares the database with the model's record (``installs``, ``usage``, ``settled``, ``paid``)."""

    @invariant()
    def statements_equal_the_reference_pricing(self):
        for period, how in self.settled.items():
            start, end = period_bounds(period)
            want = ref.price(list(self.installs.values()), self.usage[period], self.used[period],
                             start, end, how["bps"])
            got = {r.installation_id: (r.kind, r.units, r.amount_minor, r.fee_minor)
                   for r in self.session.scalars(sa.select(Charge).where(
                       Charge.period == period, Charge.adjusts_period == ""))}
            assert got == want, f"{period}: database {got} ≠ reference {want}"

    @invariant()
    def every_statement_and_period_balances(self):
        for period in self.settled:
            lines = self.session.scalars(sa.select(Charge).where(Charge.period == period)).all()
            statements = {s.jurisdiction_code: s for s in self.session.scalars(
                sa.select(Statement).where(Statement.period == period))}
            assert set(statements) == {c for ln in lines for c in (ln.adopter_code, ln.publisher_code)}
            for code, s in statements.items():
                mine = [ln for ln in lines if ln.adopter_code == code]
                assert s.total_charges_minor == sum(ln.amount_minor for ln in mine)
                assert s.total_fees_minor == sum(ln.fee_minor for ln in mine)
                assert s.total_earnings_minor == sum(ln.earnings_minor for ln in lines
                                                     if ln.publisher_code == code)
                assert s.currency == "CNY" and s.provider_status != "pending"
            assert sum(s.total_charges_minor for s in statements.values()) == sum(
                s.total_earnings_minor + s.total_fees_minor for s in statements.values())

    @invariant()
    def the_books_balance_and_netting_keeps_net_positions(self):
        if self.provider != "ledger":
            return
        ledger = get_ledger({})
        for currency, (debit, credit) in ledger.trial_balances(self.session).items():
            assert debit == credit, f"trial balance in {currency}: {debit} ≠ {credit}"
        expected = defaultdict(int, self.paid)
        for period, how in self.settled.items():
            for s in self.session.scalars(sa.select(Statement).where(Statement.period == period)):
                expected[s.jurisdiction_code] += s.net_minor
                offset = max(0, min(s.total_charges_minor, s.total_earnings_minor))
                owed = s.total_charges_minor - (offset if how["netting"] and s.total_charges_minor
                                                else 0)
                assert self._booked_receivable(period, s.jurisdiction_code) == owed
        got = {code: v["payable"] - v["receivable"]
               for code, v in ledger.balance_sums(self.session, "CNY").items()}
        assert {c: n for c, n in got.items() if n} == {c: n for c, n in expected.items() if n}

    @invariant()
    def adjustments_are_booked_once_by_the_next_settlement(self):
        """Each adjustment is booked by the first settlement of a later period after it, exactly once;
        no line is ever credited below zero (DESIGN §15)."""
        from marketplace.settlement.correction_models import Adjustment

        booked = defaultdict(int)
        for item in self.session.scalars(sa.select(Adjustment)):
            if item.booked_period:
                assert item.booked_period > item.period and item.booked_period in self.settled
                booked[item.booked_period, item.installation_id, item.period] += item.amount_minor
        lines = {(c.period, c.installation_id, c.adjusts_period): c.amount_minor
                 for c in self.session.scalars(sa.select(Charge).where(Charge.adjusts_period != ""))}
        assert lines == dict(booked)
        net = defaultdict(int)
        for c in self.session.scalars(sa.select(Charge)):
            net[c.installation_id, c.adjusts_period or c.period] += c.amount_minor
        assert all(v >= 0 for v in net.values()), net

    def _booked_receivable(self, period: str, code: str) -> int:
        """What settlement booked as owed by ``code`` for ``period`` (payments excluded)."""
        j = JournalEntry
        debit, credit = self.session.execute(sa.select(
            sa.func.coalesce(sa.func.sum(j.debit_minor), 0), sa.func.coalesce(sa.func.sum(j.credit_minor), 0))
            .where(j.period == period, j.jurisdiction_code == code, j.account == "receivable",
                   j.ref.like(f"govmarket:{period}:%"))).one()
        return int(debit) - int(credit)
