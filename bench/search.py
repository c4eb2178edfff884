"""Benchmark: catalogue search over 10,000 modules through the API, on SQLite and PostgreSQL.

Builds a catalogue of generated Chinese/English modules (titles, summaries,
tags, operations, ~1 KB READMEs), indexes it with the real ``reindex_all``, then
times ``GET /api/v1/modules?q=…`` (items + total + all four facets) through
the Flask test client for a fixed list of Chinese and English queries.
Target (DESIGN §11): p95 ≤ 50 ms.

``--compare`` instead measures how three SQLite FTS5 analyses rank the test
catalogue's real queries (trigram, jieba when installed, CJK bigrams): the
rank of the module a clerk wants, and recall against plain substring truth.

    python bench/search.py [--modules 10000] [--rounds 10] [--only sqlite|postgresql] [--compare]
"""
from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = ["企业开办", "就医", "社保", "身份", "公积金", "不动产登记", "营商环境", "医", "排污许可",
           "跨域通办", "medical", "license", "enterprise registration", "housing fund",
           "pollution permit", "data sharing", "traffic", "pension subsidy"]
SERVICES = ["企业开办一件事", "异地就医直接结算", "社保关系转移", "电子身份核验", "营业执照查询", "公积金提取",
            "不动产登记", "出生医学证明", "户籍迁移", "排污许可", "交通违法处理", "养老服务补贴", "残疾人补助",
            "环境监测数据", "应急物资调度", "政务数据共享", "公共资源交易", "农业补贴发放", "食品安全抽检",
            "消防验收", "人才引进", "档案查询", "医保报销", "社保卡申领", "新生儿落户"]
WORDS = ["housing", "fund", "property", "registry", "pollution", "permit", "traffic", "transit", "pension",
         "subsidy", "archive", "emergency", "supply", "data", "sharing", "procurement", "farm", "heritage",
         "food", "safety", "fire", "inspection", "talent", "records", "portal", "medical", "license",
         "enterprise", "registration", "insurance", "identity", "birth", "welfare", "tax", "invoice"]
SENTENCES = ["本模块遵循政务服务标准化要求，支持一网通办。", "数据按最小必要原则共享，调用全程留痕。",
             "上线前已完成等级保护测评与压力测试。", "适用于省、市、县三级部署，支持跨域通办。",
             "The module validates every request against its JSON Schema.",
             "Usage is metered per call and settled monthly.", "Adopters keep their own configuration.",
             "办理时限由法定二十个工作日压缩至三个工作日。", "支持电子证照互认，免提交纸质材料。"]
CATEGORIES = ["economic_regulation", "market_regulation", "public_service", "social_management",
              "environmental_protection", "public_safety", "government_operations"]
PUBLISHERS = ["440000", "440300", "440305", "330000", "330100", "310000", "310115", "110000"]
TERMS = [{"kind": "free", "currency": "CNY"},
         {"kind": "transfer", "currency": "CNY", "fee": "20000.00"},
         {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "0.03"},
         {"kind": "cost_share", "currency": "CNY", "period_cost": "3000.00", "basis": "equal"}]


