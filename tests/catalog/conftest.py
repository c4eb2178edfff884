"""Catalogue fixtures: modules inserted as rows (no bundles), a few hundred for search tests."""
from __future__ import annotations

import hashlib
import random
from datetime import timedelta
from typing import Any

import pytest

from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace.clock import now
from marketplace.runtime.models import Installation

CATEGORIES = ("economic_regulation", "market_regulation", "public_service", "social_management",
              "environmental_protection", "public_safety", "government_operations")
PUBLISHERS = ("440000", "440300", "440305", "330000", "330100", "310000", "310115", "110000")
TERMS = {
    "free": {"kind": "free", "currency": "CNY"},
    "transfer": {"kind": "transfer", "currency": "CNY", "fee": "20000.00"},
    "pay_per_use": {"kind": "pay_per_use", "currency": "CNY", "model": "graduated",
                    "tiers": [{"up_to": 10000, "unit_price": "0.05"}, {"unit_price": "0.02"}],
                    "free_units": 1000, "cap": "5000.00"},
    "cost_share": {"kind": "cost_share", "currency": "CNY", "period_cost": "3000.00", "basis": "usage"},
}

# the modules real queries must find first: (name, title, summary, tags, category)
LANDMARKS = [
    ("enterprise-registration", "企业开办一件事",
     "One application for business licence, seal, tax and social-security registration.",
     ["一网通办", "营商环境"], "market_regulation"),
    ("medical-settlement", "异地就医直接结算", "Cross-region medical bill settlement for insured patients.",
     ["医保", "跨域通办"], "public_service"),
    ("social-insurance-transfer", "社保关系转移接续", "Move social insurance records between cities.",
     ["社保", "人社"], "public_service"),
    ("identity-check", "电子身份核验", "Verify a citizen's electronic identity card.",
     ["身份证", "实名认证"], "government_operations"),
    ("business-license", "电子营业执照查询", "Look up an electronic business license.",
     ["电子证照", "营商环境"], "market_regulation"),
]

# filler vocabulary: service names that contain none of the test queries
SERVICES = ["公积金提取", "不动产登记", "出生医学证明", "户籍迁移", "排污许可", "交通违法处理", "公交卡充值",
            "养老服务补贴", "残疾人补助", "环境监测数据", "应急物资调度", "政务数据共享", "公共资源交易",
            "农业补贴发放", "文物保护巡查", "食品安全抽检", "消防验收", "城市管理案件", "人才引进", "档案查询"]
WORDS = ["housing", "fund", "property", "registry", "pollution", "permit", "traffic", "transit", "pension",
         "subsidy", "archive", "emergency", "supply", "data", "sharing", "procurement", "farm", "heritage",
         "food", "safety", "fire", "inspection", "talent", "records", "portal"]
# phrases fillers mention only in their README (ranked below title matches)
README_MENTIONS = ["本模块不处理企业开办事项。", "就医相关请见其他模块。", "与社保系统无对接。",
                   "需先完成身份核验。", "Not for medical use.", "No license lookup here.",
                   "See enterprise registration for company setup."]


def add_module(session, name: str, title: str, summary: str = "", *, tags=(), category="public_service",
               publisher="440000", terms="free", state="published", yanked=False, version="1.0.0",
               readme="", implements=None, operations=(("run", "Run it"),), age_days=0) -> Module:
    """Insert a module with one version directly (no bundle, no checks)."""
    module = session.query(Module).filter_by(name=name).one_or_none()
    if module is None:
        module = Module(name=name, publisher_code=publisher, implements=implements)
        session.add(module)
        session.flush()
    major, minor, patch = (int(x) for x in version.split("."))
    stamp = now() - timedelta(days=age_days)
    item = ModuleVersion(
        module_id=module.id, version=version, major=major, minor=minor, patch=patch,
        sha256=hashlib.sha256(f"{name}@{version}".encode()).hexdigest(), state=state, title=title,
        summary=summary, category=category, entry=name.replace("-", "_"), source_license="MulanPSL-2.0",
        implements=implements, tags=list(tags), terms=TERMS[terms], terms_kind=terms, manifest={},
        readme=readme, created_at=stamp, reviewed_at=stamp if state != "pending_review" else None,
        yanked_at=now() if yanked else None, yank_reason="security fix" if yanked else "")
    item.operations = [Operation(name=op, summary=text, units=1,
                                 input_schema={"type": "object", "properties": {"x": {"type": "string"}}},
                                 output_schema={"type": "object"}) for op, text in operations]
    session.add(item)
    session.flush()
    return module


