"""Budgets (DESIGN §15): a per-period spending limit on a pay-per-use installation.

The arithmetic is :func:`~marketplace.settlement.pricing.price_usage` itself: a
period with ``U`` billable units costs ``price(U)``, and a call of ``u`` units is
allowed iff ``price(U + u) ≤ budget``. Price is monotone in ``U`` except where a
volume tier drops the unit price, so the totals within the budget are a few
intervals (:func:`affordable_ranges`, found by binary search on the exact price).
They are stored per (installation, period) beside the period's unit counter
(``BudgetPeriod.units``), which the gateway grows with one conditional UPDATE
before a call runs (:mod:`marketplace.runtime.budgets`): the UPDATE only matches
while the new total lies in one of the intervals, so concurrent calls in any
number of processes never take the period above the budget.

The period's terms are those settlement prices it with (in force at its start,
:func:`marketplace.settlement.agreements.in_force`): a change of terms takes
effect next period; a change of budget recomputes the current period's ranges.

The statements here run both on an ORM session (the API, the console) and on the
gateway's raw DBAPI cursor (:class:`CursorRunner`), so there is one implementation.
"""
from __future__ import annotations

import json
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from marketplace.clock import period_bounds
from marketplace.metering.models import UsageEvent
from marketplace.money import format_amount, format_display
from marketplace.rawsql import RawStatement
from marketplace.runtime.models import Installation
from marketplace.settlement.agreements import InstallationTerms
from marketplace.settlement.budget_models import BudgetPeriod, BudgetRange
from marketplace.settlement.pricing import price_usage
from marketplace.webhooks.queue import enqueue

LIMIT = 10 ** 15            # a period total beyond any reachable one (≤ 10⁹ units per event)
THRESHOLDS = (80, 100)      # % of the budget at which the adopter is warned, once each per period

_P, _R, _E = BudgetPeriod.__table__, BudgetRange.__table__, UsageEvent.__table__
_I, _T = Installation.__table__, InstallationTerms.__table__


# --- arithmetic (pure) --------------------------------------------------------

def _segments(terms: dict) -> list[tuple[int, int | None]]:
    """Intervals of period totals on which the price is monotone (volume tiers split them)."""
    if terms.get("model") != "volume":
        return [(0, None)]
    free = terms.get("free_units") or 0
    segments, floor = [(0, free)], 0
    for tier in terms["tiers"]:
        up_to = tier.get("up_to")
        segments.append((free + floor + 1, None if up_to is None else free + up_to))
        floor = up_to or floor
    return segments


def _largest_within(terms: dict, budget: int, lo: int, hi: int) -> int:
    """The largest total in [lo, hi] priced within ``budget`` (price(lo) ≤ budget, monotone)."""
    while lo < hi:
        middle = (lo + hi + 1) // 2
        if price_usage(terms, middle) <= budget:
            lo = middle
        else:
            hi = middle - 1
    return lo


def affordable_ranges(terms: dict, budget: int) -> list[tuple[int, int | None]]:
    """The period totals ``U`` with ``price_usage(terms, U) ≤ budget``, as merged intervals.

    ``(lo, None)`` is open-ended (the price never exceeds the budget, e.g. a cap
    below it). Terms that price no usage (free, transfer, cost-share) allow everything.
    """
    if terms.get("kind") != "pay_per_use":
        return [(0, None)]
    ranges: list[tuple[int, int | None]] = []
    for lo, hi in _segments(terms):
        if price_usage(terms, lo) > budget:
            continue
        top = LIMIT if hi is None else hi
        if price_usage(terms, top) <= budget:
            end = hi
        else:
            end = _largest_within(terms, budget, lo, top)
        if ranges and ranges[-1][1] is not None and ranges[-1][1] + 1 >= lo:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((lo, end))
    return ranges


def within(ranges: list[tuple[int, int | None]], total: int) -> bool:
    """Whether ``total`` lies in one of ``ranges`` (what the gateway's UPDATE checks)."""
    return any(lo <= total and (hi is None or total <= hi) for lo, hi in ranges)


def charge(terms: dict, units: int) -> int:
    """The period's usage charge for ``units`` (0 for terms that price no usage)."""
    if terms.get("kind") != "pay_per_use":
        return 0
    return price_usage(terms, units)


def warning_level(spent: int, budget: int) -> int:
    """The highest threshold reached: 100 at the budget, 80 at four fifths of it, else 0."""
    if spent >= budget:
        return 100
    return 80 if 5 * spent >= 4 * budget else 0


def describe(amount: int, currency: str) -> str:
    """A budget as the API writes it ("500.00")."""
    return format_amount(amount, currency)


# --- statements ---------------------------------------------------------------

def _where(table: sa.Table) -> list:
    return [table.c.installation_id == sa.bindparam("iid"), table.c.period == sa.bindparam("p")]


