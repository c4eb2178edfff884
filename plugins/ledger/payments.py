"""Rules of a ledger payment: one spelling of a bank reference, and only what a settled statement owes."""
from __future__ import annotations

import hashlib
import re
import unicodedata

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.errors import Conflict
from marketplace.money import format_amount
from marketplace.settlement.models import JournalEntry, Period, Statement

# Every dash-like character (Unicode Pd, plus the minus sign) spells "-"; runs of space spell " ".
_DASHES = re.compile(r"[\u002d\u058a\u05be\u1400\u1806\u2010-\u2015\u2212\u2e17\u2e1a\u2e3a\u2e3b"
                     r"\u2e40\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d]")
_SPACES = re.compile(r"\s+")


def reference_key(reference: str) -> str:
    """The one spelling of a bank reference that uniqueness is checked on.

    NFKC (full-width "ＢＡＮＫ" is "BANK"), every dash is "-", whitespace runs are
    one space, no space around, case folded: " BANK-77", "bank‐77" and "ＢＡＮＫ-77"
    are one payment. The text as typed is kept for display.
    """
    text = unicodedata.normalize("NFKC", reference)
    text = _SPACES.sub(" ", _DASHES.sub("-", text)).strip().casefold()
    # NFKC may lengthen text (one "ﷺ" is 18 letters): a long one is keyed by its digest
    return text if len(text) <= 100 else "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def lock_statement(session: Session, code: str, period: str) -> None:
    """Refuse (409 ``not_settled``) unless ``code`` has a statement of the closed ``period``.

    Takes the write lock first (a no-op update of the statement row): payments of
    one statement are serialised, so two concurrent ones never both fit what is owed.
    """
    locked = session.execute(
        sa.update(Statement).where(Statement.period == period, Statement.jurisdiction_code == code,
                                   Statement.period.in_(sa.select(Period.period).where(
                                       Period.period == period, Period.state == "closed")))
        .values(provider_ref=Statement.provider_ref)).rowcount
    if not locked:
        raise Conflict("not_settled", f"{code} has no statement of a settled period {period}: "
                                      "a payment is booked against a closed period's statement; "
                                      "settle the period first or correct the period")


def outstanding(session: Session, code: str, period: str, currency: str, direction: str) -> int:
    """What ``code`` still owes (``in``) or is owed (``out``) for ``period``, in minor units."""
    account, sign = ("receivable", 1) if direction == "in" else ("payable", -1)
    debit, credit = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(JournalEntry.debit_minor), 0),
                  sa.func.coalesce(sa.func.sum(JournalEntry.credit_minor), 0))
        .where(JournalEntry.account == account, JournalEntry.jurisdiction_code == code,
               JournalEntry.period == period, JournalEntry.currency == currency)).one()
    return max(0, sign * (int(debit) - int(credit)))


def check_within(session: Session, code: str, period: str, currency: str, direction: str,
                 amount_minor: int) -> None:
    """Refuse (409 ``overpayment``) a receipt above the receivable or a payout above the payable."""
    due = outstanding(session, code, period, currency, direction)
    if amount_minor > due:
        what = "owes" if direction == "in" else "is owed"
        raise Conflict("overpayment", f"{code} {what} {format_amount(due, currency)} {currency} for "
                                      f"{period}; a payment of {format_amount(amount_minor, currency)} "
                                      "is more than that: book at most the outstanding amount")
