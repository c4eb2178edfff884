"""Metering: writing usage events (hot path, SQLAlchemy Core only) and reported usage batches.

Reported usage (DESIGN §7) is validated in Python against lookups loaded with
one query per batch, then written with one deduplicating bulk INSERT
(``writer.insert_new``) and one commit. The unique (installation_id, event_id)
index is the dedup key, so concurrent senders of overlapping batches never
double count: the database decides which insert wins and says how many did.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Iterable, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from marketplace.catalog.models import Module, Operation
from marketplace.clock import now, parse_instant
from marketplace.errors import MarketplaceError
from marketplace.metering import writer
from marketplace.metering.models import EVENT_STATUSES, UsageDigest, derive_period_day
from marketplace.runtime.models import Installation
from marketplace.settlement.models import Period, period_lock_key
from marketplace.settlement import budgets

MAX_BATCH = 1000
MAX_EVENT_ID = 100
MAX_NAME = 100                       # module and operation names (their columns hold 100)
MAX_UNITS = 10**9                    # DESIGN §12, per event: sums per period stay far inside int64
MAX_DURATION_MS = 2**31 - 1          # the column is a 32-bit integer on PostgreSQL
FUTURE_SLACK = timedelta(minutes=5)
PAST_LIMIT = timedelta(days=3653)    # DESIGN §12: occurred_at within 10 years of the clock
REJECTION_REASONS = ("not_installed", "unknown_operation", "invalid_units", "period_closed",
                     "in_future", "invalid")
#: The fields a reported event may carry (README "Metering"); any other refuses the event.
EVENT_FIELD_NAMES = ("id", "module", "operation", "occurred_at", "units", "status", "duration_ms")
EVENT_FIELDS = frozenset(EVENT_FIELD_NAMES)
_FIELDS_SAID = ", ".join(EVENT_FIELD_NAMES)



def call_event(*, installation_id: int, event_id: str, operation: str, units: int, status: str,
               occurred_at: datetime | None = None, duration_ms: int = 0,
               source: str = "gateway") -> dict:
    """Every column of one gateway call's usage event, ``period`` and ``day`` derived."""
    stamp = now()
    occurred_at = occurred_at or stamp
    period, day = derive_period_day(occurred_at)
    return {"installation_id": installation_id, "event_id": event_id, "operation": operation,
            "units": units, "status": status, "occurred_at": occurred_at, "period": period,
            "day": day, "duration_ms": duration_ms, "source": source, "received_at": stamp}


class UsageError(MarketplaceError):
    """Refusal of a whole usage batch."""


@dataclass
class Rejection:
    """One refused event of a batch: its position, its id, why (a reason word) and where."""

    index: int
    id: Any
    reason: str
    field: str | None = None
    message: str | None = None

    def to_dict(self) -> dict:
        """JSON shape of DESIGN §7, plus the offending field and a message saying what to fix."""
        body = {"index": self.index, "id": self.id, "reason": self.reason}
        if self.field is not None:
            body["field"] = self.field
        if self.message is not None:
            body["message"] = self.message
        return body


class Refusal(NamedTuple):
    """Why :meth:`_Validator.row` refuses an event: reason, field, message."""

    reason: str
    field: str | None
    message: str


@dataclass
class IngestResult:
    """What happened to a batch: accepted, duplicates (already known) and rejected events."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON shape of DESIGN §7."""
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": [r.to_dict() for r in self.rejected]}

    def add(self, other: "IngestResult", offset: int = 0) -> None:
        """Fold another batch's result into this one (indexes shifted by ``offset``)."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(replace(r, index=r.index + offset) for r in other.rejected)


@dataclass
class Agreement:
    """One installation of a module by the caller, as the validator needs it."""

    id: int
    start: datetime
    end: datetime | None
    operations: dict[str, int] = field(default_factory=dict)
    sealed_through: date | None = None

    def covers(self, instant: datetime) -> bool:
        """Was this installation in force at ``instant``?"""
        return self.start <= instant and (self.end is None or instant < self.end)


def load_agreements(session: Session | Connection, jurisdiction_code: str) -> dict[str, list[Agreement]]:
    """The caller's installations by module name, with operations and last sealed day (one query)."""
    sealed = (sa.select(sa.func.max(UsageDigest.day))  # read off the digests' primary key
              .where(UsageDigest.installation_id == Installation.id).scalar_subquery())
    query = (sa.select(Installation.id, Module.name, Installation.accepted_at, Installation.ended_at,
                       Installation.state, Operation.name, Operation.units, sealed)
             .join(Module, Module.id == Installation.module_id)
             .outerjoin(Operation, Operation.version_id == Installation.version_id)
             .where(Installation.jurisdiction_code == jurisdiction_code))
    found: dict[int, tuple[str, Agreement]] = {}
    for inst_id, module, start, end, state, op_name, op_units, through in session.execute(query):
        if inst_id not in found:
            if state != "active" and end is None:
                end = start  # ended without a date: never in force for reported usage
            found[inst_id] = (module, Agreement(inst_id, start, end, sealed_through=through))
        if op_name is not None:
            found[inst_id][1].operations[op_name] = op_units
    by_module: dict[str, list[Agreement]] = {}
    for module, agreement in found.values():
        by_module.setdefault(module, []).append(agreement)
    return by_module


