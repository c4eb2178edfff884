"""Ledger: the default settlement provider, a double-entry journal in the marketplace database.

Accounts: ``receivable`` (what a jurisdiction owes the platform), ``payable``
(what the platform owes a jurisdiction), ``platform_fee`` and ``cash``.
Issuing an adopter's statement books, per charge line, Dr receivable[adopter]
= Cr payable[owner] for each owner of the module (DESIGN §13: one payable per
owner, its part of the line) + Cr platform_fee.  An admin records payments:
money in is Dr cash / Cr receivable, a payout is Dr payable / Cr cash.
Each statement is booked once, atomically, under its idempotency key.

Netting (``MARKETPLACE_NETTING=1``): a jurisdiction that is both adopter and
publisher in a period also gets Dr payable / Cr receivable of the smaller of
its charges and earnings, so it owes or is owed only its net position across
all modules; payments then settle that net amount.
"""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.clock import now
from marketplace.errors import MarketplaceError
from marketplace.governance.shares import owner_earnings
from marketplace.money import MAX_AMOUNT, format_amount, to_minor
from marketplace.sdk import hookimpl
from marketplace.settlement import records
from marketplace.settlement.models import JournalEntry, Statement
from marketplace.settlement.statements import charge_lines, check_period, statement_lines

from .payments import check_within, lock_statement, reference_key

NAME = "ledger"
MAX_REFERENCE = 100     # a bank reference (ProviderRecord.external_id holds 100)


@hookimpl
def register_settlement_providers(register):
    """Offer the ledger provider."""
    register(NAME, LedgerProvider)


def _entry(period: str, account: str, code: str | None, currency: str, ref: str,
           debit: int = 0, credit: int = 0) -> dict:
    """One journal line (a row for a Core insert)."""
    return {"period": period, "account": account, "jurisdiction_code": code, "currency": currency,
            "debit_minor": debit, "credit_minor": credit, "ref": ref, "created_at": now()}


def charge_entries(charge: Any, ref: str, owners: list[tuple[str, int]] | None = None) -> list[dict]:
    """Journal lines of one charge: Dr receivable[adopter] = Cr payable[owner]… + Cr platform_fee.

    ``owners``: each owner's earnings of the line, (code, minor) (default: all to its publisher).
    """
    p, cur = charge.period, charge.currency
    entries = [_entry(p, "receivable", charge.adopter_code, cur, ref, **_side(charge.amount_minor))]
    for code, earned in owners or [(charge.publisher_code, charge.earnings_minor)]:
        if earned:
            entries.append(_entry(p, "payable", code, cur, ref, **_side(-earned)))
    if charge.fee_minor:
        entries.append(_entry(p, "platform_fee", None, cur, ref, **_side(-charge.fee_minor)))
    return entries


def _side(minor: int) -> dict[str, int]:
    """A signed amount as a journal side: > 0 a debit, < 0 a credit (an adjustment's credit
    line, DESIGN §15, books the charge's entries reversed)."""
    return {"debit": minor} if minor >= 0 else {"credit": -minor}


def netting_entries(statement: Statement, ref: str) -> list[dict]:
    """With netting: offset a jurisdiction's period receivable against its payable (Dr payable, Cr receivable)."""
    offset = min(statement.total_charges_minor, statement.total_earnings_minor)
    if offset <= 0:
        return []
    p, code, cur = statement.period, statement.jurisdiction_code, statement.currency
    return [_entry(p, "payable", code, cur, f"{ref}:netting", debit=offset),
            _entry(p, "receivable", code, cur, f"{ref}:netting", credit=offset)]


def _book(session: Session, entries: list[dict]) -> None:
    """Insert journal lines in one statement (the caller commits)."""
    if entries:
        session.connection().execute(JournalEntry.__table__.insert(), entries)