PERIOD_ROW = sa.select(_P.c.units, _P.c.amount, _P.c.terms, _P.c.warned).where(*_where(_P))
PERIOD_UNITS = (sa.select(sa.func.coalesce(sa.func.sum(_E.c.units), 0))
                .where(_E.c.period == sa.bindparam("p"), _E.c.status == "ok",
                       _E.c.installation_id == sa.bindparam("iid")))
CURRENT_TERMS = sa.select(_I.c.terms, _I.c.accepted_at).where(_I.c.id == sa.bindparam("iid"))
TERMS_HISTORY = (sa.select(_T.c.accepted_at, _T.c.terms).where(_T.c.installation_id == sa.bindparam("iid"))
                 .order_by(_T.c.accepted_at, _T.c.id))
DELETE_RANGES = sa.delete(_R).where(*_where(_R))
SET_AMOUNT = sa.update(_P).where(*_where(_P)).values(amount=sa.bindparam("budget"),
                                                     warned=sa.bindparam("w"))
_TOTAL = _P.c.units + sa.bindparam("u", type_=sa.BigInteger)
TAKE = (sa.update(_P).where(*_where(_P), sa.exists().where(
    _R.c.installation_id == _P.c.installation_id, _R.c.period == _P.c.period, _R.c.lo <= _TOTAL,
    sa.or_(_R.c.hi.is_(None), _TOTAL <= _R.c.hi)))
    .values(units=_TOTAL).returning(_P.c.units, _P.c.warned, _P.c.amount))
GIVE_BACK = (sa.update(_P).where(*_where(_P), _P.c.units >= sa.bindparam("u", type_=sa.BigInteger))
             .values(units=_P.c.units - sa.bindparam("u", type_=sa.BigInteger)))
MARK_WARNED = (sa.update(_P).where(*_where(_P), _P.c.warned < sa.bindparam("level", type_=sa.Integer))
               .values(warned=sa.bindparam("level", type_=sa.Integer)))


def _inserts(dialect: str) -> tuple[sa.Insert, sa.Insert]:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    period = insert(_P).values(installation_id=sa.bindparam("iid"), period=sa.bindparam("p"),
                               units=sa.bindparam("n"), amount=sa.bindparam("budget"),
                               terms=sa.bindparam("t", type_=_P.c.terms.type), warned=0)
    ranges = insert(_R).values(installation_id=sa.bindparam("iid"), period=sa.bindparam("p"),
                               lo=sa.bindparam("low"), hi=sa.bindparam("high", type_=sa.BigInteger))
    return (period.on_conflict_do_nothing(index_elements=[_P.c.installation_id, _P.c.period]),
            ranges.on_conflict_do_nothing(index_elements=[_R.c.installation_id, _R.c.period,
                                                          _R.c.lo]))


INSERTS = {name: _inserts(name) for name in ("sqlite", "postgresql")}


class Runner(Protocol):
    """Runs the statements above on a session or on a raw cursor."""

    dialect: str

    def rows(self, stmt: Any, values: dict) -> list[tuple]:
        """Result rows of ``stmt`` (a SELECT, or DML with RETURNING)."""

    def write(self, stmt: Any, values: dict) -> int:
        """Run DML; the number of rows it touched."""


class SessionRunner:
    """Statements on an ORM session (in its transaction)."""

    def __init__(self, session) -> None:
        self.session, self.dialect = session, session.get_bind().dialect.name

    def rows(self, stmt: Any, values: dict) -> list[tuple]:
        return [tuple(row) for row in self.session.execute(stmt, values).all()]

    def write(self, stmt: Any, values: dict) -> int:
        return self.session.execute(stmt, values).rowcount


_compiled: dict[tuple[int, str], RawStatement] = {}


class CursorRunner:
    """Statements on a DBAPI cursor (the gateway's kept connection), compiled once per process."""

    def __init__(self, dialect: sa.engine.Dialect, cursor: Any) -> None:
        self._dialect, self.dialect, self.cursor = dialect, dialect.name, cursor

    def _raw(self, stmt: Any) -> RawStatement:
        key = (id(stmt), self.dialect)
        raw = _compiled.get(key)
        if raw is None:
            raw = _compiled[key] = RawStatement(stmt, self._dialect)
        return raw

    def rows(self, stmt: Any, values: dict) -> list[tuple]:
        raw = self._raw(stmt)
        if isinstance(stmt, sa.Select):
            return raw.all(self.cursor, values)
        return [tuple(row) for row in raw.execute(self.cursor, values).fetchall()]

    def write(self, stmt: Any, values: dict) -> int:
        return self._raw(stmt).execute(self.cursor, values).rowcount


# --- the period's counter -----------------------------------------------------

def _terms(value: Any) -> dict:
    return json.loads(value) if isinstance(value, str) else (value or {"kind": "free"})


def terms_in_force(run: Runner, iid: int, period: str) -> dict:
    """The terms settlement prices ``period`` with (the rule of ``agreements.in_force``)."""
    start = period_bounds(period)[0]
    [(terms, accepted_at)] = run.rows(CURRENT_TERMS, {"iid": iid})
    if accepted_at <= start:
        return _terms(terms)
    history = run.rows(TERMS_HISTORY, {"iid": iid})
    before = [row for row in history if row[0] <= start]
    if before or history:
        return _terms((before or history[:1])[-1][1])
    return _terms(terms)


