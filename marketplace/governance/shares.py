"""Owners, shares and the exact split of earnings among them (DESIGN §13).

Pure arithmetic (:func:`split`) plus the few reads and the one write of
ownership history that settlement, the catalog and proposals need. Services
only: no Flask, and nothing here commits (the caller owns the transaction).
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from marketplace.clock import check_period, now, period_of
from marketplace.errors import Invalid, NotFound
from marketplace.governance.models import Owner, Ownership

FULL_SHARE = 10_000  # basis points: shares of one ownership sum to this

#: one owner's part of one charge line: (owner code, share_bps, earnings_minor, fee_minor)
OwnerPart = tuple[str, int, int, int]


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
    ordered = sorted(owners)
    return dict(zip((code for code, _ in ordered), _apportion(amount_minor, ordered)))


def _apportion(amount_minor: int, ordered: Sequence[tuple[str, int]]) -> list[int]:
    """The parts of ``amount_minor`` for valid owners in code order (the arithmetic of :func:`split`).

    Each owner gets the floor of its quota; the leftover minor units go one each
    to the largest remainders, ties to the lower code (the earlier in ``ordered``).
    A negative amount (a credit) splits as the mirror of its absolute value.
    """
    if len(ordered) == 1:  # the common case, and the hot path of settlement
        return [amount_minor]
    magnitude = abs(amount_minor)
    parts, remainders = [], []
    for index, (_, bps) in enumerate(ordered):
        part, rest = divmod(magnitude * bps, FULL_SHARE)
        parts.append(part)
        remainders.append((-rest, index))
    for _, index in sorted(remainders)[:magnitude - sum(parts)]:
        parts[index] += 1
    return parts if amount_minor >= 0 else [-part for part in parts]


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
    rows = session.scalars(sa.select(Ownership).options(selectinload(Ownership.owners)).where(
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


def build_cost_in_force(session: Session, module_id: int, period: str) -> int:
    """The build cost (minor units) of the newest decision effective at or before ``period``, else 0."""
    cost = session.scalar(sa.select(Ownership.build_cost_minor)
                          .where(Ownership.module_id == module_id,
                                 Ownership.effective_period <= period)
                          .order_by(Ownership.effective_period.desc(), Ownership.id.desc()).limit(1))
    return int(cost or 0)


def pending_ownership(session: Session, module_id: int, period: str) -> Ownership | None:
    """The decision taking effect next after ``period`` (an accepted change not yet in force), or None.

    Of several decisions for that first later period, the last recorded wins, as in :func:`_latest`.
    """
    return session.scalar(sa.select(Ownership).options(selectinload(Ownership.owners))
                          .where(Ownership.module_id == module_id,
                                 Ownership.effective_period > period)
                          .order_by(Ownership.effective_period, Ownership.id.desc()).limit(1))


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


def line_parts(earnings_minor: int, fee_minor: int, owners: Sequence[tuple[str, int]]) -> list[OwnerPart]:
    """One charge line's publisher side and fee, each split by share: the parts, in code order."""
    if (problem := owners_problem(owners)) is not None:
        raise ValueError(f"line_parts: {problem}")
    return _line_parts(earnings_minor, fee_minor, sorted(owners))


def _line_parts(earnings_minor: int, fee_minor: int, ordered: list[tuple[str, int]]) -> list[OwnerPart]:
    """:func:`line_parts` for owners already checked and in code order."""
    earned, fees = _apportion(earnings_minor, ordered), _apportion(fee_minor, ordered)
    return [(code, bps, e, f) for (code, bps), e, f in zip(ordered, earned, fees)]


