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
import shutil
import statistics
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


def main() -> None:
    """Set up a database and a gunicorn server, soak it, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    from bench.gateway import bench_environment, prepare, start_server
    from tests.support.services import postgres_cluster

    def soak(url: str, workdir: Path) -> dict:
        bench_environment(url, workdir)
        token, installation_id = prepare(workdir, "invoke usage")
        server, port = start_server(workdir, args.workers)
        try:
            result = run_soak(f"http://127.0.0.1:{port}", token, "bench-echo", "echo",
                              {"text": "soak"}, args.seconds, args.processes)
            return summary(result, verify(url, installation_id, result["acked"]))
        finally:
            server.terminate()
            server.wait(30)

    workdir = Path(tempfile.mkdtemp(prefix="gm-bench-soak-"))
    try:
        if args.db == "postgresql":
            with postgres_cluster() as cluster:
                figures = soak(cluster.create_database("soak"), workdir)
        else:
            figures = soak(f"sqlite:///{workdir / 'soak.db'}", workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures.update(db=args.db, workers=args.workers, processes=args.processes)
    print(json.dumps(figures, indent=2))

if __name__ == "__main__":
    main()
