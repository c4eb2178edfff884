"""What a proposal asks, validated once at the edge (API, page and CLI alike).

A flat run of checks collecting every located problem (``body.owners[1].share_bps``):
owners are jurisdictions that exist, each listed once, with whole basis points > 0
summing to 10,000; the build cost is a non-negative amount with at most 2 decimals
within the money bounds; terms are checked exactly as a manifest's ``[terms]`` table
is at publish. Fields a kind does not take are refused, never ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.accounts.models import Jurisdiction
from marketplace.accounts.service import CODE_RE
from marketplace.errors import MarketplaceError
from marketplace.governance.models_proposals import PROPOSAL_KINDS
from marketplace.governance.shares import FULL_SHARE
from marketplace.jsonio import shown
from marketplace.money import AmountError, parse_amount, to_minor

MAX_NOTE = 1000
MAX_OWNERS = 100
BUILD_CURRENCY = "CNY"          # build costs are recorded in yuan (shares.build_cost_minor)
FIELDS = {"owners": {"kind", "owners", "build_cost", "note"}, "terms": {"kind", "terms", "note"}}


@dataclass(frozen=True)
class ProposalInput:
    """A validated proposal: ``owners`` [(code, bps)] and ``build_cost_minor``, or ``terms``."""

    kind: str
    note: str = ""
    owners: tuple[tuple[str, int], ...] = ()
    build_cost_minor: int | None = None
    terms: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """What the proposal row stores."""
        if self.kind == "owners":
            return {"owners": [{"code": c, "share_bps": b} for c, b in self.owners],
                    "build_cost_minor": self.build_cost_minor}
        return {"terms": self.terms}


def _refuse(problems: list[dict[str, str]], reason: str = "invalid_proposal") -> MarketplaceError:
    first = problems[0]
    return MarketplaceError(reason, f"{first['where']}: {first['message']}"
                            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                            details=problems[:50])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _owners(session: Session, value: Any, problems: list[dict[str, str]]) -> list[tuple[str, int]]:
    where = "body.owners"
    if not isinstance(value, list) or not value:
        problems.append({"where": where, "message": "give a list of owners like "
                         '[{"code": "330000", "share_bps": 6000}, …]'})
        return []
    if len(value) > MAX_OWNERS:
        problems.append({"where": where, "message": f"at most {MAX_OWNERS} owners"})
        return []
    owners, seen = [], set()
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            problems.append({"where": at, "message": "must be an object with code and share_bps"})
            continue
        for key in sorted(set(item) - {"code", "share_bps"}):
            problems.append({"where": f"{at}.{key[:40]}", "message": "unknown field; an owner "
                             "has code and share_bps"})
        code, bps = item.get("code"), item.get("share_bps")
        if not isinstance(code, str) or not CODE_RE.fullmatch(code):
            problems.append({"where": f"{at}.code", "message": "must be a six-digit jurisdiction "
                             f"code like \"330000\", got {shown(code, 20)}"})
            code = None
        elif code in seen:
            problems.append({"where": f"{at}.code", "message": f"{code} is listed twice; "
                             "list each owner once"})
        if not _is_int(bps) or not 0 < bps <= FULL_SHARE:
            problems.append({"where": f"{at}.share_bps", "message": "must be a whole number of "
                             f"basis points from 1 to {FULL_SHARE:,}, got {shown(bps, 20)}"})
            bps = None
        if code is not None:
            seen.add(code)
        if code is not None and bps is not None:
            owners.append((code, bps))
    if problems:
        return owners
    total = sum(bps for _, bps in owners)
    if total != FULL_SHARE:
        problems.append({"where": where, "message": f"shares must sum to {FULL_SHARE:,} basis "
                         f"points; these sum to {total:,}"})
    known = set(session.scalars(sa.select(Jurisdiction.code)
                                .where(Jurisdiction.code.in_([c for c, _ in owners]))))
    for i, (code, _) in enumerate(owners):
        if code not in known:
            problems.append({"where": f"{where}[{i}].code", "message": f"no jurisdiction {code}"})
    return sorted(owners)


def _build_cost(value: Any, problems: list[dict[str, str]]) -> int | None:
    where = "body.build_cost"
    if value is None:
        return None
    try:
        amount = parse_amount(value, where)
    except AmountError as exc:
        problems.append({"where": where, "message": exc.reason})
        return None
    if amount != amount.quantize(Decimal("0.01")):
        problems.append({"where": where, "message": f"at most 2 decimal places, got {shown(value)}"})
        return None
    return to_minor(amount, BUILD_CURRENCY)


def terms_problems(value: Any) -> list[dict[str, str]]:
    """Problems of a ``[terms]`` table as publish finds them (manifest check), located in the body."""
    from marketplace.catalog.manifest import _Checker

    if not isinstance(value, dict):
        return [{"where": "body.terms", "message": "must be an object: the [terms] table of the "
                 "next version, e.g. {\"kind\": \"free\"}"}]
    check = _Checker({})
    check.terms(value)
    found = [{"where": "body." + p["where"].removeprefix("manifest.toml: "), "message": p["message"]}
             for p in check.problems]
    found += [{"where": f"body.{w}", "message": "null is not a TOML value; leave the field out"}
              for w in _nulls(value, "terms")]
    return found


def _nulls(value: Any, path: str) -> list[str]:
    """Where a JSON value holds null (TOML, so a manifest, has none)."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _nulls(v, f"{path}[{i}]")]
    return []


