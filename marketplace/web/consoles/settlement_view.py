"""Settlement pages: periods, settle, positions, statements and earnings via the settlement area."""
from __future__ import annotations

import io
from typing import Any, Callable

import sqlalchemy as sa
from flask import current_app, flash, render_template, request
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from marketplace import csvsafe, db
from marketplace.accounts.models import Jurisdiction
from marketplace.clock import check_period, period_ended
from marketplace.errors import MarketplaceError
from marketplace.money import format_amount, format_display
from marketplace.plugins import provider_name
from marketplace.settlement import service as settlement
from marketplace.settlement.models import Period, Statement


def provider_for(app_config: Any):
    """The configured settlement provider (the settlement area's registry)."""
    from marketplace.plugins import get_provider

    return get_provider(app_config)


def provider_status(app_config: Any) -> dict[str, Any]:
    """Name and health of the configured provider; errors are shown, never raised.

    ``settings`` keeps only what the page can say in words (netting, webhook secret set),
    never the provider's raw answer.
    """
    name = provider_name(app_config)
    status: dict[str, Any] = {"name": name, "ok": True, "detail": "", "settings": {}}
    try:
        answer = provider_for(app_config).status()      # part of every provider's contract
        if isinstance(answer, dict):
            status["ok"] = bool(answer.get("ok", True))
            status["settings"] = {k: bool(answer[k]) for k in ("netting", "webhook_secret_set")
                                  if k in answer}
    except Exception as exc:  # noqa: BLE001 - the page reports a broken provider
        status.update(ok=False, detail=f"{type(exc).__name__}: {exc}")
    if name == "stripe":
        status["base"] = app_config.get("STRIPE_API_BASE", "")
        status["key_set"] = bool(app_config.get("STRIPE_API_KEY"))
    return status


def settle(period: str, user: Any) -> None:
    """Run the settlement service for ``period`` and flash its result."""
    session = db.session()
    try:
        result = settlement.settle(session, period, provider_for(current_app.config),
                                   actor=user.email,
                                   fee_bps=int(current_app.config.get("PLATFORM_FEE_BPS", 0)))
    except MarketplaceError as exc:
        session.rollback()
        flash(exc.message, "error")
        return
    totals = result.get("totals") or {}
    amount = format_display(int(totals.get("charges_minor") or 0), totals.get("currency") or "CNY")
    flash(_("%(period)s 已结算：%(n)s 份账单，应收合计 %(amount)s。", period=period,
            n=totals.get("statements", 0), amount=amount), "info")


def periods_page(periods: list[str], form: Any, config: Callable) -> str:
    """The operator's period list with the chosen period's totals and positions."""
    session = db.session()
    rows = {p.period: p for p in session.scalars(sa.select(Period).where(Period.period.in_(periods)))}
    chosen = request.args.get("period") or next(
        (p for p in periods if p in rows and rows[p].state == "closed"), periods[0])
    detail = None
    if chosen in rows and rows[chosen].state == "closed":
        detail = settlement.settlement_json(session, chosen)
        detail["rows"] = list(session.execute(
            sa.select(Statement, Jurisdiction.name)
            .join(Jurisdiction, Jurisdiction.code == Statement.jurisdiction_code)
            .where(Statement.period == chosen).order_by(Statement.jurisdiction_code)))
    busy = periods_with_activity(session, periods)
    listing = [{"period": p, "state": rows[p].state if p in rows else "open",
                "ended": period_ended(p), "totals": rows[p].totals if p in rows else {},
                "billable": p in busy}
               for p in periods]
    return render_template("admin/periods.html", listing=listing, chosen=chosen, detail=detail,
                           form=form, provider=provider_status(current_app.config))


