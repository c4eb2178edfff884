"""Soak: mixed gateway calls and usage reports from several processes against gunicorn.

Each load process alternates a metered gateway call (``POST /api/v1/invoke/…``) and a
usage report of 100 fresh events (``POST /api/v1/usage``) for ``--seconds``. Every 200
is an acknowledgement: the gateway's ``X-Usage-Event`` id, or the reported ids. At the
end the database is asked for each acknowledged event: lost = acknowledged but absent,
duplicates = present more than once. Prints requests, error rate, p50/p99 per kind.

    python bench/soak.py [--seconds 60] [--processes 4] [--workers 4] [--db sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BATCH = 100


def load_process(base_url: str, token: str, module: str, operation: str, payload: dict,
                 seconds: float, name: str) -> dict:
    """One client process: alternate gateway calls and usage reports; returns what it saw."""
    import requests

    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    seen = {"gateway": [], "usage": []}          # (status, seconds) per request
    acked: list[str] = []
    deadline = time.time() + seconds
    n = 0
    while time.time() < deadline:
        started = time.perf_counter()
        try:
            answer = session.post(f"{base_url}/api/v1/invoke/{module}/{operation}", json=payload,
                                  headers=headers, timeout=30)
            seen["gateway"].append((answer.status_code, time.perf_counter() - started))
            if answer.status_code == 200:
                acked.append(answer.headers["X-Usage-Event"])
        except requests.RequestException:
            seen["gateway"].append((0, time.perf_counter() - started))
        stamp = datetime.now(timezone.utc).isoformat()
        events = [{"id": f"{name}-{n}-{i}", "module": module, "operation": operation, "units": 1,
                   "occurred_at": stamp} for i in range(BATCH)]
        n += 1
        started = time.perf_counter()
        try:
            answer = session.post(f"{base_url}/api/v1/usage", json={"events": events},
                                  headers=headers, timeout=30)
            seen["usage"].append((answer.status_code, time.perf_counter() - started))
            if answer.status_code == 200 and not answer.json()["rejected"]:
                acked.extend(e["id"] for e in events)
        except requests.RequestException:
            seen["usage"].append((0, time.perf_counter() - started))
    return {"seen": seen, "acked": acked}


def run_soak(base_url: str, token: str, module: str, operation: str, payload: dict,
             seconds: float, processes: int) -> dict:
    """Run ``processes`` load processes for ``seconds``; merged observations."""
    context = multiprocessing.get_context("spawn")
    tag = uuid.uuid4().hex[:8]
    with context.Pool(processes) as pool:
        results = pool.starmap(load_process, [(base_url, token, module, operation, payload, seconds,
                                               f"soak-{tag}-{p}") for p in range(processes)])
    merged = {"gateway": [], "usage": [], "acked": []}
    for item in results:
        merged["gateway"] += item["seen"]["gateway"]
        merged["usage"] += item["seen"]["usage"]
        merged["acked"] += item["acked"]
    merged["seconds"] = seconds
    return merged


def verify(database_url: str, installation_id: int, acked: list[str]) -> dict:
    """Lost and duplicated acknowledged events, counted in the database."""
    import sqlalchemy as sa

    from marketplace.db import make_engine
    from marketplace.metering.models import UsageEvent

    engine = make_engine(database_url)
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.select(UsageEvent.event_id, sa.func.count())
                                   .where(UsageEvent.installation_id == installation_id)
                                   .group_by(UsageEvent.event_id)).all())
    engine.dispose()
    return {"acknowledged": len(acked), "lost": sum(1 for e in set(acked) if e not in counts),
            "duplicates": sum(1 for c in counts.values() if c > 1)}


def summary(result: dict, checked: dict) -> dict:
    """Requests, error rate and latency percentiles per kind, plus the loss/duplicate check."""
    out = {**checked, "seconds": result["seconds"]}
    for kind in ("gateway", "usage"):
        rows = result[kind]
        times = sorted(t for _, t in rows)
        cuts = statistics.quantiles(times, n=100) if len(times) > 1 else [times[0] * 1000] * 99
        errors = sum(1 for status, _ in rows if status != 200)
        out[kind] = {"requests": len(rows), "per_s": round(len(rows) / result["seconds"], 1),
                     "error_rate": round(errors / max(len(rows), 1), 5),
                     "p50_ms": round(cuts[49] * 1000, 1), "p99_ms": round(cuts[98] * 1000, 1)}
    out["usage"]["events_per_s"] = round(out["usage"]["requests"] * BATCH / result["seconds"], 1)
    return out


def prepare(url: str, workdir: Path) -> tuple[str, int]:
    """Migrate, publish the gateway benchmark's echo module, install it; (token, installation id)."""
    from bench.gateway import TOY_CODE, TOY_MANIFEST
    from marketplace import create_app, db
    from marketplace.accounts import service as accounts
    from marketplace.catalog import service as catalog
    from marketplace.catalog.bundle import build_bundle
    from marketplace.catalog.store import store_for
    from marketplace.migrate import upgrade
    from marketplace.runtime import service as runtime

    app = create_app()
    upgrade(url)
    src = workdir / "src"
    (src / "bench_echo").mkdir(parents=True)
    (src / "manifest.toml").write_text(TOY_MANIFEST, encoding="utf-8")
    (src / "bench_echo" / "__init__.py").write_text(TOY_CODE, encoding="utf-8")
    data = build_bundle(src, workdir / "dist").read_bytes()
    with app.app_context():
        session = db.session()
        accounts.load_divisions(session)
        publisher = accounts.add_user(session, "pub@gov.example.cn", "soak password", "440000",
                                      "publisher")
        adopter = accounts.add_user(session, "soak@gov.example.cn", "soak password", "440300",
                                    "adopter")
        catalog.publish(session, data, publisher, store_for(app.config), require_review=False)
        item = runtime.install(session, adopter, "bench-echo", accept_terms=True)
        _, token = accounts.issue_token(session, adopter, "invoke usage")
        session.commit()
        installation_id = item.id
    app.extensions["db"].engine.dispose()
    return token, installation_id