def parse_proposal(session: Session, body: dict[str, Any]) -> ProposalInput:
    """A validated :class:`ProposalInput` from a request body, or a 400 listing every problem."""
    kind = body.get("kind")
    if kind not in PROPOSAL_KINDS:
        raise _refuse([{"where": "body.kind", "message": f"must be one of {', '.join(PROPOSAL_KINDS)}"
                        f", got {shown(kind)}"}])
    unknown = sorted(set(body) - FIELDS[kind])
    if unknown:
        raise MarketplaceError("unknown_field", f"body: field {unknown[0][:80]!r} is not accepted "
                               f"in a {kind} proposal; send only {', '.join(sorted(FIELDS[kind]))}",
                               details=[{"where": f"body.{k[:80]}", "message": "unknown field"}
                                        for k in unknown[:20]])
    note = body.get("note") or ""
    problems: list[dict[str, str]] = []
    if not isinstance(note, str):
        problems.append({"where": "body.note", "message": "must be a string"})
        note = ""
    elif len(note) > MAX_NOTE:
        problems.append({"where": "body.note", "message": f"holds {len(note):,} characters; at "
                         f"most {MAX_NOTE:,} are accepted"})
    if kind == "terms":
        if "terms" not in body:
            problems.append({"where": "body.terms", "message": "required: the [terms] table"})
        else:
            problems += terms_problems(body["terms"])
        if problems:
            raise _refuse(problems, "invalid_terms" if "terms" in body else "invalid_proposal")
        return ProposalInput(kind, note, terms=dict(body["terms"]))
    if "owners" not in body:
        problems.append({"where": "body.owners", "message": "required: the new owners and shares"})
        owners: list[tuple[str, int]] = []
    else:
        owners = _owners(session, body["owners"], problems)
    cost = _build_cost(body.get("build_cost"), problems)
    if problems:
        raise _refuse(problems)
    return ProposalInput(kind, note, owners=tuple(owners), build_cost_minor=cost)


def body_from_form(form: Any) -> dict[str, Any]:
    """A proposal body from the console form: owners one per line as ``CODE:BASIS_POINTS``
    (or ``CODE BASIS_POINTS``), terms as JSON; then checked by :func:`parse_proposal`."""
    from marketplace import jsonio

    kind = form.get("kind", "")
    body: dict[str, Any] = {"kind": kind, "note": form.get("note", "")}
    if kind == "owners":
        owners = []
        for i, line in enumerate(form.get("owners", "").splitlines()):
            if not line.strip():
                continue
            code, _, bps = line.replace("：", ":").replace(":", " ").strip().partition(" ")
            bps = bps.strip()
            if not (bps.isascii() and bps.isdigit() and len(bps) <= 6):
                raise _refuse([{"where": f"body.owners[{i}]", "message": "write each owner on a "
                                f"line as CODE:BASIS_POINTS, e.g. 330000:6000; got {line[:40]!r}"}])
            owners.append({"code": code, "share_bps": int(bps)})
        body["owners"] = owners
        if form.get("build_cost", "").strip():
            body["build_cost"] = form["build_cost"].strip()
    elif kind == "terms":
        try:
            body["terms"] = jsonio.loads(form.get("terms", "").encode("utf-8"), "body.terms")
        except jsonio.JSONRefused as exc:
            raise _refuse([{"where": "body.terms", "message": "write the [terms] table as "
                            f"JSON, e.g. {{\"kind\": \"free\"}}: {exc.message}"}],
                          "invalid_terms") from None
    return body
