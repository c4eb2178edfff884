"""Benchmark: POST /api/v1/usage with batches of 1,000 through the real server (gunicorn, 2 workers).

Prints events/s over HTTP beside the raw DBAPI ``executemany`` rate of the same
rows into a fresh database of the same schema, on SQLite and on PostgreSQL
(a throwaway cluster). Target (DESIGN §11): ≥ 50,000 events/s.

    python bench/ingest.py [--seconds 10] [--clients 2] [--only sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from marketplace.accounts import service as accounts  # noqa: E402
from marketplace.catalog.models import Module, ModuleVersion, Operation  # noqa: E402
from marketplace.db import make_engine  # noqa: E402
from marketplace.migrate import upgrade  # noqa: E402
from marketplace.runtime.models import Installation  # noqa: E402
from tests.support.services import free_port, postgres_cluster, wait_port  # noqa: E402

BATCH = 1000
OCCURRED = "2026-10-05T08:00:00+08:00"


def prepare(url: str) -> tuple[str, int]:
    """Migrate, add one jurisdiction, adopter, module and installation; returns (token, installation id)."""
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        accounts.add_jurisdiction(session, "440000", "广东省")
        accounts.add_jurisdiction(session, "440300", "深圳市")
        user = accounts.add_user(session, "bench@gov.example.cn", "bench password", "440300", "adopter")
        _, token = accounts.issue_token(session, user, "usage")
        module = Module(name="bench-module", publisher_code="440000")
        version = ModuleVersion(module=module, version="1.0.0", major=1, sha256="0" * 64, state="published",
                                title="bench", category="public_service", entry="bench",
                                source_license="MIT", terms={"kind": "free"}, terms_kind="free",
                                operations=[Operation(name="op", units=1)])
        session.add_all([module, version])
        session.flush()
        installation = Installation(jurisdiction_code="440300", module_id=module.id, version_id=version.id,
                                    accepted_at=datetime(2020, 1, 1, tzinfo=timezone.utc))
        session.add(installation)
        session.commit()
        installation_id = installation.id
    engine.dispose()
    return token, installation_id


def batch_body(prefix: str, number: int) -> bytes:
    """One request body of BATCH unique events."""
    events = ",".join(
        f'{{"id":"{prefix}-{number}-{i}","module":"bench-module","operation":"op","units":1,'
        f'"occurred_at":"{OCCURRED}"}}' for i in range(BATCH))
    return f'{{"events":[{events}]}}'.encode()


def run_server(url: str, port: int, workdir: Path) -> subprocess.Popen:
    """gunicorn via marketplace.server.serve with 2 workers, in a subprocess."""
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": url, "MARKETPLACE_INSTANCE": str(workdir),
           "MARKETPLACE_SECRET_KEY": "bench", "PYTHONPATH": str(ROOT)}
    env.pop("MARKETPLACE_NOW", None)
    code = f"from marketplace.server import serve; serve('127.0.0.1', {port}, 2)"
    process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=str(workdir))
    wait_port(port)
    return process


def http_rate(port: int, token: str, seconds: float, clients: int) -> tuple[int, float, int]:
    """Post unique batches from ``clients`` threads for ``seconds``; (accepted, elapsed, errors)."""
    url = f"http://127.0.0.1:{port}/api/v1/usage"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    requests.post(url, data=batch_body("warmup", 0), headers=headers, timeout=60).raise_for_status()
    accepted, errors, lock = [0], [0], threading.Lock()

    # bodies are built before the clock starts, so the load generator spends its CPU on HTTP only
    per_client = int(seconds * 80_000 / BATCH / clients) + 1
    bodies = [[batch_body(f"c{n}", number) for number in range(per_client)] for n in range(clients)]
    deadline = time.perf_counter() + seconds

    def client(n: int) -> None:
        http = requests.Session()
        for body in bodies[n]:
            if time.perf_counter() >= deadline:
                break
            response = http.post(url, data=body, headers=headers, timeout=60)
            with lock:
                if response.status_code == 200:
                    accepted[0] += response.json()["accepted"]
                else:
                    errors[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return accepted[0], time.perf_counter() - started, errors[0]


def raw_rate(url: str, installation_id: int, count: int) -> float:
    """events/s of DBAPI executemany of the same rows (1,000 a batch, one commit each)."""
    engine = make_engine(url)
    received = datetime.now(timezone.utc)
    occurred = datetime.fromisoformat(OCCURRED).astimezone(timezone.utc)
    sqlite = url.startswith("sqlite")
    if sqlite:  # stored as UTCDateTime/Date store them on SQLite
        received, occurred = (received.replace(tzinfo=None).isoformat(" "),
                              occurred.replace(tzinfo=None).isoformat(" "))
    mark = "?" if sqlite else "%s"
    sql = ("INSERT INTO usage_events (installation_id, event_id, operation, units, status, occurred_at,"
           " period, day, duration_ms, source, received_at) VALUES (" + ", ".join([mark] * 11) + ")")
    batches = max(1, count // BATCH)
    raw = engine.raw_connection()
    cursor = raw.cursor()
    started = time.perf_counter()
    for b in range(batches):
        rows = [(installation_id, f"raw-{b}-{i}", "op", 1, "ok", occurred, "2026-10", "2026-10-05", 0,
                 "reported", received) for i in range(BATCH)]
        cursor.executemany(sql, rows)
        raw.commit()
    elapsed = time.perf_counter() - started
    raw.close()
    engine.dispose()
    return batches * BATCH / elapsed


def bench(name: str, url: str, raw_url: str, workdir: Path, seconds: float, clients: int) -> None:
    """Run one engine's measurements and print them."""
    token, _ = prepare(url)
    port = free_port()
    server = run_server(url, port, workdir)
    try:
        accepted, elapsed, errors = http_rate(port, token, seconds, clients)
    finally:
        server.terminate()
        server.wait(30)
    _, raw_installation = prepare(raw_url)
    raw = raw_rate(raw_url, raw_installation, max(accepted, 20 * BATCH))
    http = accepted / elapsed
    print(f"{name:10} POST /api/v1/usage: {http:>9,.0f} events/s ({accepted:,} in {elapsed:.1f} s, "
          f"{clients} clients, {errors} errors) | raw executemany: {raw:>9,.0f} events/s | "
          f"ratio {http / raw:.0%} | target 50,000: {'met' if http >= 50_000 else 'NOT met'}")


def main() -> None:
    """Parse arguments and run the benchmark on each engine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gm-bench-") as tmp:
        workdir = Path(tmp)
        if args.only in (None, "sqlite"):
            bench("sqlite", f"sqlite:///{workdir / 'http.db'}", f"sqlite:///{workdir / 'raw.db'}",
                  workdir, args.seconds, args.clients)
        if args.only in (None, "postgresql"):
            with postgres_cluster() as cluster:
                bench("postgresql", cluster.create_database("bench_http"),
                      cluster.create_database("bench_raw"), workdir, args.seconds, args.clients)


if __name__ == "__main__":
    main()
