"""The gateway's budget check (DESIGN §15), on the call's own connection.

Only installations with a budget come here (the route says so); the others keep
the gateway's fast path. A call of ``u`` units takes them from its period's
counter with one conditional UPDATE, committed before the module runs
(:data:`~marketplace.settlement.budgets.TAKE`: one autocommit statement on
PostgreSQL, the write turn on SQLite); a call that is then not billed gives them
back. The first call of a period opens the period's counter in one transaction
(its units so far from the events, its affordable ranges). Crossing 80 % or
100 % of the budget marks the period warned and queues the ``budget.warning``
webhook in one transaction. Every statement runs on the call's connection: the
gateway never waits for a second pooled connection while holding one.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from marketplace import db
from marketplace.settlement import budgets
from marketplace.settlement.budgets import CursorRunner

T = TypeVar("T")
MAX_CACHED = 10_000
_terms: dict[tuple[int, str], dict] = {}     # a period's terms never change once it is opened
_lock = threading.Lock()


@dataclass(slots=True)
class Outcome:
    """What the check found: granted or not, and the period's units and budget after it."""

    granted: bool
    units: int
    amount: int
    terms: dict


def _atomically(routes: Any, connection: Any, work: Callable[[CursorRunner], T]) -> T:
    """``work(runner)`` in one transaction on ``connection``, committed when it returns."""
    run = CursorRunner(routes.engine.dialect, connection.cursor())
    if routes.postgres and connection.driver_connection.autocommit:
        with connection.driver_connection.transaction():
            return work(run)
    with db.sqlite_write_turn(routes.engine):
        try:
            result = work(run)
            connection.commit()
            return result
        except BaseException:
            connection.rollback()
            raise


def _period_terms(run: CursorRunner, iid: int, period: str) -> dict:
    key = (iid, period)
    terms = _terms.get(key)
    if terms is None:
        state = budgets.period_state(run, iid, period)
        terms = state[2] if state else budgets.terms_in_force(run, iid, period)
        with _lock:
            if len(_terms) >= MAX_CACHED:
                _terms.clear()
            _terms[key] = terms
    return terms


def take(routes: Any, connection: Any, route: Any, code: str, period: str) -> Outcome:
    """Take ``route.units`` of ``period``'s budget for one call (committed), or refuse.

    Warns (once per threshold and period) when the call crosses 80 % or 100 %,
    or when it is refused.
    """
    values = {"iid": route.id, "p": period, "u": route.units}
    rows = routes.commits.now(connection, lambda cursor: CursorRunner(
        routes.engine.dialect, cursor).rows(budgets.TAKE, values))

    def first_of_period(run: CursorRunner) -> list:
        """Open the period unless another call just did, then take again (under the write turn)."""
        if budgets.period_state(run, route.id, period) is None:
            budgets.open_period(run, route.id, period, route.budget)
        return run.rows(budgets.TAKE, values)
    if not rows:
        rows = _atomically(routes, connection, first_of_period)
    run = CursorRunner(routes.engine.dialect, connection.cursor())
    terms = _period_terms(run, route.id, period)
    if rows:
        units, warned, amount = (int(value) for value in rows[0])
        level = budgets.warning_level(budgets.charge(terms, units), amount)
    else:
        units, amount, terms, warned = budgets.period_state(run, route.id, period)
        level = 100
    if level > warned:
        _atomically(routes, connection, lambda run: budgets.warn(
            run, code, route.id, route.module, period, level, units, amount, terms))
    return Outcome(bool(rows), units, amount, terms)


def give_back(routes: Any, connection: Any, iid: int, period: str, units: int) -> None:
    """Return a call's units that settlement will not bill (the call failed or was refused)."""
    values = {"iid": iid, "p": period, "u": units}
    routes.commits.now(connection, lambda cursor: CursorRunner(
        routes.engine.dialect, cursor).write(budgets.GIVE_BACK, values))


def exhausted(route: Any, period: str, outcome: Outcome) -> dict:
    """The 402 body: what the period has spent, the budget, and what to do."""
    spent, budget = budgets.spent_text(outcome.terms, outcome.units, outcome.amount)
    currency = outcome.terms.get("currency", "CNY")
    return {"error": "budget_exhausted", "message": f"this call of {route.units} units would take "
            f"{route.module} above its budget of {budget} for {period} ({spent} spent); it was "
            "neither run nor billed. Raise the budget (PATCH /api/v1/installations/"
            f"{route.id} with {{\"budget\": \"…\"}}) or wait for the next period",
            "installation": route.id, "period": period, "currency": currency,
            "budget": budgets.describe(outcome.amount, currency),
            "spent": budgets.describe(budgets.charge(outcome.terms, outcome.units), currency)}
