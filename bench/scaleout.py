"""Benchmark: one vs two app hosts on one PostgreSQL, same load, side by side (DESIGN §17).

Each host is a ``marketplace serve`` process group (``--workers`` gunicorn workers,
own instance folder) with its bundles in the ``db`` artifact store. In alternating
rounds the same wrk load (``--connections`` in all) goes to one host, then is split
over two; throughput is the sum. Then the kill drill: both hosts under load, one
SIGKILLed, and every acknowledged call's usage event looked up (lost must be 0).
Last, ``marketplace backup`` and ``restore`` of the loaded database, timed.

    python bench/scaleout.py [--seconds 3] [--rounds 4] [--connections 8] [--workers 1]

On this 2-core machine the load generator, PostgreSQL and the hosts share two cores,
so two hosts cannot double the throughput here; the figure shows what a second host
costs or gains on one machine, and that it loses nothing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wrk(host, token: str, seconds: float, connections: int, out: dict) -> None:
    """One wrk run against ``host``; its requests/s into ``out[host.port]``."""
    import re

    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text('wrk.method = "POST"\nwrk.body = "{\\"text\\":\\"hi\\"}"\n'
                      'wrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.headers["Authorization"] = "Bearer {token}"\n', encoding="utf-8")
    text = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                           "-s", str(script), f"{host.base}/api/v1/invoke/scale-echo/echo"],
                          capture_output=True, text=True, check=True).stdout
    script.unlink()
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out[host.port] = (float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
                      int(bad.group(1)) if bad else 0)


def round_on(hosts, token: str, seconds: float, connections: int) -> tuple[float, int]:
    """Total requests/s and non-200 answers of ``connections`` split over ``hosts``."""
    out: dict = {}
    share = max(1, connections // len(hosts))
    threads = [threading.Thread(target=wrk, args=(h, token, seconds, share, out)) for h in hosts]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    return sum(r for r, _ in out.values()), sum(b for _, b in out.values())


def kill_drill(hosts, token: str, url: str) -> tuple[int, int, int]:
    """Both hosts under load, the first SIGKILLed: (acknowledged, lost, served by the other after)."""
    import sqlalchemy as sa

    from marketplace.db import make_engine
    from tests.ops.hosts import load

    stop = threading.Event()
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(load(hosts, token, stop, 3)))
    runner.start()
    time.sleep(2.0)
    hosts[0].kill()
    time.sleep(2.0)
    stop.set()
    runner.join()
    acked = {e for tally in result.values() for e in tally.acked}
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = set(conn.scalars(sa.text("SELECT event_id FROM usage_events")))
    engine.dispose()
    return len(acked), len(acked - stored), len(result[hosts[1].port].acked)


def backup_drill(url: str, cluster, workdir: Path) -> tuple[float, float, int]:
    """Seconds of ``marketplace backup`` and of ``restore`` into a new database; events."""
    import sqlalchemy as sa

    from marketplace.db import make_engine

    env = {**os.environ, "MARKETPLACE_DATABASE_URL": url, "MARKETPLACE_ARTIFACT_STORE": "db",
           "MARKETPLACE_INSTANCE": str(workdir / "cli"), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "marketplace", "backup", str(workdir / "bk")],
                   env=env, check=True, capture_output=True)
    backed = time.perf_counter() - started
    env["MARKETPLACE_DATABASE_URL"] = restored = cluster.create_database("restored")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "marketplace", "restore", str(workdir / "bk")],
                   env=env, check=True, capture_output=True)
    took = time.perf_counter() - started
    engine = make_engine(restored)
    with engine.connect() as conn:
        events = conn.scalar(sa.text("SELECT count(*) FROM usage_events"))
    engine.dispose()
    return backed, took, events


def main() -> None:
    """Run the rounds, the kill drill and the backup drill; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per host")
    args = parser.parse_args()
    import requests

    from tests.ops.hosts import Host, bundle, prepare
    from tests.support.services import postgres_cluster

    workdir = Path(tempfile.mkdtemp(prefix="gm-bench-scaleout-"))
    hosts: list = []
    try:
        with postgres_cluster() as cluster:
            url = cluster.create_database("scaleout")
            tokens = prepare(url)
            hosts = [Host(url, workdir / name, workers=args.workers).start() for name in "ab"]
            auth = {"Authorization": f"Bearer {tokens['publisher']}"}
            assert requests.post(f"{hosts[0].base}/api/v1/modules", headers=auth, timeout=60,
                                 files={"bundle": ("b.zip", bundle(workdir))}).status_code == 201
            assert requests.post(f"{hosts[1].base}/api/v1/installations", timeout=30, json={
                "module": "scale-echo", "accept_terms": True},
                headers={"Authorization": f"Bearer {tokens['adopter']}"}).status_code == 201
            round_on(hosts, tokens["adopter"], 1, args.connections)          # warm both
            one, two, bad = [], [], 0
            for _ in range(args.rounds):
                rps, b1 = round_on(hosts[:1], tokens["adopter"], args.seconds, args.connections)
                one.append(rps)
                rps, b2 = round_on(hosts, tokens["adopter"], args.seconds, args.connections)
                two.append(rps)
                bad += b1 + b2
            acked, lost, after = kill_drill(hosts, tokens["adopter"], url)
            backed, restored, events = backup_drill(url, cluster, workdir)
            for host in hosts:
                host.stop()
    finally:
        for host in hosts:
            host.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"scale-out benchmark (PostgreSQL, db artifact store, {args.workers} gunicorn "
          f"worker(s) x4 threads per host, wrk {args.connections} connections in all, "
          f"{args.rounds} alternating rounds x {args.seconds:g} s)")
    print(f"  1 host : {statistics.median(one):8,.0f} req/s (median; {min(one):,.0f}–{max(one):,.0f})")
    print(f"  2 hosts: {statistics.median(two):8,.0f} req/s (median; {min(two):,.0f}–{max(two):,.0f})"
          f"   ratio 2/1: {statistics.median(two) / statistics.median(one):.2f}   non-200: {bad}")
    print(f"  kill drill: {acked:,} calls acknowledged, {lost} lost; the other host answered "
          f"{after:,} of them")
    print(f"  backup of {events:,} events + bundles: {backed:.2f} s; restore into a new "
          f"database: {restored:.2f} s")


if __name__ == "__main__":
    main()