def generate(session: Session, count: int, seed: int = 11) -> None:
    """Insert ``count`` published modules (one version, one or two operations each) as bulk rows."""
    from marketplace.catalog.models import Module, ModuleVersion, Operation

    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    modules, versions, operations = [], [], []
    for n in range(1, count + 1):
        service, words = rng.choice(SERVICES), rng.sample(WORDS, 4)
        terms = rng.choice(TERMS)
        stamp = base + timedelta(minutes=n)
        name = f"{words[0]}-{words[1]}-{n:05d}"
        modules.append({"id": n, "name": name, "publisher_code": rng.choice(PUBLISHERS),
                        "implements": None, "created_at": stamp})
        readme = "\n\n".join([f"# {service}", *rng.choices(SENTENCES, k=12), " ".join(words)])
        versions.append({
            "id": n, "module_id": n, "version": "1.0.0", "major": 1, "minor": 0, "patch": 0,
            "prerelease": "", "size": 0, "sha256": hashlib.sha256(name.encode()).hexdigest(),
            "state": "published", "title": service + rng.choice(["", "平台", "系统", "服务"]),
            "summary": f"{words[0].capitalize()} {words[1]} {words[2]} service for local bureaus.",
            "category": rng.choice(CATEGORIES), "entry": name.replace("-", "_"),
            "source_license": "MulanPSL-2.0", "implements": None,
            "tags": rng.sample(["一网通办", "数据共享", "跨域通办", "营商环境", "民生", "医保"], 2),
            "terms": terms, "terms_kind": terms["kind"], "manifest": {}, "check_report": {},
            "readme": readme, "created_at": stamp, "reviewed_at": stamp, "review_reason": "",
            "yank_reason": ""})
        for op in words[2:2 + rng.randint(1, 2)]:
            operations.append({"version_id": n, "name": f"{op}_lookup", "summary": f"Look up {op} records",
                               "units": 1, "input_schema": {"type": "object"},
                               "output_schema": {"type": "object"}, "examples": []})
    for model, rows in ((Module, modules), (ModuleVersion, versions), (Operation, operations)):
        for start in range(0, len(rows), 2000):
            session.execute(sa.insert(model.__table__), rows[start:start + 2000])
    if session.get_bind().dialect.name == "postgresql":  # explicit ids: move the sequences on
        for table in ("modules", "module_versions"):
            session.execute(sa.text(f"SELECT setval('{table}_id_seq', {count})"))


def prepare(url: str, count: int) -> float:
    """Migrate, load divisions, generate and index the catalogue; returns indexing seconds."""
    from marketplace.accounts.service import load_divisions
    from marketplace.catalog.search import reindex_all
    from marketplace.db import make_engine
    from marketplace.migrate import upgrade

    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        load_divisions(session)
        generate(session, count)
        session.commit()
        started = time.perf_counter()
        listed = reindex_all(session)
        session.commit()
        took = time.perf_counter() - started
        if engine.dialect.name == "postgresql":
            session.execute(sa.text("ANALYZE"))
            session.commit()
    engine.dispose()
    assert listed == count, listed
    return took


def measure(url: str, rounds: int) -> dict[str, list[float]]:
    """Per-query latencies (ms) of the search API through the Flask test client."""
    from marketplace import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": url, "NOW": ""})
    client = app.test_client()
    for query in QUERIES:  # warm caches and connections
        assert client.get("/api/v1/modules", query_string={"q": query}).status_code == 200
    timings: dict[str, list[float]] = {q: [] for q in QUERIES}
    hits: dict[str, int] = {}
    for _ in range(rounds):
        for query in QUERIES:
            started = time.perf_counter()
            response = client.get("/api/v1/modules", query_string={"q": query})
            timings[query].append((time.perf_counter() - started) * 1000)
            hits[query] = response.get_json()["total"]
    app.extensions["db"].engine.dispose()
    timings["_hits"] = [hits[q] for q in QUERIES]  # type: ignore[assignment]
    return timings


def report(engine: str, timings: dict[str, list[float]], index_seconds: float) -> None:
    """Print p50/p95 overall and per query."""
    hits = timings.pop("_hits")
    every = sorted(t for ts in timings.values() for t in ts)
    p = lambda values, q: statistics.quantiles(values, n=100)[q - 1]  # noqa: E731
    print(f"\n{engine}: indexed in {index_seconds:.1f}s; {len(every)} requests: "
          f"p50 {p(every, 50):.1f} ms · p95 {p(every, 95):.1f} ms · max {every[-1]:.1f} ms")
    for (query, ts), n in zip(timings.items(), hits):
        print(f"  {query:<24} hits {n:>5}  p50 {statistics.median(ts):6.1f} ms  max {max(ts):6.1f} ms")