def main() -> None:
    """Set up a database and a gunicorn server, soak it, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    from tests.support.services import PostgresCluster, free_port, wait_port

    workdir = Path(tempfile.mkdtemp(prefix="gm-bench-soak-"))
    workdir.chmod(0o755)                     # the postgres user must reach its data folder
    cluster = None
    if args.db == "postgresql":
        cluster = PostgresCluster(workdir / "pg")
        cluster.start()
        url = cluster.url("postgres")
    else:
        url = f"sqlite:///{workdir / 'soak.db'}"
    os.environ.update({"MARKETPLACE_DATABASE_URL": url, "MARKETPLACE_INSTANCE": str(workdir),
                       "MARKETPLACE_ARTIFACT_DIR": str(workdir / "artifacts"),
                       "MARKETPLACE_SECRET_KEY": "soak", "MARKETPLACE_REQUIRE_REVIEW": "0",
                       "MARKETPLACE_QUOTA_PER_MINUTE": str(10 ** 9)})
    os.environ.pop("MARKETPLACE_NOW", None)
    token, installation_id = prepare(url, workdir)
    port = free_port()
    code = ("import sys; sys.path.insert(0, %r); from marketplace.server import serve; "
            "serve('127.0.0.1', %d, %d)" % (str(ROOT), port, args.workers))
    server = subprocess.Popen([sys.executable, "-c", code], cwd=str(workdir))
    try:
        wait_port(port)
        result = run_soak(f"http://127.0.0.1:{port}", token, "bench-echo", "echo", {"text": "soak"},
                          args.seconds, args.processes)
        figures = summary(result, verify(url, installation_id, result["acked"]))
        figures.update(db=args.db, workers=args.workers, processes=args.processes)
        print(json.dumps(figures, indent=2))
    finally:
        server.terminate()
        server.wait(30)
        if cluster:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
