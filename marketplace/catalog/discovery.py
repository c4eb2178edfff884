"""Public catalogue reads: search with facets, and one module's full card (DESIGN §8)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from marketplace import db
from marketplace.accounts.auth import Principal, load_principal
from marketplace.accounts.models import Jurisdiction
from marketplace.catalog import search as catalog_search
from marketplace.catalog.manifest import requirements_of
from marketplace.catalog.models import TERMS_KINDS, Module, ModuleVersion, SearchEntry
from marketplace.clock import local
from marketplace.errors import Invalid, NotFound
from marketplace.governance.shares import ownership_json
from marketplace.runtime.models import Installation

bp = Blueprint("catalog_read", __name__, url_prefix="/api/v1")

MAX_PER_PAGE = 100


def _int_arg(args: Any, name: str, default: int, low: int, high: int) -> int:
    """An integer query argument within bounds, or a 422 that names the range."""
    raw = args.get(name, "")
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:  # "²".isdigit()
        raise Invalid("invalid_query", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def search_arguments(args: Any) -> dict[str, Any]:
    """Validated search arguments from a query string (shared by the API and the pages)."""
    sort = args.get("sort") or "relevance"
    if sort not in catalog_search.SORTS:
        raise Invalid("invalid_query", f"sort must be one of {', '.join(catalog_search.SORTS)}")
    terms = args.get("terms") or ""
    if terms and terms not in TERMS_KINDS:
        raise Invalid("invalid_query", f"terms must be one of {', '.join(TERMS_KINDS)}")
    filters = {key: (args.get(key) or "").strip() for key in
               ("category", "terms", "publisher", "implements", "tag")}
    if filters["publisher"]:
        catalog_search.publisher_condition(filters["publisher"])  # validates the code
    return {"q": (args.get("q") or "").strip()[:200], "filters": filters, "sort": sort,
            "page": _int_arg(args, "page", 1, 1, 10_000),
            "per_page": _int_arg(args, "per_page", 20, 1, MAX_PER_PAGE)}


def _stamp(value: Any) -> str | None:
    """An instant as ISO 8601 in the platform time zone."""
    return None if value is None else local(value).isoformat()


@bp.get("/modules")
def list_modules():
    """Search the catalogue: q, filters, sort, pagination, facets. Public."""
    arguments = search_arguments(request.args)
    items, total, facets = catalog_search.search(db.session(), **arguments)
    for item in items:
        item["published_at"] = _stamp(item["published_at"])
    return jsonify({"items": items, "total": total, "page": arguments["page"],
                    "per_page": arguments["per_page"], "facets": facets})


def may_see_unpublished(principal: Principal | None, module: Module) -> bool:
    """Versions not yet published show only to their publisher's tokens and to admins."""
    return principal is not None and (
        principal.is_admin or principal.jurisdiction_code == module.publisher_code)


def describe_terms(terms: dict) -> dict[str, Any]:
    """Terms in numbers (as published) and in words, Chinese and English."""
    from marketplace.settlement import pricing

    words = {}
    for lang in ("zh", "en"):
        try:
            words[lang] = pricing.describe_terms(terms, lang)
        except ValueError:
            words[lang] = ""
    return {**terms, "text": words}


def module_card(session: Session, name: str, principal: Principal | None) -> dict[str, Any]:
    """Everything an adopter needs to judge a module; NotFound when the caller may not see it."""
    module = session.scalar(sa.select(Module).where(Module.name == name))
    if module is None:
        raise NotFound("unknown_module", f"no module named {name!r}; search with GET /api/v1/modules?q=")
    versions = sorted(session.scalars(sa.select(ModuleVersion).where(ModuleVersion.module_id == module.id)),
                      key=lambda v: v.sort_key, reverse=True)
    if not may_see_unpublished(principal, module):
        versions = [v for v in versions if v.state == "published"]
    if not versions:
        raise NotFound("unknown_module", f"no module named {name!r}; search with GET /api/v1/modules?q=")
    current = next((v for v in versions if v.state == "published" and not v.yanked),
                   next((v for v in versions if v.state == "published"), versions[0]))
    publisher = session.get(Jurisdiction, module.publisher_code)
    adopters = session.execute(
        sa.select(Jurisdiction.code, Jurisdiction.name)
        .join(Installation, Installation.jurisdiction_code == Jurisdiction.code)
        .where(Installation.module_id == module.id, Installation.state == "active")
        .order_by(Jurisdiction.code)).all()
    return {
        "name": module.name, "title": current.title, "summary": current.summary,
        "category": current.category, "tags": list(current.tags or []), "version": current.version,
        "state": current.state, "readme": current.readme,
        "publisher": {"code": module.publisher_code, "name": publisher.name if publisher else ""},
        "source_license": current.source_license, "implements": current.implements,
        "implementations": _implementations(session, current.implements, module.id),
        "terms": describe_terms(current.terms or {}),
        "operations": [{"name": op.name, "summary": op.summary, "units": op.units,
                        "input_schema": op.input_schema, "output_schema": op.output_schema,
                        "examples": op.examples} for op in current.operations],
        "versions": [{"version": v.version, "state": v.state, "yanked": v.yanked,
                      "yank_reason": v.yank_reason or None, "sha256": v.sha256,
                      "created_at": _stamp(v.created_at), "yanked_at": _stamp(v.yanked_at)}
                     for v in versions],
        "adopters": {"count": len(adopters),
                     "jurisdictions": [{"code": code, "name": jname} for code, jname in adopters]},
        "adopter_count": len(adopters),
        # DESIGN §14: what a composite calls, as its manifest's [[requires]] say ([] for none)
        "requires": [r.to_dict() for r in requirements_of((current.manifest or {}).get("requires"))],
        **ownership_json(session, module.id),  # DESIGN §13: owners, shares, build cost
    }


def _implementations(session: Session, implements: str | None, module_id: int) -> list[dict[str, Any]]:
    """The other listed modules that implement the same shared interface."""
    if not implements:
        return []
    s = SearchEntry.__table__.c
    rows = session.execute(sa.select(s.name, s.title, s.publisher_code, Jurisdiction.name)
                           .join(Jurisdiction, Jurisdiction.code == s.publisher_code)
                           .where(s.implements == implements, s.module_id != module_id).order_by(s.name))
    return [{"name": n, "title": t, "publisher": {"code": code, "name": pname}} for n, t, code, pname in rows]


@bp.get("/modules/<name>")
def show_module(name: str):
    """One module: versions, operations, terms, adopters, publisher, interface. Public."""
    return jsonify(module_card(db.session(), name, load_principal()))
