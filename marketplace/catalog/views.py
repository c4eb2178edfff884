"""Catalogue pages: search with facets, and a module page with README, interface, terms and a price calculator."""
from __future__ import annotations

from typing import Any

import markdown
import nh3
import sqlalchemy as sa
from flask import Blueprint, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from marketplace import db
from marketplace.accounts.auth import Principal
from marketplace.accounts.models import Jurisdiction
from marketplace.catalog import search as catalog_search
from marketplace.catalog.discovery import module_card, search_arguments
from marketplace.errors import Invalid
from marketplace.web.i18n import LABELS

bp = Blueprint("catalog_pages", __name__)

CATEGORY_LABELS = {
    "economic_regulation": _l("经济调节"), "market_regulation": _l("市场监管"),
    "public_service": _l("公共服务"), "social_management": _l("社会管理"),
    "environmental_protection": _l("生态环境保护"), "public_safety": _l("公共安全"),
    "government_operations": _l("政务运行"),
}
TERMS_LABELS = LABELS["terms"]
MAX_CALLS = 10**12


def render_readme(text: str) -> Markup:
    """README Markdown as HTML with scripts, handlers and unsafe links removed (nh3)."""
    html = markdown.markdown(text or "", extensions=["fenced_code", "tables"])
    return Markup(nh3.clean(html, link_rel="noopener noreferrer nofollow"))


def summaries(session, cards: list[tuple[str, str]]) -> dict[str, str]:
    """Module summaries in the reader's language: ``summary_en`` of each (name, version) in English.

    ``summary`` is the manifest's Chinese (the platform's language); a module without
    ``summary_en`` shows its one summary in both languages.
    """
    from flask_babel import get_locale

    from marketplace.catalog.models import Module, ModuleVersion

    if str(get_locale() or "zh")[:2] != "en" or not cards:
        return {}
    rows = session.execute(sa.select(Module.name, ModuleVersion.version, ModuleVersion.manifest)
                           .join(ModuleVersion, ModuleVersion.module_id == Module.id)
                           .where(Module.name.in_([name for name, _v in cards])))
    wanted = set(cards)
    return {name: (manifest or {}).get("module", {}).get("summary_en") or ""
            for name, version, manifest in rows if (name, version) in wanted}


def _page_url(**changes: Any) -> str:
    """This catalogue page with some arguments changed (empty value drops one); back to page 1."""
    args = {k: v for k, v in request.args.items() if v}
    args.pop("page", None)
    for key, value in changes.items():
        if value in (None, ""):
            args.pop(key, None)
        else:
            args[key] = value
    return url_for("catalog_pages.catalogue", **args)


@bp.get("/")
def catalogue():
    """Search box, facets and one page of results."""
    arguments = search_arguments(request.args)
    session = db.session()
    items, total, facets = catalog_search.search(session, **arguments)
    provinces = dict(session.execute(sa.select(Jurisdiction.code, Jurisdiction.name).where(
        Jurisdiction.code.in_(list(facets["publisher_province"])))).all())
    pages = max(1, (total + arguments["per_page"] - 1) // arguments["per_page"])
    return render_template("catalog/index.html", items=items, total=total, facets=facets,
                           summaries=summaries(session, [(i["name"], i["version"]) for i in items]),
                           args=arguments, pages=pages, provinces=provinces, page_url=_page_url,
                           categories=CATEGORY_LABELS, terms_labels=TERMS_LABELS)


def _viewer() -> Principal | None:
    """The logged-in user as a principal, for the visibility of unpublished versions."""
    if not current_user.is_authenticated:
        return None
    return Principal(user_id=current_user.id, email=current_user.email, role=current_user.role,
                     jurisdiction_code=current_user.jurisdiction_code, scopes=frozenset(), token_id=0)


def _installed(session, name: str):
    """The logged-in adopter's active installation of module ``name``, if any."""
    from marketplace.catalog.models import Module
    from marketplace.runtime.models import Installation

    if not current_user.is_authenticated or current_user.role != "adopter":
        return None
    return session.scalar(sa.select(Installation).join(Module, Module.id == Installation.module_id)
                          .where(Module.name == name, Installation.state == "active",
                                 Installation.jurisdiction_code == current_user.jurisdiction_code))


def quote(terms: dict, calls: int) -> dict[str, Any]:
    """What ``calls`` successful calls in a month cost under ``terms`` (minor units, or why not)."""
    from marketplace.settlement import pricing

    kind = terms.get("kind")
    if kind == "pay_per_use":
        return {"minor": pricing.price_usage(terms, calls), "note": ""}
    if kind == "transfer":
        return {"minor": 0, "note": _l("一次性转让费在安装时收取，用量不再计费。")}
    if kind == "cost_share":
        return {"minor": None, "note": _l("每月成本由各采用地区分摊，金额取决于采用地区数量与用量。")}
    return {"minor": 0, "note": ""}


@bp.get("/modules/<name>")
def module_page(name: str):
    """README, operations and schemas, terms, versions, adopters and the price calculator."""
    session = db.session()
    card = module_card(session, name, _viewer())
    raw = (request.args.get("calls") or "10000").replace(",", "").strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_CALLS:  # "²".isdigit() is True
        raise Invalid("invalid_calls", f"calls must be a whole number from 0 to {MAX_CALLS:,}")
    calls = int(raw)
    terms = {k: v for k, v in card["terms"].items() if k != "text"}
    summary = summaries(session, [(card["name"], card["version"])]).get(card["name"]) or card["summary"]
    from marketplace.catalog.flow import composite_flow

    return render_template("catalog/module.html", card=card, readme=render_readme(card["readme"]),
                           summary=summary, installed=_installed(session, name),
                           flow=composite_flow(session, card["name"], card["version"]),
                           calls=calls, quote=quote(terms, calls), terms=terms,
                           categories=CATEGORY_LABELS, terms_labels=TERMS_LABELS)
