"""Setting, clearing and showing budgets (API, console, CLI call these; no Flask here)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from marketplace.accounts.service import audit
from marketplace.catalog.models import Module
from marketplace.clock import now, period_of
from marketplace.errors import Conflict, MarketplaceError
from marketplace.money import AmountError, format_display, parse_money
from marketplace.runtime.models import Installation
from marketplace.runtime.service import _actor, get_installation
from marketplace.settlement import budgets
from marketplace.settlement.budget_models import Budget, BudgetPeriod, BudgetRange


def parse_budget(value: Any, currency: str) -> int:
    """A budget typed or sent as a string of ``currency`` ("500.00") → minor units, > 0."""
    try:
        return parse_money(value, currency, "budget")
    except AmountError as exc:
        raise MarketplaceError("invalid_budget", f"budget: {exc.reason} (in {currency}, the "
                               "currency of the installation's terms; null clears it)") from None


def set_budget(session: Session, who: Any, installation_id: int, value: Any) -> Installation:
    """Set (a string amount) or clear (None) the per-period budget of a pay-per-use installation.

    Recomputes the current period's affordable ranges at once; a budget already
    passed by this period's spending warns now (once per threshold). Runs under
    the installation's lock: racing changes of one budget apply one after another.
    """
    from marketplace.settlement.adjustments import lock_installation

    item = get_installation(session, who.jurisdiction_code, installation_id)
    lock_installation(session, item.id)
    if item.state != "active":
        raise Conflict("installation_ended", f"installation {item.id} has ended; install again")
    existing = session.get(Budget, item.id)
    if value is None:
        if existing is not None:
            before = budgets.describe(existing.amount, existing.currency)
            session.delete(existing)
            for model in (BudgetRange, BudgetPeriod):
                session.execute(sa.delete(model).where(model.installation_id == item.id))
            audit(session, _actor(session, who), "installation.budget", f"installation {item.id}",
                  before=before, after=None)
        return item
    terms = item.terms or {}
    if terms.get("kind") != "pay_per_use":
        raise Conflict("budget_not_applicable", f"a budget limits pay-per-use spending; "
                       f"{item.module.name} is installed under {terms.get('kind', 'free')} terms, "
                       "which charge no usage per call")
    currency = terms["currency"]
    amount = parse_budget(value, currency)
    before = budgets.describe(existing.amount, existing.currency) if existing else None
    if existing is None:
        existing = Budget(installation_id=item.id)
        session.add(existing)
    existing.amount, existing.currency = amount, currency
    existing.set_by, existing.set_at = getattr(who, "user_id", None), now()
    session.flush()
    run, period = budgets.SessionRunner(session), period_of(now())
    units, amount, period_terms, warned = budgets.rebound(run, item.id, period, amount)
    level = budgets.warning_level(budgets.charge(period_terms, units), amount)
    if level > warned:
        budgets.warn(run, item.jurisdiction_code, item.id, item.module.name, period, level, units,
                     amount, period_terms)
    audit(session, _actor(session, who), "installation.budget", f"installation {item.id}",
          before=before, after=budgets.describe(amount, currency))
    return item


def budget_text(item: Installation) -> str | None:
    """The installation's budget as the API writes it ("500.00"), or None."""
    session = object_session(item)
    found = session.get(Budget, item.id) if session is not None else None
    return budgets.describe(found.amount, found.currency) if found else None


def status(session: Session, item: Installation) -> dict | None:
    """This period's budget, spending and warning level of an installation (None: no budget)."""
    found = session.get(Budget, item.id)
    if found is None:
        return None
    period = period_of(now())
    state = budgets.period_state(budgets.SessionRunner(session), item.id, period)
    units, warned = (state[0], state[3]) if state else (0, 0)
    terms = state[2] if state else item.terms
    spent = budgets.charge(terms, units)
    return {"period": period, "budget": budgets.describe(found.amount, found.currency),
            "spent": budgets.describe(spent, found.currency), "units": units, "warned": warned,
            "budget_display": format_display(found.amount, found.currency),
            "spent_display": format_display(spent, found.currency),
            "percent": min(100, spent * 100 // found.amount) if found.amount else 100}


def alerts(session: Session, code: str) -> list[dict]:
    """Budgets of ``code`` warned this period (80 or 100 %), for the console's banner."""
    rows = session.execute(
        sa.select(Installation, Module.name).join(Module, Module.id == Installation.module_id)
        .join(BudgetPeriod, BudgetPeriod.installation_id == Installation.id)
        .where(Installation.jurisdiction_code == code, Installation.state == "active",
               BudgetPeriod.period == period_of(now()), BudgetPeriod.warned > 0)
        .order_by(Installation.id)).all()
    return [{"installation": item.id, "module": name, **status(session, item)}
            for item, name in rows]
