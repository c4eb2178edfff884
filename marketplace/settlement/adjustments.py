"""Adjustments (DESIGN §15): debits and credits on closed periods, booked into the next settlement.

A closed statement never changes. An adjustment names the closed period and
the installation it corrects; the next settlement of a later period books it
as a charge line of kind ``adjustment`` (``adjusts_period`` set) on that
installation's adopter, earned by the module's owners by share, with the
platform fee refunded (or charged) pro rata to the fee of the original line.

Bounds: a credit may not take what the installation was charged for the
period, net of its earlier adjustments, below zero (409 ``credit_exceeds_charge``).
The bound is read and the adjustment written under the installation's lock
(:func:`lock_installation`), so concurrent credits cannot together pass it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from marketplace.accounts.models import User
from marketplace.errors import Conflict, MarketplaceError, NotFound
from marketplace.money import MAX_AMOUNT, format_amount, parse_money, to_minor
from marketplace.runtime.models import Installation
from marketplace.settlement.correction_models import Adjustment
from marketplace.settlement.models import Charge, Period
from marketplace.settlement.pricing import Line, platform_fee
from marketplace.settlement.statements import check_period


def parse_signed(text: object, currency: str = "CNY") -> int:
    """A signed amount typed or sent as a string (``"-12.34"`` a credit) → minor units, or a 400."""
    try:
        return parse_money(text, currency, signed=True)
    except ValueError as exc:
        raise MarketplaceError("invalid_amount", f'{exc}; send e.g. "-12.34" (a credit) or '
                                                 '"5.00" (a debit)') from None


INSTALLATION_LOCK = 0x696E_0000_0000       # "in" namespace + installation id


def lock_installation(session: Session, installation_id: int) -> None:
    """Serialise, until the transaction ends, the money writes of one installation.

    Call it before reading what a write is checked against (adjustments against
    the charge, a dispute's state, a budget): whoever holds it reads the latest
    committed state and writes before anyone else reads. PostgreSQL: a
    transaction-scoped advisory lock of the installation (no row is locked, so
    gateway calls and usage writes never wait on it). SQLite: a write that
    changes nothing takes the database's write lock (the first write of a
    transaction begins it; reads before it see no snapshot to go stale).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": INSTALLATION_LOCK + installation_id})
    else:
        session.execute(sa.update(Installation).where(sa.false()).values(id=Installation.id)
                        .execution_options(synchronize_session=False))


def _charged(session: Session, period: str, installation_id: int) -> Charge:
    """The installation's own (not an adjustment's) charge line of closed ``period``, or a refusal."""
    state = session.scalar(sa.select(Period.state).where(Period.period == period))
    if state != "closed":
        raise Conflict("not_settled", f"period {period} is not settled: only closed periods are "
                                      "adjusted (an open period's draft follows its usage)")
    line = session.scalar(sa.select(Charge).where(
        Charge.period == period, Charge.installation_id == installation_id,
        Charge.kind != "adjustment"))
    if line is None:
        raise NotFound("no_charge_line", f"installation {installation_id} has no charge line in "
                                         f"{period}: there is nothing to adjust")
    return line


def adjusted_total(session: Session, period: str, installation_id: int) -> int:
    """Σ of the adjustments already made on (``period``, installation), booked or not."""
    return int(session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Adjustment.amount_minor), 0))
                              .where(Adjustment.period == period,
                                     Adjustment.installation_id == installation_id)))


def create(session: Session, actor: User | None, period: str, installation_id: int,
           amount_minor: int, reason: str, dispute_id: int | None = None,
           key: str | None = None) -> Adjustment:
    """Record an adjustment of a closed period (booked by the next settlement); audited; caller commits."""
    check_period(period)
    if type(installation_id) is not int or not 1 <= installation_id <= 2**31 - 1:
        raise MarketplaceError("invalid_installation", "installation must be an installation id "
                                                       "(a whole number from 1)")
    if amount_minor == 0:
        raise MarketplaceError("invalid_amount", "an adjustment of 0.00 changes nothing; send a "
                                                 "credit like \"-12.34\" or a debit like \"5.00\"")
    if not reason.strip():
        raise MarketplaceError("reason_required", "say why the period is adjusted (reason)")
    lock_installation(session, installation_id)      # the bound below is read and kept atomically
    line = _charged(session, period, installation_id)
    net = line.amount_minor + adjusted_total(session, period, installation_id)
    if net + amount_minor < 0:
        raise Conflict("credit_exceeds_charge",
                       f"installation {installation_id} was charged {format_amount(net, line.currency)} "
                       f"net for {period}; a credit can be at most that much")
    if net + amount_minor > to_minor(MAX_AMOUNT, line.currency):
        raise Conflict("amount_too_large", "the adjusted charge would exceed 10^12")
    item = Adjustment(period=period, installation_id=installation_id, module_name=line.module_name,
                      adopter_code=line.adopter_code, currency=line.currency,
                      amount_minor=amount_minor, reason=reason, dispute_id=dispute_id,
                      created_by=actor.email if actor else "cli", booked_period="", key=key)
    session.add(item)
    session.flush()
    from marketplace.accounts.service import audit

    audit(session, actor, "adjustment.create", f"{period}:{installation_id}", adjustment=item.id,
          amount=format_amount(amount_minor, line.currency), reason=reason, dispute=dispute_id)
    return item


KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def create_once(session: Session, actor: User | None, key: str | None, period: str,
                installation_id: int, amount_minor: int, reason: str) -> tuple[Adjustment, bool]:
    """:func:`create` under an Idempotency-Key: (the adjustment, whether this call made it).

    A retry with the same key and the same adjustment answers the one made first;
    the same key with another adjustment is a 409 ``idempotency_key_reused``.
    Concurrent retries race on the key's unique constraint: one row is ever made.
    """
    if key is not None and not (0 < len(key) <= 100 and set(key) <= KEY_CHARS):
        raise MarketplaceError("invalid_idempotency_key", "an Idempotency-Key is 1 to 100 "
                               "characters of letters, digits and - _ . :")
    if key is None:
        return create(session, actor, period, installation_id, amount_minor, reason), True
    found = session.scalar(sa.select(Adjustment).where(Adjustment.key == key))
    if found is None:
        try:
            item = create(session, actor, period, installation_id, amount_minor, reason, key=key)
            session.commit()
            return item, True
        except IntegrityError:
            session.rollback()
            found = session.scalar(sa.select(Adjustment).where(Adjustment.key == key))
            if found is None:
                raise
    if (found.period, found.installation_id, found.amount_minor, found.reason) != (
            period, installation_id, amount_minor, reason):
        raise Conflict("idempotency_key_reused", f"Idempotency-Key {key} was used for adjustment "
                                                 f"{found.id}, another adjustment; use a new key")
    return found, False


def adjustment_json(item: Adjustment) -> dict[str, Any]:
    """An adjustment as the API shows it."""
    return {"id": item.id, "period": item.period, "installation": item.installation_id,
            "module": item.module_name, "adopter": item.adopter_code, "currency": item.currency,
            "amount": format_amount(item.amount_minor, item.currency), "reason": item.reason,
            "dispute": item.dispute_id, "created_by": item.created_by,
            "created_at": item.created_at.isoformat(),
            "booked_period": item.booked_period or None,
            "state": "booked" if item.booked_period else "pending"}


def list_adjustments(session: Session, period: str | None = None,
                     adopter: str | None = None) -> list[Adjustment]:
    """Adjustments, newest first (of ``period`` / of ``adopter`` when given)."""
    query = sa.select(Adjustment).order_by(Adjustment.id.desc()).limit(500)
    if period is not None:
        query = query.where(Adjustment.period == check_period(period))
    if adopter is not None:
        query = query.where(Adjustment.adopter_code == adopter)
    return list(session.scalars(query))


# --- booking into the next settlement -------------------------------------------------


@dataclass(frozen=True)
class AdjustmentLine(Line):
    """A charge line of kind ``adjustment``: the sum of an installation's pending adjustments
    of one closed period (``adjusts_period``), negative for a credit."""

    adjusts_period: str = ""


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in exact integers."""
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return magnitude if numerator >= 0 else -magnitude


def _fee_through(cumulative: int, original: Charge, fee_bps: int) -> int:
    """The platform fee on ``cumulative`` adjustments of a line: pro rata to the original line's fee
    (a full credit refunds exactly its fee); a line that charged nothing takes ``fee_bps``."""
    if original.amount_minor > 0:
        return _half_up(cumulative * original.fee_minor, original.amount_minor)
    fee = platform_fee(abs(cumulative), fee_bps)
    return fee if cumulative >= 0 else -fee


def adjustment_lines(session: Session, period: str, fee_bps: int) -> list[tuple[int, AdjustmentLine]]:
    """The adjustment lines settling ``period`` books: every pending adjustment of an earlier
    period, one line per (installation, adjusted period), and marks them booked in ``period``.

    Runs inside the settlement's (or a draft's) transaction: a draft rolls the
    mark back; a settlement commits it with the lines, so a rerun books nothing twice.
    The fee of a group is the pro-rata fee of all adjustments of the line up to and
    including it less that of those before it, so partial credits add up to the
    original fee exactly.
    """
    pending = session.scalars(sa.select(Adjustment).where(
        Adjustment.booked_period == "", Adjustment.period < period)
        .order_by(Adjustment.installation_id, Adjustment.period, Adjustment.id)).all()
    groups: dict[tuple[int, str], list[Adjustment]] = {}
    for item in pending:
        groups.setdefault((item.installation_id, item.period), []).append(item)
    lines = []
    for (installation_id, adjusts), items in groups.items():
        original = session.scalar(sa.select(Charge).where(
            Charge.period == adjusts, Charge.installation_id == installation_id,
            Charge.adjusts_period == ""))
        before = int(session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Adjustment.amount_minor), 0))
                                    .where(Adjustment.period == adjusts,
                                           Adjustment.installation_id == installation_id,
                                           Adjustment.id < items[0].id)))
        amount = sum(item.amount_minor for item in items)
        fee = (_fee_through(before + amount, original, fee_bps)
               - _fee_through(before, original, fee_bps))
        lines.append((installation_id, AdjustmentLine(
            original.module_name, "adjustment", original.adopter_code, original.publisher_code, 0,
            amount, fee, amount - fee, original.currency, adjusts_period=adjusts)))
    if pending:
        session.execute(sa.update(Adjustment).where(Adjustment.id.in_([a.id for a in pending]))
                        .values(booked_period=period))
    return lines
