"""The settlement provider contract: what every provider implements, and what the ledger adds.

Providers are registered by platform plugins (``register_settlement_providers``)
and looked up only through :mod:`marketplace.plugins` (``get_provider``,
``get_ledger``), which refuses an object that does not implement the contract,
so callers never probe for optional methods.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from marketplace.settlement.models import Statement


@runtime_checkable
class Provider(Protocol):
    """What settlement needs of a provider; ledger and Stripe both implement all of it."""

    name: str

    def issue(self, session: Session, statement: Statement) -> str:
        """Hand one statement over; return its new provider status. Idempotent (rerun after a crash)."""

    def issue_all(self, session: Session, statements: list[Statement]) -> dict[str, str]:
        """Hand over many pending statements of one period; return {jurisdiction: status}.

        The caller writes those statuses and commits; a provider may commit as it
        goes (each external call is recorded once), never leave a half-booked state.
        """

    def status(self, session: Session | None = None, statement: Statement | None = None) -> dict:
        """A statement's state at the provider; without one, the provider's health (``ok``)."""

    def handle_webhook(self, session: Session, payload: bytes, headers: Mapping) -> dict:
        """Apply a verified provider event; refuse (MarketplaceError) what does not verify."""


@runtime_checkable
class Books(Provider, Protocol):
    """The built-in ledger: a provider that also keeps balances and books payments."""

    def record_payment(self, session: Session, code: str, amount_minor: int, period: str,
                       direction: str = "in", reference: str = "", *, currency: str) -> dict:
        """Book a payment once (per bank reference); the caller commits."""

    def booked_before(self, session: Session, code: str, period: str, reference: str) -> bool:
        """Whether a payment with this bank reference is booked for ``code`` in ``period``."""

    def balances(self, session: Session, code: str | None = None) -> list[dict]:
        """Per jurisdiction and currency: receivable, payable and net, as formatted amounts."""

    def balance_sums(self, session: Session, currency: str,
                     code: str | None = None) -> dict[str, dict[str, int]]:
        """Per jurisdiction, minor units of ``currency``: receivable and payable."""

    def trial_balance(self, session: Session, currency: str) -> tuple[int, int]:
        """Σ debits and Σ credits of the journal in ``currency``."""

    def trial_balances(self, session: Session) -> dict[str, tuple[int, int]]:
        """Per currency, Σ debits and Σ credits of the journal."""

    def recent_payments(self, session: Session, limit: int = 20) -> list[dict]:
        """The latest payments, newest first."""


def issue_each(provider: Provider, session: Session, statements: list[Statement]) -> dict[str, str]:
    """``issue_all`` for providers that call out per statement: issue and commit each in turn.

    A crash part-way leaves the rest ``pending``; the rerun issues them (and
    repeats nothing already recorded).
    """
    done: dict[str, str] = {}
    for statement in statements:
        statement.provider_status = provider.issue(session, statement) or "issued"
        statement.provider = provider.name
        session.commit()
        done[statement.jurisdiction_code] = statement.provider_status
    return done


def missing(provider: Any, contract: type) -> list[str]:
    """The names of ``contract``'s members that ``provider`` lacks (empty when it complies)."""
    wanted = [n for n in dir(contract) if not n.startswith("_") and n != "name"] + ["name"]
    return sorted(n for n in wanted if not hasattr(provider, n)
                  or (n != "name" and not callable(getattr(provider, n))))