def closed_periods(session: Session | Connection) -> set[str]:
    """Periods that no longer take usage (closed, or being settled)."""
    return set(session.scalars(sa.select(Period.period).where(Period.state != "open")))


class _Validator:
    """Checks reported events against pre-loaded lookups and turns them into rows.

    Rules, first failing one wins: ``invalid`` (not an object; a field other than
    :data:`EVENT_FIELDS`, named in the rejection; ``id`` not a string of
    1–100 characters without NUL or lone surrogates; ``module``/``operation`` not strings of
    at most 100 characters; ``occurred_at`` not ISO-8601 with an offset, or more than 10
    years before the platform clock; ``status`` other than ok/error/rejected;
    ``duration_ms`` not a whole number 0 … 2³¹−1) · ``invalid_units`` (``units`` present but
    not a whole number 0 … 10⁹; booleans and floats refused; absent → the operation's
    billing weight) · ``in_future`` (more than 5 minutes after the platform clock) ·
    ``not_installed`` (no installation of the module
    by the caller's jurisdiction in force at ``occurred_at``: accepted_at ≤ t < ended_at) ·
    ``unknown_operation`` (not in the installed version's interface) · ``period_closed``
    (the period is closed or settling, or the installation's day is already sealed).
    """

    def __init__(self, agreements: dict[str, list[Agreement]], closed: set[str], source: str,
                 sqlite_text: bool = False) -> None:
        self.agreements = agreements
        self.closed = closed
        self.source = source
        received = now()
        self.latest = received + FUTURE_SLACK
        self.earliest = received - PAST_LIMIT
        # SQLite keeps instants and days as text: write them in SQLAlchemy's format straight away
        self.sqlite_text = sqlite_text
        self.received = writer.sqlite_instant(received) if sqlite_text else received

    def row(self, event: Any) -> tuple | Refusal:
        """The row to insert for ``event``, or why it is refused (naming the field)."""
        if not isinstance(event, dict):
            return Refusal("invalid", None, "an event is a JSON object")
        if not EVENT_FIELDS.issuperset(event):   # no set built for a well-formed event
            return _unknown_fields(event)
        event_id, module, operation = event.get("id"), event.get("module"), event.get("operation")
        for name, value, limit in (("id", event_id, MAX_EVENT_ID), ("module", module, MAX_NAME),
                                   ("operation", operation, MAX_NAME)):
            if not _text(value, limit):
                return Refusal("invalid", name, f"{name} must be text of 1 to {limit} characters "
                               "(no NUL, no lone surrogate)")
        occurred = _instant(event.get("occurred_at"))
        if occurred is None:
            return Refusal("invalid", "occurred_at", "occurred_at must be an ISO-8601 instant "
                           "with an offset, like 2026-10-05T08:00:00+08:00")
        if occurred < self.earliest:
            return Refusal("invalid", "occurred_at", "occurred_at is more than 10 years ago")
        status = event.get("status", "ok")
        if status not in EVENT_STATUSES:
            return Refusal("invalid", "status", f"status must be one of {', '.join(EVENT_STATUSES)}")
        duration = event.get("duration_ms", 0)
        if not _count(duration, MAX_DURATION_MS):
            return Refusal("invalid", "duration_ms", "duration_ms must be a whole number "
                           f"0 to {MAX_DURATION_MS}")
        units = event.get("units")
        if units is not None and not _count(units, MAX_UNITS):
            return Refusal("invalid_units", "units", f"units must be a whole number 0 to {MAX_UNITS:,}")
        if occurred > self.latest:
            return Refusal("in_future", "occurred_at", "occurred_at is more than 5 minutes ahead "
                           "of the platform clock")
        for agreement in self.agreements.get(module, ()):
            if agreement.start <= occurred and (agreement.end is None or occurred < agreement.end):
                break
        else:
            return Refusal("not_installed", "module", f"{module} was not installed for you when "
                           "this event occurred")
        weight = agreement.operations.get(operation)
        if weight is None:
            return Refusal("unknown_operation", "operation", f"{module} has no operation {operation}")
        period, day = derive_period_day(occurred)
        if period in self.closed or (agreement.sealed_through and day <= agreement.sealed_through):
            return Refusal("period_closed", "occurred_at", f"period {period} is closed "
                           "(settled or sealed); report corrections to the operator")
        if self.sqlite_text:
            occurred, day = occurred.replace(tzinfo=None).isoformat(" ", "microseconds"), day.isoformat()
        return (agreement.id, event_id, operation, weight if units is None else units, status,
                occurred, period, day, duration, self.source, self.received)  # writer.COLUMNS order


def _unknown_fields(event: dict) -> Refusal:
    """The refusal of an event carrying fields a usage event does not have: the first one
    is the rejection's ``field``, up to five are named in its message."""
    unknown = [key for key in event if key not in EVENT_FIELDS]
    shown = [_field_name(key) for key in unknown[:5]]
    named = ", ".join(shown) + (f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else "")
    return Refusal("invalid", shown[0], f"unknown field{'s' if len(unknown) > 1 else ''} "
                   f"{named}: a usage event carries only {_FIELDS_SAID}")


