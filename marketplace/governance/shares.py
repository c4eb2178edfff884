"""Owners, shares and the exact split of earnings among them (DESIGN §13).

Pure arithmetic (:func:`split`) plus the few reads and the one write of
ownership history that settlement, the catalog and proposals need. Services
only: no Flask, and nothing here commits (the caller owns the transaction).
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.clock import check_period, now, period_of
from marketplace.errors import Invalid, NotFound
from marketplace.governance.models import Owner, Ownership
from marketplace.settlement.pricing import largest_remainder

FULL_SHARE = 10_000  # basis points: shares of one ownership sum to this


class OwnershipError(Invalid):
    """Owners that cannot be recorded: reason ``invalid_owners`` and what to fix."""


def owners_problem(owners: Sequence[tuple[str, int]]) -> str | None:
    """Why ``owners`` is not a valid owner list (None when it is): shares > 0, no repeats, Σ 10,000."""
    if not owners:
        return "a module needs at least one owner"
    codes = [code for code, _ in owners]
    if len(set(codes)) != len(codes):
        return "an owner is listed twice; list each jurisdiction once"
    for code, bps in owners:
        if not isinstance(bps, int) or isinstance(bps, bool) or not 0 < bps <= FULL_SHARE:
            return f"the share of {code} must be a whole number of basis points from 1 to 10000"
    if (total := sum(bps for _, bps in owners)) != FULL_SHARE:
        return f"shares must sum to 10000 basis points, these sum to {total}"
    return None


def split(amount_minor: int, owners: Sequence[tuple[str, int]]) -> dict[str, int]:
    """``amount_minor`` split by share, largest remainder in minor units, ties to the lower code, exactly."""
    if (problem := owners_problem(owners)) is not None:
        raise ValueError(f"split: {problem}")
    if len(owners) == 1:  # the common case, and the hot path of settlement
        return {owners[0][0]: amount_minor}
    if amount_minor < 0:  # a credit splits as the mirror of the charge it reverses
        return {code: -part for code, part in split(-amount_minor, owners).items()}
    return largest_remainder(amount_minor, list(owners))


def _publisher(session: Session, module_id: int) -> str:
    """The publisher code of a module, or NotFound."""
    from marketplace.catalog.models import Module

    code = session.scalar(sa.select(Module.publisher_code).where(Module.id == module_id))
    if code is None:
        raise NotFound("no_module", f"no module with id {module_id}")
    return code


def _latest(session: Session, module_ids: Iterable[int], period: str) -> dict[int, Ownership]:
    """Per module, its newest ownership decision effective at or before ``period``."""
    ids = list(module_ids)
    if not ids:
        return {}
    rows = session.scalars(sa.select(Ownership).where(
        Ownership.module_id.in_(ids), Ownership.effective_period <= period)
        .order_by(Ownership.module_id, Ownership.effective_period, Ownership.id)).all()
    return {row.module_id: row for row in rows}  # the last per module wins


def _owner_list(ownership: Ownership) -> list[tuple[str, int]]:
    """An ownership's owners as (code, share_bps) in code order."""
    return sorted((o.jurisdiction_code, o.share_bps) for o in ownership.owners)


def owners_for_period(session: Session, modules: dict[int, str],
                      period: str) -> dict[int, list[tuple[str, int]]]:
    """Owners in force at the start of ``period`` for many modules ({module id: publisher}) at once."""
    check_period(period)
    found = _latest(session, modules, period)
    return {mid: _owner_list(found[mid]) if mid in found else [(publisher, FULL_SHARE)]
            for mid, publisher in modules.items()}


def owners_in_force(session: Session, module_id: int, period: str) -> list[tuple[str, int]]:
    """The owners in force at the start of ``period`` (no ownership rows: the publisher, 10,000)."""
    return owners_for_period(session, {module_id: _publisher(session, module_id)}, period)[module_id]


def current_owners(session: Session, module_id: int) -> list[tuple[str, int]]:
    """The owners in force in the current platform period."""
    return owners_in_force(session, module_id, period_of(now()))


def build_cost_minor(session: Session, module_id: int) -> int:
    """The module's build cost in minor units (CNY) as last recorded, 0 when never recorded."""
    return _recorded_cost(session, module_id)


def _recorded_cost(session: Session, module_id: int) -> int:
    """The build cost of the newest ownership decision (by effective period), 0 without one."""
    cost = session.scalar(sa.select(Ownership.build_cost_minor)
                          .where(Ownership.module_id == module_id)
                          .order_by(Ownership.effective_period.desc(), Ownership.id.desc()).limit(1))
    return int(cost or 0)


def ownership_history(session: Session, module_id: int) -> list[dict[str, Any]]:
    """Every recorded ownership decision of a module, oldest first (effective period, owners, cost)."""
    rows = session.scalars(sa.select(Ownership).where(Ownership.module_id == module_id)
                           .order_by(Ownership.effective_period, Ownership.id)).all()
    return [{"effective_period": row.effective_period, "owners": _owner_list(row),
             "build_cost_minor": row.build_cost_minor, "recorded_by": row.recorded_by,
             "recorded_at": row.recorded_at} for row in rows]


def set_owners(session: Session, module_id: int, owners: list[tuple[str, int]],
               build_cost_minor: int | None, effective_period: str, actor: Any) -> None:
    """Record new owners (and build cost; None keeps the last) from ``effective_period`` on; no commit."""
    from marketplace.accounts.models import Jurisdiction
    from marketplace.accounts.service import audit

    try:
        check_period(effective_period)
    except ValueError as exc:
        raise OwnershipError("invalid_period", str(exc)) from None
    owners = [(str(code), bps) for code, bps in owners]
    if (problem := owners_problem(owners)) is not None:
        raise OwnershipError("invalid_owners", problem)
    known = set(session.scalars(sa.select(Jurisdiction.code).where(
        Jurisdiction.code.in_([code for code, _ in owners]))))
    if unknown := sorted({code for code, _ in owners} - known):
        raise OwnershipError("invalid_owners", f"no jurisdiction with code {', '.join(unknown)}")
    if build_cost_minor is not None and (not isinstance(build_cost_minor, int)
                                         or isinstance(build_cost_minor, bool)
                                         or build_cost_minor < 0):
        raise OwnershipError("invalid_build_cost", "the build cost must be an amount ≥ 0")
    _publisher(session, module_id)
    cost = build_cost_minor if build_cost_minor is not None else _recorded_cost(session, module_id)
    who = getattr(actor, "email", None) or (actor if isinstance(actor, str) and actor else "system")
    row = Ownership(module_id=module_id, effective_period=effective_period, build_cost_minor=cost,
                    recorded_by=who[:254], recorded_at=now(),
                    owners=[Owner(jurisdiction_code=code, share_bps=bps) for code, bps in owners])
    session.add(row)
    session.flush()
    audit(session, actor if hasattr(actor, "jurisdiction_code") else None, "governance.owners_set",
          str(module_id), effective_period=effective_period, build_cost_minor=cost,
          owners=[{"code": code, "share_bps": bps} for code, bps in sorted(owners)])


def owners_by_module(session: Session, module_ids: Iterable[int],
                     period: str) -> dict[int, list[tuple[str, int]]]:
    """Owners in force in ``period`` for modules by id, each module's publisher filling the gaps."""
    from marketplace.catalog.models import Module

    ids = list(module_ids)
    publishers = dict(session.execute(sa.select(Module.id, Module.publisher_code)
                                      .where(Module.id.in_(ids))).all()) if ids else {}
    return owners_for_period(session, publishers, period)