def split_lines(session: Session, period: str, lines: Sequence[Any]) -> list[list[OwnerPart]]:
    """THE seam of the earnings split (DESIGN §13): the owners' parts of every line of ``period``.

    Settlement calls this once per period on *every* priced line, whatever its
    ``kind`` (usage, transfer, cost share, and any later kind such as issue 19's
    ``adjustment``, negative amounts included: a credit splits as the mirror of a
    charge). A line is an object with ``module``, ``earnings_minor`` and
    ``fee_minor`` (:class:`marketplace.settlement.pricing.Line`); its owners are those
    in force at the start of ``period``, or of ``line.adjusts_period`` when the line
    has one (an adjustment is shared as the period it corrects was).
    """
    from marketplace.catalog.models import Module

    names = {line.module for line in lines}
    modules = {name: (mid, publisher) for mid, name, publisher in session.execute(
        sa.select(Module.id, Module.name, Module.publisher_code).where(Module.name.in_(names)))
        } if names else {}
    owners: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for at in {getattr(line, "adjusts_period", None) or period for line in lines}:
        found = owners_for_period(session, dict(modules.values()), at)
        for name, (mid, _) in modules.items():
            if (problem := owners_problem(found[mid])) is not None:  # checked once per module
                raise ValueError(f"owners of {name} in {at}: {problem}")
            owners[name, at] = sorted(found[mid])
    return [_line_parts(line.earnings_minor, line.fee_minor,
                        owners[line.module, getattr(line, "adjusts_period", None) or period])
            for line in lines]


def share_rows(period: str, charge_ids: Sequence[int],
               parts: Sequence[Sequence[OwnerPart]]) -> list[dict[str, Any]]:
    """``charge_shares`` rows of a period's lines (ids and parts in the same order as the lines)."""
    return [{"charge_id": cid, "owner_code": code, "period": period, "share_bps": bps,
             "earnings_minor": earned, "fee_minor": fee}
            for cid, line in zip(charge_ids, parts, strict=True) for code, bps, earned, fee in line]


def owner_earnings(session: Session, period: str,
                   charge_ids: Sequence[int] | None = None) -> dict[int, list[tuple[str, int]]]:
    """Per charge line of ``period`` (or of ``charge_ids`` only), its owners' earnings: [(code, minor)…]."""
    from marketplace.governance.models import ChargeShare

    query = (sa.select(ChargeShare.charge_id, ChargeShare.owner_code, ChargeShare.earnings_minor)
             .where(ChargeShare.period == period)
             .order_by(ChargeShare.charge_id, ChargeShare.owner_code))
    if charge_ids is not None:
        query = query.where(ChargeShare.charge_id.in_(list(charge_ids)))
    found: dict[int, list[tuple[str, int]]] = {}
    for charge_id, code, earned in session.execute(query):
        found.setdefault(charge_id, []).append((code, earned))
    return found


def ownership_json(session: Session, module_id: int) -> dict[str, Any]:
    """The module's owners and build cost in force now, for its API card (DESIGN §13).

    ``owners`` ([{code, name, share_bps}]) and ``build_cost`` follow one rule: what is in
    force in the current platform period. When an accepted change takes effect later, the
    card adds ``next_owners``, ``next_build_cost`` and ``owners_effective_period``.
    """
    from marketplace.accounts.models import Jurisdiction
    from marketplace.money import format_amount
    from marketplace.settlement.rules import HOME_CURRENCY

    period = period_of(now())
    owners = owners_in_force(session, module_id, period)
    pending = pending_ownership(session, module_id, period)
    upcoming = [] if pending is None else _owner_list(pending)
    names = dict(session.execute(sa.select(Jurisdiction.code, Jurisdiction.name).where(
        Jurisdiction.code.in_({code for code, _ in owners + upcoming}))).all())

    def listed(found: list[tuple[str, int]]) -> list[dict[str, Any]]:
        return [{"code": code, "name": names.get(code, ""), "share_bps": bps} for code, bps in found]

    out = {"owners": listed(owners),
           "build_cost": format_amount(build_cost_in_force(session, module_id, period),
                                       HOME_CURRENCY)}
    if pending is not None:
        out.update(next_owners=listed(upcoming),
                   next_build_cost=format_amount(pending.build_cost_minor, HOME_CURRENCY),
                   owners_effective_period=pending.effective_period)
    return out