def install(session, module: Module, jurisdiction: str, state: str = "active") -> None:
    """An adopter's installation of the module's newest version."""
    version = max(module.versions, key=lambda v: v.sort_key)
    session.add(Installation(jurisdiction_code=jurisdiction, module_id=module.id, version_id=version.id,
                             terms=version.terms, state=state))
    session.flush()


def _filler_rows(rng: random.Random, n: int) -> tuple[dict, dict, dict]:
    """Rows of one generated module: module, version, operation."""
    service = rng.choice(SERVICES)
    words = rng.sample(WORDS, 3)
    name, kind = f"{words[0]}-{n:04d}", rng.choice(list(TERMS))
    stamp = now() - timedelta(days=rng.randint(0, 400))
    module = {"id": 1000 + n, "name": name, "publisher_code": rng.choice(PUBLISHERS),
              "implements": None, "created_at": stamp}
    version = {
        "id": 1000 + n, "module_id": 1000 + n, "version": "1.0.0", "major": 1, "minor": 0, "patch": 0,
        "prerelease": "", "size": 0, "sha256": hashlib.sha256(name.encode()).hexdigest(),
        "state": "published", "title": f"{service}{rng.choice(['平台', '系统', '服务', ''])}",
        "summary": f"{' '.join(words).capitalize()} service for local bureaus.",
        "category": rng.choice(CATEGORIES), "entry": name.replace("-", "_"),
        "source_license": "MulanPSL-2.0", "implements": None,
        "tags": rng.sample(["一网通办", "数据共享", "跨域通办", "营商环境", "民生"], 2),
        "terms": TERMS[kind], "terms_kind": kind, "manifest": {}, "check_report": {},
        "readme": f"# {service}\n\n{rng.choice(README_MENTIONS)}" if n % 4 == 0 else f"# {service}",
        "created_at": stamp, "reviewed_at": stamp, "review_reason": "", "yank_reason": ""}
    operation = {"version_id": 1000 + n, "name": words[1], "summary": f"{words[1]} lookup", "units": 1,
                 "input_schema": {"type": "object"}, "output_schema": {"type": "object"}, "examples": []}
    return module, version, operation


def build_catalogue(session, fillers: int = 300, seed: int = 7) -> dict[str, Any]:
    """Landmarks plus ``fillers`` generated modules (bulk rows), indexed; returns what was made."""
    import sqlalchemy as sa

    from marketplace.catalog.search import reindex_all

    rng = random.Random(seed)
    for name, title, summary, tags, category in LANDMARKS:
        add_module(session, name, title, summary, tags=tags, category=category, terms="pay_per_use",
                   readme=f"# {title}\n\n{summary}", operations=(("submit", summary[:40]),))
    rows = [_filler_rows(rng, n) for n in range(fillers)]
    for model, index in ((Module, 0), (ModuleVersion, 1), (Operation, 2)):
        session.execute(sa.insert(model.__table__), [r[index] for r in rows])
    # not listed: pending, rejected and fully yanked modules whose titles would match
    add_module(session, "enterprise-pending", "企业开办待审", state="pending_review", publisher="440300")
    add_module(session, "medical-rejected", "就医被拒模块", state="rejected", publisher="440300")
    add_module(session, "license-yanked", "执照 license 已撤回", yanked=True, publisher="330000")
    listed = reindex_all(session)
    session.commit()
    return {"listed": listed, "fillers": fillers}


@pytest.fixture
def catalogue(db_session):
    """A catalogue of 305 listed modules (5 landmarks + 300 fillers) and 3 unlisted ones."""
    return build_catalogue(db_session)
