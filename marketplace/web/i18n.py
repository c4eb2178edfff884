"""Chinese first, English on request; money and time formatting for templates."""
from __future__ import annotations

from datetime import datetime

from flask import Flask, request, session
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l

from marketplace.clock import local

LANGUAGES = ("zh", "en")
# Every stored code word a page can show, by kind, in words a clerk reads (pages never show the code)
# API token scopes: the word a machine sends stays visible next to its meaning
SCOPE_NAMES = {"read": _l("只读 read"), "publish": _l("发布模块 publish"),
               "install": _l("安装模块 install"), "invoke": _l("调用模块 invoke"),
               "usage": _l("上报用量 usage"), "admin": _l("平台管理 admin")}

LABELS = {
    "state": {"pending_review": _l("待审核"), "pending_owners": _l("待共有方决定"),
              "published": _l("已发布"), "rejected": _l("已驳回"),
              "active": _l("使用中"), "ended": _l("已结束"), "open": _l("未结算"),
              "settling": _l("结算中"), "closed": _l("已结算")},
    "terms": {"free": _l("免费"), "transfer": _l("软件转让"), "pay_per_use": _l("用者付费"),
              "cost_share": _l("成本分担")},
    "provider": {"ledger": _l("内置账本"), "stripe": "Stripe"},
    "provider_status": {"pending": _l("待处理"), "booked": _l("已记账"), "nothing_due": _l("无应付款"),
                        "issued": _l("已开具"), "invoiced": _l("已开票"), "paid": _l("已付款"),
                        "payment_failed": _l("付款失败")},
    "role": {"publisher": _l("发布方"), "adopter": _l("采用方"), "admin": _l("平台运营")},
    "level": {"province": _l("省级"), "city": _l("市级"), "county": _l("县级")},
    "direction": {"in": _l("收款"), "out": _l("付款")},
    "model": {"per_unit": _l("按次计价"), "graduated": _l("累进阶梯"), "volume": _l("总量阶梯")},
}


def select_locale() -> str:
    """``?lang=`` switches and is remembered in the session; Chinese by default."""
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session["lang"] = wanted
        return wanted
    return session.get("lang", "zh")


def money(minor: int | None, currency: str = "CNY") -> str:
    """Minor units as ``¥1,234.50`` (negative: ``-¥12.00``)."""
    from marketplace.money import format_display

    return format_display(int(minor or 0), currency)


def localtime(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored instant (or its ISO text) shown in the platform time zone, to the minute."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if value else None
    return "" if value is None else local(value).strftime(fmt)


def label(value: object, kind: str | None = None) -> str:
    """A stored code word in the reader's language (``kind`` from LABELS; None: any kind)."""
    kinds = [LABELS[kind]] if kind else LABELS.values()
    for words in kinds:
        if value in words:
            return str(words[value])
    return "" if value is None else str(value)


def detail_text(value: object) -> str:
    """An audit entry's details as ``key: value`` text, code words in words (never a repr)."""
    if isinstance(value, dict) and value.get("kind") in LABELS["terms"]:   # an agreement's terms
        from marketplace.web.consoles.estimate import describe

        return describe(value, str(get_locale() or "zh")[:2])
    if isinstance(value, dict):
        return "; ".join(f"{str(key).replace('_', ' ')}: {detail_text(item)}"
                         for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(detail_text(item) for item in value)
    if isinstance(value, bool):
        return "✔" if value else "✘"
    return label(value) if isinstance(value, str) else ("" if value is None else str(value))


def init_i18n(app: Flask) -> None:
    """Flask-Babel with our locale selector, and the formatting filters."""
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["detail_text"] = detail_text   # the audit journal's details

    @app.context_processor
    def language():
        return {"lang": select_locale(), "languages": LANGUAGES}