def _field_name(key: str) -> str:
    """A field name as a rejection can show it: at most 100 characters, lone surrogates
    written as ``\\udxxx`` escapes (the answer is UTF-8)."""
    key = key if len(key) <= MAX_NAME else key[:MAX_NAME - 1] + "…"
    return key if _encodable(key) else key.encode("utf-8", "backslashreplace").decode("utf-8")


def _count(value: Any, limit: int) -> bool:
    """A whole number 0 … ``limit`` (booleans and floats are not counts)."""
    return type(value) is int and 0 <= value <= limit


def _text(value: Any, limit: int) -> bool:
    """A non-empty string of at most ``limit`` characters that every database can store.

    NUL (PostgreSQL text cannot hold it) and lone UTF-16 surrogates (not UTF-8) refuse
    the event, not the batch.
    """
    if not (isinstance(value, str) and 0 < len(value) <= limit) or "\x00" in value:
        return False
    return value.isascii() or _encodable(value)


def _encodable(value: str) -> bool:
    """Whether ``value`` can be written as UTF-8 (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _echoed_id(event: Any) -> Any:
    """The id a rejection names: the event's own, unless it could not be written back
    (a lone surrogate) or is bulky (a long text, a list or an object): then None."""
    event_id = event.get("id") if isinstance(event, dict) else None
    if isinstance(event_id, str):
        return event_id if len(event_id) <= 1000 and _encodable(event_id) else None
    return event_id if isinstance(event_id, (int, float)) else None


def _instant(value: Any) -> datetime | None:
    """An ISO-8601 instant with an explicit offset (the clock's one parser), as aware UTC."""
    try:
        return parse_instant(value)
    except ValueError:
        return None


def ingest(session: Session, jurisdiction_code: str, events: list, source: str = "reported") -> IngestResult:
    """Validate and store a batch of reported usage for a jurisdiction; commits once.

    Each event is accepted, a duplicate of one already stored (same installation
    and id, any time before), or rejected with a reason; nothing else happens.
    """
    if not isinstance(events, list):
        raise UsageError("invalid", 'send {"events": [...]} with a list of usage events')
    if len(events) > MAX_BATCH:
        raise UsageError("too_many_events",
                         f"a batch holds at most {MAX_BATCH} events; split these {len(events)}",
                         status=413)
    result = IngestResult()
    if not events:
        return result
    validator = _Validator(load_agreements(session, jurisdiction_code), closed_periods(session), source,
                           sqlite_text=session.get_bind().dialect.name == "sqlite")
    rows = []
    for index, event in enumerate(events):
        row = validator.row(event)
        if row.__class__ is Refusal:
            result.rejected.append(Rejection(index, _echoed_id(event), *row))
        else:
            rows.append(row)
    session.commit()  # end the read transaction: the write below starts fresh (SQLite WAL)
    if rows:
        counted = budgets.reported_units(session, rows)     # budgets' counters (DESIGN §15)
        result.accepted = writer.insert_new(session, rows, prepared=True)
        if _closed_meanwhile(session, {row[6] for row in rows}):
            # settlement closed one of these periods after we validated: undo, judge again
            session.rollback()
            return ingest(session, jurisdiction_code, events, source)
        budgets.add_reported(session, counted)
        session.commit()
    result.duplicates = len(rows) - result.accepted
    return result


def _closed_meanwhile(session: Session, periods: set[str]) -> bool:
    """Inside the write transaction: has any of ``periods`` stopped taking usage?

    SQLite: we hold the write lock, so we read the latest committed state and a
    settlement can only start after our commit. PostgreSQL: a shared advisory lock
    per period makes a running settlement (which holds it exclusively) finish first,
    and a later one wait for our commit, so its aggregation sees our rows.
    """
    if session.get_bind().dialect.name == "postgresql":
        for period in sorted(periods):   # in memory, no row writes; held until our commit
            session.execute(_SHARED_PERIOD_LOCK, {"key": period_lock_key(period)})
    states = session.scalars(sa.select(Period.state).where(Period.period.in_(periods)))
    return any(state != "open" for state in states)


_SHARED_PERIOD_LOCK = sa.text("SELECT pg_advisory_xact_lock_shared(:key)")


def ingest_all(session: Session, jurisdiction_code: str, events: Iterable,
               source: str = "reported", progress=None) -> IngestResult:
    """Ingest any number of events in batches of MAX_BATCH; ``progress(n)`` after each batch."""
    total, batch, offset = IngestResult(), [], 0
    for event in events:
        batch.append(event)
        if len(batch) == MAX_BATCH:
            total.add(ingest(session, jurisdiction_code, batch, source), offset)
            offset += len(batch)
            progress and progress(len(batch))
            batch = []
    if batch:
        total.add(ingest(session, jurisdiction_code, batch, source), offset)
        progress and progress(len(batch))
    return total
