"""Statements of a settled period: the JSON of DESIGN §6 and the same as CSV."""
from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace import clock, csvsafe
from marketplace.errors import MarketplaceError, NotFound
from marketplace.money import format_amount
from marketplace.governance.models import ChargeShare
from marketplace.settlement.models import Charge, Statement

FULL_SHARE = 10_000  # a sole owner's share (marketplace.governance.shares.FULL_SHARE)
CSV_COLUMNS = ("section", "module", "kind", "adopter", "publisher", "units", "amount", "fee",
               "owner_share_bps")


class SettlementError(MarketplaceError):
    """Refusal in the settlement area."""


def check_period(period: str) -> str:
    """``period`` if it is a month like 2026-10 (the one spelling), else a 400 ``invalid_period``."""
    try:
        return clock.check_period(period)
    except ValueError as exc:
        raise SettlementError("invalid_period", str(exc)) from None


_LINE = sa.select(*[c for c in Charge.__table__.c],
                  (Charge.amount_minor - Charge.fee_minor).label("earnings_minor"))


# An owner's earnings lines (DESIGN §13): the charge line with the owner's part of it in place of
# the whole: amount = its earnings + its part of the fee, and its share in basis points.
_OWNED = (sa.select(*[c for c in Charge.__table__.c if c.name not in ("amount_minor", "fee_minor")],
                    (ChargeShare.earnings_minor + ChargeShare.fee_minor).label("amount_minor"),
                    ChargeShare.fee_minor.label("fee_minor"),
                    ChargeShare.earnings_minor.label("earnings_minor"),
                    ChargeShare.share_bps.label("owner_share_bps"))
          .join(ChargeShare, ChargeShare.charge_id == Charge.id))


def charge_lines(period: str) -> sa.Select:
    """A query of the period's charge lines with an amount, in (adopter, installation) order."""
    return (_LINE.where(Charge.period == period, Charge.amount_minor != 0)  # credits too (§15)
            .order_by(Charge.adopter_code, Charge.installation_id))


def statement_lines(session: Session, period: str, code: str) -> tuple[list, list]:
    """The charge lines (rows with ``earnings_minor``) of ``code`` in ``period``: (as adopter, as owner).

    As owner, each row is the owner's part of a line (``owner_share_bps``; its
    ``amount_minor``/``fee_minor``/``earnings_minor`` are the owner's parts).
    """
    base = _LINE.where(Charge.period == period)
    charges = session.execute(base.where(Charge.adopter_code == code)
                              .order_by(Charge.module_name, Charge.installation_id)).all()
    earnings = session.execute(_OWNED.where(ChargeShare.period == period, ChargeShare.owner_code == code)
                               .order_by(Charge.module_name, Charge.adopter_code,
                                         Charge.installation_id)).all()
    return list(charges), list(earnings)


def get_statement(session: Session, period: str, code: str) -> Statement:
    """The statement of ``code`` for a settled ``period``, or NotFound."""
    check_period(period)
    found = session.scalar(sa.select(Statement).where(Statement.period == period,
                                                      Statement.jurisdiction_code == code))
    if found is None:
        raise NotFound("no_statement", f"no statement for {code} in {period}: the period is not "
                                       "settled yet or the jurisdiction had no installations in it")
    return found


def statement_json(session: Session, period: str, code: str) -> dict[str, Any]:
    """The statement of ``code`` for ``period`` exactly as DESIGN §6 shows it (plus fees and provider).

    Each earnings line's ``amount`` is what the publisher earns, the line's
    charge less ``fee`` (the platform's share). Every earnings line carries
    ``owner_share_bps`` (DESIGN §13): this owner's share of the module in the period,
    10000 for a sole owner; ``amount`` and ``fee`` are this owner's parts.
    """
    statement = get_statement(session, period, code)
    cur = statement.currency
    charges, earnings = statement_lines(session, period, code)
    body: dict[str, Any] = {
        "jurisdiction": code, "period": period, "currency": cur,
        "charges": [{"module": c.module_name, "kind": c.kind, "units": c.units,
                     "amount": format_amount(c.amount_minor, cur), **_adjusts(c)} for c in charges],
        "earnings": [{"module": c.module_name, "adopter": c.adopter_code,
                      "amount": format_amount(c.earnings_minor, cur),
                      "fee": format_amount(c.fee_minor, cur),
                      "owner_share_bps": c.owner_share_bps, **_adjusts(c, earning=True)}
                     for c in earnings],
        "total_charges": format_amount(statement.total_charges_minor, cur),
        "total_earnings": format_amount(statement.total_earnings_minor, cur),
        "net": format_amount(statement.net_minor, cur),
        "total_fees": format_amount(statement.total_fees_minor, cur),
        "provider": {"name": statement.provider, "status": statement.provider_status,
                     "ref": statement.provider_ref},
    }
    if statement.usage_chain_head:
        body["usage_chain_head"] = statement.usage_chain_head
    return body


def has_statement(session: Session, period: str, code: str) -> bool:
    """Whether ``code`` has a statement row (lines as adopter or owner) in ``period``."""
    return session.scalar(sa.select(Statement.id).where(
        Statement.period == period, Statement.jurisdiction_code == code)) is not None


def empty_statement(period: str, code: str, currency: str) -> dict[str, Any]:
    """The statement of a jurisdiction with no lines in ``period``: the shape of
    :func:`statement_json`, no lines, every total zero, and no ``provider`` (null:
    nothing was handed to one)."""
    zero = format_amount(0, currency)
    return {"jurisdiction": code, "period": period, "currency": currency, "charges": [],
            "earnings": [], "total_charges": zero, "total_earnings": zero, "net": zero,
            "total_fees": zero, "provider": None}


def _adjusts(line: Any, earning: bool = False) -> dict[str, str]:
    """``{"adjusts_period": …}`` of an adjustment line (DESIGN §15), else nothing; an
    earnings line says its kind too (charges carry ``kind`` always)."""
    if not line.adjusts_period:
        return {}
    return {**({"kind": "adjustment"} if earning else {}), "adjusts_period": line.adjusts_period}


def _kind(line: dict[str, Any], kind: str = "") -> str:
    """The CSV kind column: ``adjustment 2026-10`` names the period an adjustment corrects."""
    return f"adjustment {line['adjusts_period']}" if "adjusts_period" in line else kind


def statement_csv(session: Session, period: str, code: str) -> str:
    """The same statement as CSV: one row per charge and earnings line, then the totals."""
    return statement_csv_of(statement_json(session, period, code), code)


def statement_csv_of(body: dict[str, Any], code: str) -> str:
    """A statement body (final or draft) of ``code`` as CSV."""
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in body["charges"]:
        writer.writerow(("charge", line["module"], _kind(line, line["kind"]), code, "", line["units"],
                         line["amount"], "", ""))
    for line in body["earnings"]:
        writer.writerow(("earning", line["module"], _kind(line), line["adopter"], code, "",
                         line["amount"], line["fee"], line["owner_share_bps"]))
    for name in ("total_charges", "total_earnings", "total_fees", "net"):
        writer.writerow((name, "", "", "", "", "", body[name], "", ""))
    return out.getvalue()