def open_period(run: Runner, iid: int, period: str, amount: int) -> None:
    """Create the period's counter (units so far from the events) and its ranges, unless there."""
    terms = terms_in_force(run, iid, period)
    [(units,)] = run.rows(PERIOD_UNITS, {"iid": iid, "p": period})
    insert_period, insert_range = INSERTS[run.dialect]
    for lo, hi in affordable_ranges(terms, amount):      # ranges first: a counter is never bare
        run.write(insert_range, {"iid": iid, "p": period, "low": lo, "high": hi})
    run.write(insert_period, {"iid": iid, "p": period, "n": int(units or 0),
                              "budget": amount, "t": terms})


def period_state(run: Runner, iid: int, period: str) -> tuple[int, int, dict, int] | None:
    """(units, budget amount, terms, warned) of a period's counter, or None."""
    row = run.rows(PERIOD_ROW, {"iid": iid, "p": period})
    if not row:
        return None
    units, amount, terms, warned = row[0]
    return int(units), int(amount), _terms(terms), int(warned)


def rebound(run: Runner, iid: int, period: str, amount: int) -> tuple[int, int, dict, int]:
    """Recompute a period's ranges for a new budget; returns its state and re-arms warnings.

    Thresholds already reached under the new budget count as warned; ones no
    longer reached (a raised budget) are armed again.
    """
    state = period_state(run, iid, period)
    if state is None:
        open_period(run, iid, period, amount)
        state = period_state(run, iid, period)
    units, _, terms, warned = state
    run.write(DELETE_RANGES, {"iid": iid, "p": period})
    _, insert_range = INSERTS[run.dialect]
    for lo, hi in affordable_ranges(terms, amount):
        run.write(insert_range, {"iid": iid, "p": period, "low": lo, "high": hi})
    warned = min(warned, warning_level(charge(terms, units), amount))
    run.write(SET_AMOUNT, {"iid": iid, "p": period, "budget": amount, "w": warned})
    return units, amount, terms, warned


def spent_text(terms: dict, units: int, amount: int) -> tuple[str, str]:
    """(spent, budget) as display text in the terms' currency."""
    currency = terms.get("currency", "CNY")
    return format_display(charge(terms, units), currency), format_display(amount, currency)


def warn(run: Runner, code: str, iid: int, module: str, period: str, level: int,
         units: int, amount: int, terms: dict) -> bool:
    """Mark ``level`` warned for the period (once) and queue its ``budget.warning`` webhook.

    True when this call crossed the threshold (the conditional UPDATE matched).
    """
    if level <= 0 or run.write(MARK_WARNED, {"iid": iid, "p": period, "level": level}) != 1:
        return False
    currency = terms.get("currency", "CNY")
    enqueue(run, code, "budget.warning", {
        "threshold": level, "installation": iid, "module": module, "jurisdiction": code,
        "period": period, "currency": currency, "budget": format_amount(amount, currency),
        "spent": format_amount(charge(terms, units), currency), "units": units})
    return True



def reported_units(session: Any, rows: list[tuple]) -> dict[tuple[int, str], int]:
    """Units of reported ``rows`` (``metering.writer.COLUMNS`` order) new to open budget counters.

    Read before the ingest's insert: only installations whose period counter is
    open (a budget) are looked at, ids already stored (the dedup key is the
    installation and the id, forever) and repeats within the batch are left out.
    A concurrent batch with the same new ids may make both count them: the
    counter then runs ahead (calls are refused early), never behind. Without
    budgets this is one small read per batch.
    """
    wanted: dict[tuple[int, str], dict[str, int]] = {}
    for row in rows:
        if row[4] == "ok" and row[3]:
            wanted.setdefault((row[0], row[6]), {}).setdefault(row[1], row[3])
    if not wanted:
        return {}
    counted = set(session.execute(sa.select(_P.c.installation_id, _P.c.period).where(
        _P.c.installation_id.in_({iid for iid, _ in wanted}))).all())
    added = {}
    for (iid, period), units_by_id in wanted.items():
        if (iid, period) not in counted:
            continue
        stored = set(session.scalars(sa.select(_E.c.event_id).where(
            _E.c.installation_id == iid, _E.c.event_id.in_(list(units_by_id)))))
        total = sum(units for event, units in units_by_id.items() if event not in stored)
        if total:
            added[(iid, period)] = total
    return added


def add_reported(session: Any, added: dict[tuple[int, str], int]) -> None:
    """Add :func:`reported_units` to the counters, in the ingest's write transaction."""
    for (iid, period), units in added.items():
        session.execute(sa.update(_P).where(_P.c.installation_id == iid, _P.c.period == period)
                        .values(units=_P.c.units + units))