def periods_with_activity(session: Session, periods: list[str]) -> set[str]:
    """The periods with usage or with an installation in force at some time in them.

    Only these have anything to settle: the page offers no settle button for the others.
    """
    from marketplace.clock import period_bounds
    from marketplace.metering.models import UsageEvent
    from marketplace.runtime.models import Installation

    busy = set(session.scalars(sa.select(UsageEvent.period).distinct()
                               .where(UsageEvent.period.in_(periods))))
    for period in set(periods) - busy:
        start, end = period_bounds(period)
        if session.scalar(sa.select(Installation.id).where(
                Installation.created_at < end,
                sa.or_(Installation.ended_at.is_(None), Installation.ended_at >= start)).limit(1)):
            busy.add(period)
    return busy


def names_for(session: Session, codes: set[str], modules: set[str]) -> dict[str, dict[str, str]]:
    """Jurisdiction names by code and module titles by name (newest version's title)."""
    from marketplace.catalog.models import Module, ModuleVersion

    places = dict(session.execute(sa.select(Jurisdiction.code, Jurisdiction.name)
                                  .where(Jurisdiction.code.in_(codes))).all()) if codes else {}
    titles: dict[str, str] = {}
    if modules:
        rows = session.execute(sa.select(Module.name, ModuleVersion.title)
                               .join(ModuleVersion, ModuleVersion.module_id == Module.id)
                               .where(Module.name.in_(modules)).order_by(ModuleVersion.id))
        titles = {name: title for name, title in rows}   # the newest upload wins
    return {"places": places, "titles": titles}


def _statement_detail(session: Session, period: str, code: str) -> dict[str, Any] | None:
    """A statement with its adopter and publisher lines (names, not codes), or None."""
    try:
        statement = settlement.get_statement(session, period, code)
    except MarketplaceError:
        return None
    charges, earnings = settlement.statement_lines(session, period, code)
    lines = [*charges, *earnings]
    names = names_for(session, {code} | {ln.publisher_code for ln in lines}
                      | {ln.adopter_code for ln in lines}, {ln.module_name for ln in lines})
    return {"statement": statement, "charges": charges, "earnings": earnings, **names}


def statements(session: Session, user: Any, period: str | None) -> dict[str, Any]:
    """All my statements (newest first) and the detail of one."""
    items = list(session.scalars(sa.select(Statement)
                                 .where(Statement.jurisdiction_code == user.jurisdiction_code)
                                 .order_by(Statement.period.desc())))
    try:
        period = None if period is None else check_period(period)
    except ValueError:
        period = None                   # only the canonical spelling names a period
    chosen = period or (items[0].period if items else None)
    detail = _statement_detail(session, chosen, user.jurisdiction_code) if chosen else None
    return {"items": items, "chosen": chosen, "detail": detail}


def earnings(session: Session, user: Any) -> dict[str, Any]:
    """A publisher's earnings per settled period, with the lines by module and adopter."""
    data = statements(session, user, request.args.get("period"))
    data["items"] = [s for s in data["items"] if s.total_earnings_minor or s.total_charges_minor]
    return data


def statement_csv(session: Session, user: Any, period: str) -> str:
    """One statement's lines as CSV (adopter charges, publisher earnings), then its totals."""
    detail = _statement_detail(session, settlement.check_period(period), user.jurisdiction_code)
    if detail is None:
        settlement.get_statement(session, period, user.jurisdiction_code)  # raises NotFound
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(["period", "side", "module", "kind", "adopter", "publisher", "units",
                     "amount", "fee", "currency"])
    for side, lines in (("charge", detail["charges"]), ("earning", detail["earnings"])):
        for line in lines:
            writer.writerow([period, side, line.module_name, line.kind, line.adopter_code,
                             line.publisher_code, line.units,
                             format_amount(line.amount_minor, line.currency),
                             format_amount(line.fee_minor, line.currency), line.currency])
    statement = detail["statement"]
    for side, minor in (("total_charges", statement.total_charges_minor),
                        ("total_earnings", statement.total_earnings_minor),
                        ("total_fees", statement.total_fees_minor), ("net", statement.net_minor)):
        writer.writerow([period, side, "", "", "", "", "", format_amount(minor, statement.currency),
                         "", statement.currency])
    return out.getvalue()