class LedgerProvider:
    """Books statements in the journal; payments are recorded by an administrator."""

    name = NAME

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.netting = bool(config.get("NETTING"))

    def _entries(self, statement: Statement, lines: list, ref: str,
                 owners: dict[int, list[tuple[str, int]]]) -> list[dict]:
        """All journal lines of one statement: its charges, then the netting offset if enabled."""
        entries = [e for c in lines
                   for e in charge_entries(c, f"{ref}:{c.installation_id}", owners.get(c.id))]
        return entries + (netting_entries(statement, ref) if self.netting else [])

    def issue(self, session: Session, statement: Statement) -> str:
        """Book the statement's charge lines in one go, once; publishers' earnings come with them."""
        charges, _ = statement_lines(session, statement.period, statement.jurisdiction_code)
        billable = [c for c in charges if c.amount_minor]
        if billable:
            key = records.idempotency_key(statement.period, statement.jurisdiction_code, "journal")

            owners = owner_earnings(session, statement.period, [c.id for c in billable])

            def book(ref: str) -> str:
                _book(session, self._entries(statement, billable, ref, owners))
                return ref
            records.once(session, provider=NAME, key=key, object_type="journal",  # same key as issue_all
                         period=statement.period, jurisdiction=statement.jurisdiction_code,
                         amount_minor=statement.total_charges_minor, call=book)
        due = statement.total_charges_minor or statement.total_earnings_minor
        return "booked" if due else "nothing_due"

    def issue_all(self, session: Session, statements: list[Statement]) -> dict[str, str]:
        """Book many statements in the caller's transaction; one round trip per kind of row.

        Each statement's record is claimed with ``ON CONFLICT DO NOTHING``: a
        statement booked before (or by a concurrent run) is skipped.
        """
        period = statements[0].period
        keys = {s.jurisdiction_code: records.idempotency_key(period, s.jurisdiction_code, "journal")
                for s in statements}
        lines = session.execute(charge_lines(period)).all()
        billable: dict[str, list] = {}
        for line in lines:
            if line.adopter_code in keys:
                billable.setdefault(line.adopter_code, []).append(line)
        stamp = now()
        won = records.claim_all(session, [
            {"provider": NAME, "key": keys[code], "object_type": "journal", "period": period,
             "jurisdiction_code": code, "external_id": keys[code], "status": "done",
             "amount_minor": sum(c.amount_minor for c in items), "created_at": stamp, "updated_at": stamp}
            for code, items in billable.items()])
        by_code = {s.jurisdiction_code: s for s in statements}
        owners = owner_earnings(session, period)
        records.insert_rows(session, JournalEntry.__table__, [
            entry for code, items in billable.items() if keys[code] in won
            for entry in self._entries(by_code[code], items, keys[code], owners)])
        return {s.jurisdiction_code: "booked" if s.total_charges_minor or s.total_earnings_minor
                else "nothing_due" for s in statements}

    def status(self, session: Session | None = None, statement: Statement | None = None) -> dict:
        """A statement's ledger balance; without one, the provider's health."""
        if session is None or statement is None:
            return {"provider": NAME, "ok": True, "netting": self.netting}
        return balance(session, statement.jurisdiction_code, statement.currency)

    def handle_webhook(self, session: Session, payload: bytes, headers: Mapping) -> dict:
        """The ledger has no webhooks."""
        raise MarketplaceError("no_webhooks", "the ledger provider receives no webhooks", status=404)

    # The books (marketplace.settlement.providers.Books): core reaches them through the registry.
    def record_payment(self, session: Session, code: str, amount_minor: int, period: str,
                       direction: str = "in", reference: str = "", *, currency: str) -> dict:
        """See :func:`record_payment`."""
        return record_payment(session, code, amount_minor, period, direction, reference,
                              currency=currency)

    def booked_before(self, session: Session, code: str, period: str, reference: str) -> bool:
        """See :func:`booked_before`."""
        return booked_before(session, code, period, reference)

    def balances(self, session: Session, code: str | None = None) -> list[dict]:
        """See :func:`balances`."""
        return balances(session, code)

    def balance_sums(self, session: Session, currency: str,
                     code: str | None = None) -> dict[str, dict[str, int]]:
        """See :func:`balance_sums`."""
        return balance_sums(session, currency, code)

    def trial_balance(self, session: Session, currency: str) -> tuple[int, int]:
        """See :func:`trial_balance`."""
        return trial_balance(session, currency)

    def trial_balances(self, session: Session) -> dict[str, tuple[int, int]]:
        """See :func:`trial_balances`."""
        return trial_balances(session)

    def recent_payments(self, session: Session, limit: int = 20) -> list[dict]:
        """See :func:`recent_payments`."""
        return recent_payments(session, limit)


def record_payment(session: Session, code: str, amount_minor: int, period: str,
                   direction: str = "in", reference: str = "", *, currency: str) -> dict:
    """Book a payment in ``currency``: ``in`` = the jurisdiction paid the platform, ``out`` = it was paid.

    With a ``reference`` the same payment (however the reference is spelled, see
    :func:`reference_key`) is booked only once: the answer is the balance with
    ``booked`` false when it was booked before.  Only against a closed period's
    statement and at most what is outstanding (409).  The caller commits.
    """
    check_period(period)
    if direction not in ("in", "out"):
        raise MarketplaceError("invalid_direction", 'direction must be "in" or "out"')
    if (isinstance(amount_minor, bool) or not isinstance(amount_minor, int)
            or not 0 < amount_minor <= to_minor(MAX_AMOUNT, currency)):
        raise MarketplaceError("invalid_amount", "the payment amount must be positive and at "
                                                 f"most {MAX_AMOUNT:,} {currency}")
    if (not isinstance(reference, str) or len(reference) > MAX_REFERENCE or "\x00" in reference
            or not reference.isprintable()):
        raise MarketplaceError("invalid_reference", f"a bank reference is text of at most "
                               f"{MAX_REFERENCE} printable characters")
    lock_statement(session, code, period)       # a settled statement, payments one at a time
    ref = reference or _payment_ref(code, period, direction)
    if reference:
        key = _reference_key(code, period, reference)
        if records.find(session, key) is not None:
            return {**balance(session, code, currency), "booked": False}
    check_within(session, code, period, currency, direction, amount_minor)
    if reference:
        session.add(records.ProviderRecord(provider=NAME, key=key, object_type="payment",
                                           period=period, jurisdiction_code=code, status="done",
                                           amount_minor=amount_minor, external_id=reference))
    if direction == "in":
        _book(session, [_entry(period, "cash", None, currency, ref, debit=amount_minor),
                        _entry(period, "receivable", code, currency, ref, credit=amount_minor)])
    else:
        _book(session, [_entry(period, "payable", code, currency, ref, debit=amount_minor),
                        _entry(period, "cash", None, currency, ref, credit=amount_minor)])
    session.flush()
    return {**balance(session, code, currency), "booked": True}


