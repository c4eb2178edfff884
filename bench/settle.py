"""Benchmark: settle 10 million usage events over 3,000 installations beside the bare SQL GROUP BY.

Every other module is co-owned (DESIGN §13) by three provinces (5,000 / 3,000 / 2,000
bps), so settling also splits each of their lines among the owners in force.

Fills one period with events (SQLite: INSERT … SELECT from a recursive CTE;
PostgreSQL: generate_series), then in the same run times the bare
``SELECT installation_id, SUM(units) … GROUP BY installation_id`` and a full
``settle()`` with the ledger provider (pricing, charges, statements, period
close, journal).  Target (DESIGN §11): settle ≤ 2× the bare GROUP BY.

    python bench/settle.py [--events 10000000] [--installations 3000] [--only sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from marketplace.accounts import service as accounts  # noqa: E402
from marketplace.catalog.models import Module, ModuleVersion  # noqa: E402
from marketplace.clock import clock, parse_instant  # noqa: E402
from marketplace.db import make_engine  # noqa: E402
from marketplace.governance.shares import set_owners  # noqa: E402
from marketplace.migrate import upgrade  # noqa: E402
from marketplace.runtime.models import Installation  # noqa: E402
from marketplace.settlement import service  # noqa: E402
from tests.support.services import postgres_cluster  # noqa: E402

PERIOD = "2026-10"
BARE = sa.text("SELECT installation_id, SUM(units) FROM usage_events "
               "WHERE period = :p AND status = 'ok' GROUP BY installation_id")
TERMS = [
    {"kind": "free"},
    {"kind": "transfer", "currency": "CNY", "fee": "12000.00"},
    {"kind": "pay_per_use", "currency": "CNY", "model": "graduated", "free_units": 1000, "cap": "5000.00",
     "tiers": [{"up_to": 10000, "unit_price": "0.05"}, {"unit_price": "0.02"}]},
    {"kind": "pay_per_use", "currency": "CNY", "model": "volume",
     "tiers": [{"up_to": 1000, "unit_price": "0.10"}, {"unit_price": "0.03"}]},
    {"kind": "cost_share", "currency": "CNY", "period_cost": "10000.00", "basis": "usage"},
    {"kind": "cost_share", "currency": "CNY", "period_cost": "3000.00", "basis": "equal"},
]
SQLITE_FILL = """
INSERT INTO usage_events (installation_id, event_id, operation, units, status, occurred_at, period,
                          day, duration_ms, source, received_at)
WITH RECURSIVE n(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM n WHERE i < :hi)
SELECT 1 + (i - 1) / :per, printf('e%010d', i), 'op', 1 + i % 3, CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END,
       '2026-10-10 02:00:00.000000', '2026-10', '2026-10-10', 3, 'gateway', '2026-10-10 02:00:00.000000' FROM n
"""
PG_FILL = """
INSERT INTO usage_events (installation_id, event_id, operation, units, status, occurred_at, period,
                          day, duration_ms, source, received_at)