def run_engine(engine: str, count: int, rounds: int) -> None:
    """Build, index and measure on one engine."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            took = prepare(url, count)
            report("SQLite (FTS5, CJK bigrams)", measure(url, rounds), took)
        return
    from tests.support.services import postgres_cluster

    with postgres_cluster() as cluster:
        url = cluster.create_database("bench")
        took = prepare(url, count)
        report("PostgreSQL (full-text tsvector GIN, CJK bigrams)", measure(url, rounds), took)


# substrings a segmenter may cut differently from the document's words
HARDER_QUERIES = [("开办", "enterprise-registration"), ("直接结算", "medical-settlement"),
                  ("转移接续", "social-insurance-transfer"), ("核验", "identity-check"),
                  ("执照", "business-license"), ("营业执照", "business-license"), ("异地", "medical-settlement"),
                  ("electronic", "identity-check")]


def _ranker(kind: str):
    """(index text, MATCH expression or None for a LIKE fallback) for one analysis."""
    from marketplace.catalog.search import _fts_expression, analyse, query_atoms

    if kind == "bigram":
        return analyse, lambda q: _fts_expression(query_atoms(q))
    if kind == "jieba":
        import jieba

        jieba.setLogLevel(60)
        cut = lambda text: " ".join(jieba.cut_for_search(text.lower()))  # noqa: E731
        return cut, lambda q: " ".join('"' + w.replace('"', "") + '"' for w in jieba.cut(q.lower()) if w.strip())
    return (lambda text: text.lower()), lambda q: (
        None if min(len(t) for t in q.split()) < 3 else " ".join(f'"{t}"' for t in q.lower().split()))


def compare() -> None:
    """Rank of the wanted module and recall vs substring truth, per analysis, on the test catalogue."""
    import sqlite3

    from marketplace.catalog.search import WEIGHTS
    from tests.catalog.conftest import LANDMARKS, README_MENTIONS, SERVICES, WORDS
    from tests.catalog.test_search import REAL_QUERIES

    rng = random.Random(7)
    docs = [(name, [title, " ".join(tags) + " " + name, summary, "", f"# {title} {summary}"])
            for name, title, summary, tags, _ in LANDMARKS]
    for n in range(300):
        service, words = rng.choice(SERVICES), rng.sample(WORDS, 3)
        docs.append((f"{words[0]}-{n}", [service, words[0], " ".join(words), words[1],
                                         f"{service} {rng.choice(README_MENTIONS)}" if n % 4 == 0 else service]))
    random.Random(3).shuffle(docs)  # no analysis may win by insertion order
    kinds = ["trigram", "bigram"]
    try:
        import jieba  # noqa: F401
        kinds.insert(1, "jieba")
    except ImportError:
        print("(jieba not installed: pip install jieba to include it)")
    print(f"{'query':<24}" + "".join(f"{k:>22}" for k in kinds) + "   (rank of wanted · recall)")
    for query, wanted in REAL_QUERIES + HARDER_QUERIES:
        truth = {name for name, fields in docs
                 if all(t.lower() in " ".join(fields).lower() for t in query.split())}
        cells = []
        for kind in kinds:
            index, expression = _ranker(kind)
            db = sqlite3.connect(":memory:")
            tokenizer = "trigram" if kind == "trigram" else "porter unicode61"
            db.execute(f"CREATE VIRTUAL TABLE f USING fts5(name UNINDEXED, a, b, c, d, e, tokenize='{tokenizer}')")
            db.executemany("INSERT INTO f VALUES (?,?,?,?,?,?)", [(n, *map(index, fs)) for n, fs in docs])
            match = expression(query)
            if match is None:  # trigram cannot index < 3 characters: LIKE scan, no ranking
                like = " AND ".join("(a||b||c||d||e) LIKE ?" for _ in query.split())
                found = [r[0] for r in db.execute(f"SELECT name FROM f WHERE {like}",
                                                  [f"%{t}%" for t in query.split()])]
            else:
                found = [r[0] for r in db.execute(
                    f"SELECT name FROM f WHERE f MATCH ? ORDER BY bm25(f, 0, {', '.join(map(str, WEIGHTS))})",
                    (match,))]
            rank = found.index(wanted) + 1 if wanted in found else "-"
            recall = len(truth & set(found)) / len(truth) if truth else 1.0
            cells.append(f"#{rank} · {recall:4.0%} of {len(truth)}")
        print(f"{query:<24}" + "".join(f"{c:>22}" for c in cells))


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--compare", action="store_true", help="compare tokenizers instead")
    args = parser.parse_args()
    if args.compare:
        compare()
        return
    for engine in ([args.only] if args.only else ["sqlite", "postgresql"]):
        run_engine(engine, args.modules, args.rounds)


if __name__ == "__main__":
    main()
