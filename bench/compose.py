"""Benchmark: a composite call with 3 sub-calls vs a plain gateway call, same server, one run.

One gunicorn server (as ``bench/gateway.py``: 2 workers, gthread) serves both
routes; the load alternates between them in rounds. The plain call is
``bench-echo``'s ``echo``; the composite ``bench-flow``'s ``run`` calls that
same operation three times through ``context.call``: each sub-call goes from
its sandbox to the host and through the gateway's call path (schema checks,
quota, its own usage event with ``parent_event``) and back. Target (DESIGN §17):
a composite with k sub-calls costs at most (k + 1) × a plain call's time, here
≤ 4× — reported as the median over rounds of plain throughput / composite throughput.

    python bench/compose.py [--seconds 3] [--rounds 6] [--connections 8] [--db sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import gateway as plain  # noqa: E402

STEPS = 3
FLOW_MANIFEST = '''[module]
name = "bench-flow"
version = "1.0.0"
title = "基准一件事"
summary = "A composite calling bench-echo three times, for the composite benchmark."
category = "public_service"
entry = "bench_flow"
source_license = "MIT"

[[requires]]
module = "bench-echo"
operations = ["echo"]

[[operations]]
name = "run"
units = 1
input = { type = "object", required = ["text"], properties = { text = { type = "string" } } }
output = { type = "object", required = ["text"], properties = { text = { type = "string" } } }

[[operations.examples]]
input = { text = "x" }
output = { text = "x" }

[terms]
kind = "free"
'''
FLOW_CODE = f'''from marketplace.sdk import hookimpl


@hookimpl
def run(payload, context):
    text = payload["text"]
    for _ in range({STEPS}):
        text = context.call("bench-echo", "echo", {{"text": text}})["text"]
    return {{"text": text}}
'''


def prepare(workdir: Path) -> str:
    """bench-echo installed (bench/gateway.py), bench-flow published and installed; the token."""
    from marketplace import create_app, db
    from marketplace.accounts import service as accounts
    from marketplace.catalog import service as catalog
    from marketplace.catalog.bundle import build_bundle
    from marketplace.catalog.store import store_for
    from marketplace.runtime import service as runtime

    token, _ = plain.prepare(workdir)
    src = workdir / "flow"
    (src / "bench_flow").mkdir(parents=True)
    (src / "manifest.toml").write_text(FLOW_MANIFEST, encoding="utf-8")
    (src / "bench_flow" / "__init__.py").write_text(FLOW_CODE, encoding="utf-8")
    data = build_bundle(src, workdir / "dist-flow").read_bytes()
    app = create_app()
    with app.app_context():
        session = db.session()
        publisher = accounts.find_user(session, "pub@gov.example.cn")
        adopter = accounts.find_user(session, "bench@gov.example.cn")
        catalog.publish(session, data, publisher, store_for(app.config), require_review=False)
        runtime.install(session, adopter, "bench-flow", accept_terms=True)
        session.commit()
    app.extensions["db"].engine.dispose()
    return token


def serve_and_measure(url: str, workdir: Path, args: argparse.Namespace) -> tuple[str, dict]:
    """Prepare the database at ``url``, serve it, run the alternating rounds."""
    plain.bench_environment(url, workdir)
    # one tenant only: no other to leave a thread to (runtime.fairshare), so no 429 skews a round
    os.environ["MARKETPLACE_GATEWAY_TENANT_CALLS"] = "4"
    # a composite holds its sandbox while its steps run in sandboxes of the other version:
    # with 4 threads a worker needs sandboxes for both versions at once, or they keep
    # replacing each other (a process start each; README: size the pool to what is served)
    os.environ.setdefault("MARKETPLACE_SANDBOX_PROCESSES", "8")
    token = prepare(workdir)
    server, port = plain.start_server(workdir, 2)
    measure = plain.wrk_round if shutil.which("wrk") else plain.python_round
    routes = {"plain": "/api/v1/invoke/bench-echo/echo", "composite": "/api/v1/invoke/bench-flow/run"}
    results: dict[str, list[dict]] = {name: [] for name in routes}
    try:
        for path in routes.values():                   # warm up: sandboxes, caches, pools
            measure(port, path, token, 1, args.connections)
        for _ in range(args.rounds):
            for name, path in routes.items():
                results[name].append(measure(port, path, token, args.seconds, args.connections))
    finally:
        server.terminate()
        server.wait(30)
    return measure.__name__.split("_")[0], results


def main() -> None:
    """Set up, serve, measure both routes in alternating rounds, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    from tests.support.services import postgres_cluster

    workdir = Path(tempfile.mkdtemp(prefix="gm-bench-compose-"))
    try:
        if args.db == "postgresql":
            with postgres_cluster() as cluster:
                load, results = serve_and_measure(cluster.create_database("bench"), workdir, args)
        else:
            load, results = serve_and_measure(f"sqlite:///{workdir / 'bench.db'}", workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"composite benchmark ({args.db}, gunicorn 2 workers gthread, {args.connections} "
          f"connections, {os.environ['MARKETPLACE_SANDBOX_PROCESSES']} sandboxes per worker, "
          f"load: {load}, {args.rounds} alternating rounds x {args.seconds:g} s)")
    plain.print_rounds(results, 9)
    ratios = [p["rps"] / c["rps"] for p, c in zip(results["plain"], results["composite"])]
    ratio = statistics.median(ratios)
    print(f"  composite time / plain time: {ratio:.2f}x with {STEPS} sub-calls (median of "
          f"{len(ratios)} rounds; {min(ratios):.2f}–{max(ratios):.2f}; target ≤ {STEPS + 1}: "
          f"{'met' if ratio <= STEPS + 1 else 'NOT met'})")


if __name__ == "__main__":
    main()