SELECT 1 + (i - 1) / :per, 'e' || lpad(CAST(i AS text), 10, '0'), 'op', 1 + i % 3, CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END,
       TIMESTAMPTZ '2026-10-10 02:00:00+00', '2026-10', DATE '2026-10-10', 3, 'gateway', TIMESTAMPTZ '2026-10-10 02:00:00+00'
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i
"""


def prepare(url: str, installations: int) -> None:
    """Migrate; jurisdictions, modules under every kind of terms, and ``installations`` agreements."""
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        accounts.load_divisions(session)
        codes = sorted(session.scalars(sa.text("SELECT code FROM jurisdictions")))
        provinces = [c for c in codes if c.endswith("0000")]
        modules = -(-installations // len(codes))
        for m in range(modules):
            terms = TERMS[m % len(TERMS)]
            module = Module(name=f"bench-module-{m}", publisher_code=provinces[m % len(provinces)])
            version = ModuleVersion(module=module, version="1.0.0", major=1, sha256=f"{m:064d}",
                                    state="published", title=f"bench {m}", category="public_service",
                                    entry="bench", source_license="MIT", terms=terms,
                                    terms_kind=terms["kind"])
            session.add_all([module, version])
            session.flush()
            if m % 2:  # co-owned: the publisher and the next two provinces
                owners = [(provinces[(m + k) % len(provinces)], bps)
                          for k, bps in enumerate((5000, 3000, 2000))]
                set_owners(session, module.id, owners, 100_000_000, "2026-01", "bench")
            for code in codes[: min(len(codes), installations - m * len(codes))]:
                session.add(Installation(jurisdiction_code=code, module_id=module.id,
                                         version_id=version.id, terms=terms,
                                         created_at=parse_instant("2026-10-02T00:00:00+08:00")))
        session.commit()
    engine.dispose()


def fill(url: str, events: int, installations: int) -> float:
    """Insert ``events`` events in chunks of 1M; returns seconds taken.

    Events come installation by installation with ascending ids, so every index
    grows at its end (random-order inserts into the unique index would make the
    fill, not the settlement, the slow part).
    """
    engine = make_engine(url)
    if url.startswith("sqlite"):
        sa.event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA cache_size = -1000000"))
    sql = PG_FILL if url.startswith("postgresql") else SQLITE_FILL
    started, chunk = time.perf_counter(), 1_000_000
    for lo in range(1, events + 1, chunk):
        with engine.begin() as conn:
            conn.execute(sa.text(sql), {"lo": lo, "hi": min(events, lo + chunk - 1),
                                          "per": -(-events // installations)})
        print(f"  {min(events, lo + chunk - 1):,} events", file=sys.stderr, flush=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


def measure(url: str) -> tuple[float, float, dict]:
    """Time the bare GROUP BY (best of two, warm) and a full settle with the ledger provider."""
    from govmarket_plugins.ledger import LedgerProvider

    engine = make_engine(url)
    bare = []
    for _ in range(2):
        with engine.connect() as conn:
            started = time.perf_counter()
            rows = conn.execute(BARE, {"p": PERIOD}).all()
            bare.append(time.perf_counter() - started)
    clock.configure("2026-11-02T00:00:00+08:00", "Asia/Shanghai")
    session = sessionmaker(engine, expire_on_commit=False)()
    started = time.perf_counter()
    result = service.settle(session, PERIOD, LedgerProvider({}), "bench", fee_bps=100)
    settle_seconds = time.perf_counter() - started
    session.close()
    engine.dispose()
    assert len(rows) > 0 and result["state"] == "closed"
    return min(bare), settle_seconds, result["totals"]


def run(name: str, url: str, events: int, installations: int) -> None:
    """Prepare, fill, measure and print one engine's figures."""
    print(f"[{name}] preparing {installations:,} installations", file=sys.stderr)
    prepare(url, installations)
    seconds = fill(url, events, installations)
    bare, settle_seconds, totals = measure(url)
    print(f"{name}: {events:,} events / {installations:,} installations (filled in {seconds:.0f} s)")
    print(f"  bare GROUP BY   {bare:8.2f} s")
    print(f"  settle()        {settle_seconds:8.2f} s   ({totals['lines']} lines, "
          f"{totals['statements']} statements, charges {totals['charges']} CNY, "
          f"half the modules co-owned by 3 provinces)")
    print(f"  ratio           {settle_seconds / bare:8.2f} ×   (target ≤ 2×)")


def main() -> None:
    """Parse arguments and run on SQLite and/or PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--installations", type=int, default=3000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{tmp}/bench.db", args.events, args.installations)
    if args.only in (None, "postgresql"):
        with postgres_cluster() as cluster:
            run("postgresql", cluster.create_database("bench"), args.events, args.installations)


if __name__ == "__main__":
    main()
