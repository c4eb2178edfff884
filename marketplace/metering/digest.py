"""Verifiable usage: a hash chain of daily digests per installation (see README.md, "Verifiable usage").

For each installation and platform-zone day with events::

    digest(day) = sha256_hex(previous + "\\n" + line_1 + "\\n" + … + line_n)
    line        = f"{event_id}:{units}:{status}"   (events sorted by event_id)
    previous    = digest of the installation's previous sealed day,
                  or sha256_hex("govmarket:" + str(installation_id)) for the first

Sealed days never change: reported usage for a sealed day is refused
(``period_closed``), so recomputing the chain from the events must give the
stored digests; any difference is tampering.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.clock import local_day, now, period_bounds
from marketplace.errors import MarketplaceError
from marketplace.metering.models import UsageDigest, UsageEvent

_EVENTS = UsageEvent.__table__.c
_DIGESTS = UsageDigest.__table__


def genesis(installation_id: int) -> str:
    """The ``previous`` of an installation's first sealed day."""
    return hashlib.sha256(f"govmarket:{installation_id}".encode()).hexdigest()


def day_digest(previous: str, events: Iterable[tuple[str, int, str]]) -> str:
    """Digest of one day: the previous digest and the day's (event_id, units, status), sorted."""
    lines = [previous] + [f"{e}:{u}:{s}" for e, u, s in sorted(events)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    """A difference between the stored chain and the events: tampering, or a broken link."""

    installation_id: int
    day: date
    kind: str  # edited | deleted | inserted | broken_link
    detail: str

    def __str__(self) -> str:
        return f"installation {self.installation_id} day {self.day.isoformat()}: {self.kind} — {self.detail}"


def _day_events(session: Session, installation_id: int, days: tuple[date, date]) -> Iterator[tuple[date, list]]:
    """(day, [(event_id, units, status), …]) for an installation's days in [first, last], in order."""
    query = (sa.select(_EVENTS.day, _EVENTS.event_id, _EVENTS.units, _EVENTS.status)
             .where(_EVENTS.installation_id == installation_id,
                    _EVENTS.day >= days[0], _EVENTS.day <= days[1])
             .order_by(_EVENTS.day, _EVENTS.event_id))
    current, bucket = None, []
    for day, event_id, units, status in session.execute(query):
        if day != current and bucket:
            yield current, bucket
            bucket = []
        current = day
        bucket.append((event_id, units, status))
    if bucket:
        yield current, bucket


def _last_sealed(session: Session, installation_id: int) -> tuple[date | None, str]:
    """The last sealed day of an installation and its digest (genesis when none)."""
    row = session.execute(sa.select(_DIGESTS.c.day, _DIGESTS.c.digest)
                          .where(_DIGESTS.c.installation_id == installation_id)
                          .order_by(_DIGESTS.c.day.desc()).limit(1)).first()
    return (row[0], row[1]) if row else (None, genesis(installation_id))


def last_sealable_day(grace_days: int = 0) -> date:
    """The last day that may be sealed now: yesterday, or, while a period is in its grace
    days (``MARKETPLACE_GRACE_DAYS``), the last day before that period (its days still take
    late usage, and a chain seals days in order)."""
    from marketplace.clock import period_bounds, period_of

    today = now()
    last = local_day(today) - timedelta(days=1)
    if grace_days:
        previous = period_of(period_bounds(period_of(today))[0] - timedelta(seconds=1))
        start, end = period_bounds(previous)
        if today < end + timedelta(days=grace_days):
            last = min(last, local_day(start) - timedelta(days=1))
    return last


def seal_days(session: Session, up_to_day: date, installation_ids: Iterable[int] | None = None,
              grace_days: int = 0) -> int:
    """Seal every unsealed day ≤ ``up_to_day`` (before today) with events; returns days sealed.

    A day of a period still in its ``grace_days`` is refused (409 ``grace_period``): late
    usage for it is still accepted, and a sealed day refuses it. The caller commits.
    Settlement seals a period's last day before closing it.
    """
    if up_to_day >= local_day(now()):
        raise MarketplaceError("day_not_over", f"only past days can be sealed; {up_to_day} is not over")
    if up_to_day > (last := last_sealable_day(grace_days)):
        raise MarketplaceError("grace_period", f"{up_to_day} belongs to a period still in its "
                               f"{grace_days} grace days (late usage for it is accepted); seal up "
                               f"to {last} now, the rest when the grace days are over", status=409)
    if installation_ids is None:
        installation_ids = session.scalars(
            sa.select(_EVENTS.installation_id).where(_EVENTS.day <= up_to_day).distinct())
    sealed = 0
    for installation_id in sorted(set(installation_ids)):
        last_day, previous = _last_sealed(session, installation_id)
        start = last_day + timedelta(days=1) if last_day else date.min
        rows = []
        for day, events in _day_events(session, installation_id, (start, up_to_day)):
            digest = day_digest(previous, events)
            rows.append({"installation_id": installation_id, "day": day, "previous": previous,
                         "digest": digest, "events": len(events),
                         "units": sum(u for _, u, s in events if s == "ok")})
            previous = digest
        if rows:
            session.execute(sa.insert(_DIGESTS), rows)
            sealed += len(rows)
    return sealed


def day_digests(session: Session, installation_id: int,
                days: tuple[date, date]) -> dict[date, tuple[str, bool]]:
    """``{day: (digest, sealed)}`` of an installation's days with events in [first, last].

    A sealed day gives its stored digest (``sealed`` true). A day after the last
    sealed one gives the digest sealing would write for it now (``sealed`` false):
    the chain continued from the last sealed digest over the events as they stand,
    the very rule of :func:`seal_days`. It stays equal to what sealing writes as
    long as no event is added to those days first (a closed period takes none).
    """
    found = {row.day: (row.digest, True) for row in session.execute(
        sa.select(_DIGESTS.c.day, _DIGESTS.c.digest).where(
            _DIGESTS.c.installation_id == installation_id,
            _DIGESTS.c.day >= days[0], _DIGESTS.c.day <= days[1]))}
    last_day, previous = _last_sealed(session, installation_id)
    if last_day is not None and last_day >= days[1]:
        return found
    start = last_day + timedelta(days=1) if last_day else date.min
    for day, events in _day_events(session, installation_id, (start, days[1])):
        previous = day_digest(previous, events)
        if day >= days[0]:
            found[day] = (previous, False)
    return found


def chain_head(session: Session, installation_id: int, period: str) -> str:
    """The digest of the installation's last sealed day up to the end of ``period`` (genesis if none)."""
    last_day = (period_bounds(period)[1] - timedelta(seconds=1))
    row = session.scalar(sa.select(_DIGESTS.c.digest)
                         .where(_DIGESTS.c.installation_id == installation_id,
                                _DIGESTS.c.day <= local_day(last_day))
                         .order_by(_DIGESTS.c.day.desc()).limit(1))
    return row or genesis(installation_id)


def statement_head(session: Session, installation_ids: Iterable[int], period: str) -> str:
    """One head for a statement: sha256 of ``"installation_id:chain_head"`` lines, sorted by id."""
    lines = [f"{i}:{chain_head(session, i, period)}" for i in sorted(set(installation_ids))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def verify(session: Session, installation_id: int | None = None) -> list[Problem]:
    """Recompute every sealed day from the events; report edited, deleted or inserted events."""
    query = sa.select(_DIGESTS).order_by(_DIGESTS.c.installation_id, _DIGESTS.c.day)
    if installation_id is not None:
        query = query.where(_DIGESTS.c.installation_id == installation_id)
    stored: dict[int, list] = {}
    for row in session.execute(query):
        stored.setdefault(row.installation_id, []).append(row)
    problems: list[Problem] = []
    for inst, chain in stored.items():
        found = dict(_day_events(session, inst, (date.min, chain[-1].day)))
        previous = genesis(inst)
        for row in chain:
            if row.previous != previous:
                problems.append(Problem(inst, row.day, "broken_link",
                                        "its previous digest is not the digest of the day before"))
            events = found.pop(row.day, [])
            if day_digest(row.previous, events) != row.digest:
                problems.append(_classify(inst, row, events))
            previous = row.digest
        for day in sorted(found):  # events on a sealed-through day that had none when sealed
            problems.append(Problem(inst, day, "inserted",
                                    f"{len(found[day])} event(s) on a day sealed with no events"))
    return problems


def _classify(inst: int, row, events: list) -> Problem:
    """Name the tampering of one day from the stored counts and what the events show now."""
    count, units = len(events), sum(u for _, u, s in events if s == "ok")
    seen = f"sealed {row.events} events/{row.units} units, found {count}/{units}"
    if count < row.events:
        return Problem(inst, row.day, "deleted", f"{row.events - count} event(s) missing; {seen}")
    if count > row.events:
        return Problem(inst, row.day, "inserted", f"{count - row.events} event(s) added; {seen}")
    return Problem(inst, row.day, "edited", f"event ids, units or status changed; {seen}")