def _sums(session: Session, code: str | None = None) -> dict[tuple[str, str], dict[str, int]]:
    """Per (jurisdiction, currency), in minor units: ``receivable`` and ``payable``.

    Grouped by currency: amounts in two currencies are never added together.
    """
    query = (sa.select(JournalEntry.jurisdiction_code, JournalEntry.currency, JournalEntry.account,
                       sa.func.sum(JournalEntry.debit_minor), sa.func.sum(JournalEntry.credit_minor))
             .where(JournalEntry.jurisdiction_code.is_not(None))
             .group_by(JournalEntry.jurisdiction_code, JournalEntry.currency, JournalEntry.account))
    if code is not None:
        query = query.where(JournalEntry.jurisdiction_code == code)
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for juris, cur, account, debit, credit in session.execute(query):
        item = sums.setdefault((juris, cur), {"receivable": 0, "payable": 0})
        if account == "receivable":
            item["receivable"] += int(debit) - int(credit)
        elif account == "payable":
            item["payable"] += int(credit) - int(debit)
    return dict(sorted(sums.items()))


def balance_sums(session: Session, currency: str, code: str | None = None) -> dict[str, dict[str, int]]:
    """Per jurisdiction, in minor units of ``currency`` only: ``receivable`` (owes the platform),
    ``payable`` (is owed)."""
    return {juris: v for (juris, cur), v in _sums(session, code).items() if cur == currency}


def recent_payments(session: Session, limit: int = 20) -> list[dict]:
    """The latest payments, newest first: when, jurisdiction, direction, amount, period and
    bank reference ("" when none was given)."""
    cash = sa.select(JournalEntry.ref).where(JournalEntry.account == "cash")
    lines = session.scalars(
        sa.select(JournalEntry).where(JournalEntry.account.in_(("receivable", "payable")),
                                      JournalEntry.ref.in_(cash))
        .order_by(JournalEntry.id.desc()).limit(limit))
    return [{"at": line.created_at, "jurisdiction": line.jurisdiction_code, "period": line.period,
             "direction": direction, "amount_minor": line.credit_minor or line.debit_minor,
             "currency": line.currency,
             "reference": "" if line.ref == _payment_ref(line.jurisdiction_code, line.period,
                                                         direction) else line.ref}
            for line in lines
            for direction in ["in" if line.account == "receivable" else "out"]]


def booked_before(session: Session, code: str, period: str, reference: str) -> bool:
    """Whether a payment with this bank reference is booked for ``code`` in ``period``."""
    return records.find(session, _reference_key(code, period, reference)) is not None


def _reference_key(code: str, period: str, reference: str) -> str:
    return records.idempotency_key(period, code, f"payment-{reference_key(reference)}")


def _payment_ref(code: str, period: str, direction: str) -> str:
    """The journal ref of a payment booked without a bank reference."""
    return f"payment:{code}:{period}:{direction}"


def _item(juris: str, currency: str, v: dict[str, int]) -> dict:
    return {"jurisdiction": juris, "currency": currency,
            "receivable": format_amount(v["receivable"], currency),
            "payable": format_amount(v["payable"], currency),
            "net": format_amount(v["payable"] - v["receivable"], currency)}


def balances(session: Session, code: str | None = None) -> list[dict]:
    """Per jurisdiction and currency: receivable (owes the platform), payable (is owed), net.

    ``net`` = payable − receivable; one item per currency the jurisdiction has
    journal lines in, each labelled with its own currency.
    """
    return [_item(juris, cur, v) for (juris, cur), v in _sums(session, code).items()]


def balance(session: Session, code: str, currency: str) -> dict:
    """One jurisdiction's balance in ``currency`` (zero when it has no lines in it)."""
    sums = _sums(session, code).get((code, currency), {"receivable": 0, "payable": 0})
    return _item(code, currency, sums)


def trial_balances(session: Session) -> dict[str, tuple[int, int]]:
    """Per currency, Σ debits and Σ credits of the journal (equal in a sound ledger)."""
    rows = session.execute(sa.select(JournalEntry.currency, sa.func.sum(JournalEntry.debit_minor),
                                     sa.func.sum(JournalEntry.credit_minor))
                           .group_by(JournalEntry.currency).order_by(JournalEntry.currency))
    return {cur: (int(debit), int(credit)) for cur, debit, credit in rows}


def trial_balance(session: Session, currency: str) -> tuple[int, int]:
    """Σ debits and Σ credits of the journal in ``currency``."""
    return trial_balances(session).get(currency, (0, 0))
