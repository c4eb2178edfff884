"""Benchmark: a metered gateway call vs a bare Flask JSON echo, same server, same load, one run.

One gunicorn server (marketplace.server.serve: 2 workers, gthread) serves the
real app plus a bare ``POST /bench/echo`` route; the load generator (``wrk``
when installed, else a keep-alive Python client) alternates between the two
routes in rounds, so both see the same machine state. The gateway call is the
full stack: token lookup, route check (generation and quota counter), input and
output schema checks, the pluggy call in a sandbox process, and the usage event
committed before the answer (the quota call granted before the module runs).
Target (DESIGN §11): gateway throughput ≥ 60 % of the echo route.

    python bench/gateway.py [--seconds 3] [--rounds 6] [--connections 8] [--db sqlite|postgresql]
                            [--without write] [--without sandbox] [--against REV]

``--without`` is a diagnostic, not the product: the served app drops the commit of
the usage write (``write``: the call is answered and nothing is stored) or calls the
module in the request thread instead of a sandbox process (``sandbox``: no time
limit, no isolation), to show what each guarantee costs against the target.

``--against REV`` measures a before/after: a second server runs the code of git
revision ``REV`` (a temporary worktree of this repository, prepared by *its own*
``bench/gateway.py``, on its own database), and the rounds interleave all four
loads (echo and gateway of this checkout and of ``REV``, the order of the two
sides swapped every round), so machine noise falls on both sides alike. It prints
each side's ratio and how much this checkout's ratio is above or below ``REV``'s.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
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

PAYLOAD = {"text": "深圳市前海示例科技有限公司"}
TOY_MANIFEST = '''[module]
name = "bench-echo"
version = "1.0.0"
title = "基准回声"
summary = "Trivial echo operation for the gateway benchmark."
category = "public_service"
entry = "bench_echo"
source_license = "MIT"

[[operations]]
name = "echo"
units = 1
input = { type = "object", required = ["text"], properties = { text = { type = "string" } } }
output = { type = "object", required = ["text"], properties = { text = { type = "string" } } }

[[operations.examples]]
input = { text = "x" }
output = { text = "x" }

[terms]
kind = "free"
'''
TOY_CODE = '''from marketplace.sdk import hookimpl


@hookimpl
def echo(payload, context):
    return {"text": payload["text"]}
'''


def bench_app():
    """The marketplace app plus a bare JSON echo route (the baseline)."""
    from flask import jsonify, request

    from marketplace import create_app, web

    app = create_app()
    _drop_for_diagnosis(app, os.environ.get("BENCH_WITHOUT", ""))

    @app.post("/bench/echo")
    def bench_echo():
        return jsonify(request.get_json())
    web.csrf.exempt(bench_echo)              # like every /api/ route: no cookies, no CSRF
    return app


def _drop_for_diagnosis(app, without: str) -> None:
    """``--without``: take the usage write and/or the sandbox out of the served gateway."""
    parts = {part for part in without.split(",") if part}
    if "write" in parts:
        from marketplace.runtime import commits

        commits.GroupCommit.write = lambda self, connection, item: None
    if "sandbox" in parts:
        from marketplace.runtime import gateway, loader

        app.config["SANDBOX"] = "thread"
        gateway.loader = type("InThread", (), {
            "call_with_limit": staticmethod(lambda _iid, _timeout, func, **kw: func(**kw)),
            "ModuleTimeout": loader.ModuleTimeout, "ModuleBusy": loader.ModuleBusy})


def bench_environment(url: str, workdir: Path) -> None:
    """Point this process (and the servers it starts) at ``url`` with a throwaway instance."""
    os.environ.update({"MARKETPLACE_DATABASE_URL": url, "MARKETPLACE_INSTANCE": str(workdir),
                       "MARKETPLACE_ARTIFACT_DIR": str(workdir / "artifacts"),
                       "MARKETPLACE_SECRET_KEY": "bench", "MARKETPLACE_REQUIRE_REVIEW": "0",
                       "MARKETPLACE_QUOTA_PER_MINUTE": str(10 ** 9)})
    os.environ.pop("MARKETPLACE_NOW", None)


def prepare(workdir: Path, scopes: str = "invoke") -> tuple[str, int]:
    """Migrate, publish the echo module, install it for 深圳市; (token, installation id)."""
    from marketplace import create_app, db
    from marketplace.accounts import service as accounts
    from marketplace.catalog import service as catalog
    from marketplace.catalog.bundle import build_bundle
    from marketplace.catalog.store import store_for
    from marketplace.migrate import upgrade
    from marketplace.runtime import service as runtime

    app = create_app()
    upgrade(app.config["DATABASE_URL"])
    src = workdir / "src"
    (src / "bench_echo").mkdir(parents=True)
    (src / "manifest.toml").write_text(TOY_MANIFEST, encoding="utf-8")
    (src / "bench_echo" / "__init__.py").write_text(TOY_CODE, encoding="utf-8")
    data = build_bundle(src, workdir / "dist").read_bytes()
    with app.app_context():
        session = db.session()
        accounts.load_divisions(session)
        publisher = accounts.add_user(session, "pub@gov.example.cn", "bench password", "440000",
                                      "publisher")
        adopter = accounts.add_user(session, "bench@gov.example.cn", "bench password", "440300",
                                    "adopter")
        catalog.publish(session, data, publisher, store_for(app.config), require_review=False)
        item = runtime.install(session, adopter, "bench-echo", accept_terms=True)
        _, token = accounts.issue_token(session, adopter, scopes)
        session.commit()
        installation_id = item.id
    app.extensions["db"].engine.dispose()
    return token, installation_id


def start_server(workdir: Path, workers: int, factory: str = "") -> tuple[subprocess.Popen, int]:
    """gunicorn via ``marketplace.server.serve`` on a free port (``factory``: "module:function").

    Its standard error (the request log: one JSON line per request) goes to
    ``server-PORT.log`` in ``workdir``, as a deployment's would go to a file or the
    journal, not to the terminal running the benchmark.
    """
    from tests.support.services import free_port, wait_port

    port = free_port()
    load = "from %s import %s as factory" % tuple(factory.split(":")) if factory else "factory = None"
    code = ("import sys; sys.path.insert(0, %r); %s; from marketplace.server import serve; "
            "serve('127.0.0.1', %d, %d, factory=factory)" % (str(ROOT), load, port, workers))
    log = workdir / f"server-{port}.log"
    with open(log, "ab") as stderr:
        server = subprocess.Popen([sys.executable, "-c", code], cwd=str(workdir), stderr=stderr,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_port(port)
    except BaseException:
        server.terminate()
        sys.stderr.write(log.read_text(encoding="utf-8", errors="replace")[-4000:])
        raise
    return server, port


def wrk_round(port: int, path: str, token: str, seconds: float, connections: int) -> dict:
    """One wrk run; requests/s, p50/p99 in ms, non-2xx count."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    body = json.dumps(PAYLOAD, ensure_ascii=False).replace("\\", "\\\\").replace('"', '\\"')
    script.write_text(f'wrk.method = "POST"\nwrk.body = "{body}"\n'
                      f'wrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.headers["Authorization"] = "Bearer {token}"\n', encoding="utf-8")
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
                          "-s", str(script), f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    script.unlink()

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": ms("50%"), "p99": ms("99%"), "bad": int(bad.group(1)) if bad else 0}


def python_round(port: int, path: str, token: str, seconds: float, connections: int) -> dict:
    """Fallback load generator: keep-alive http.client threads (GIL-bound: use wrk if you can)."""
    body = json.dumps(PAYLOAD, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    bad = [0]
    deadline = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        mine = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            conn.request("POST", path, body, headers)
            reply = conn.getresponse()
            reply.read()
            mine.append(time.perf_counter() - started)
            bad[0] += reply.status != 200
        latencies.extend(mine)
    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cuts = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / (time.perf_counter() - started), "p50": cuts[49] * 1000,
            "p99": cuts[98] * 1000, "bad": bad[0]}


def serve_and_measure(url: str, workdir: Path,
                      args: argparse.Namespace) -> tuple[str, dict, str]:
    """Prepare the database at ``url``, serve it, run the alternating rounds."""
    bench_environment(url, workdir)
    token, _ = prepare(workdir)
    os.environ["BENCH_WITHOUT"] = ",".join(args.without)
    server, port = start_server(workdir, 2, "bench.gateway:bench_app")
    measure = wrk_round if shutil.which("wrk") else python_round
    routes = {"echo": "/bench/echo", "gateway": "/api/v1/invoke/bench-echo/echo"}
    results: dict[str, list[dict]] = {name: [] for name in routes}
    try:
        for path in routes.values():                   # warm up: load module, caches, pools
            measure(port, path, token, 1, args.connections)
        for _ in range(args.rounds):
            for name, path in routes.items():
                results[name].append(measure(port, path, token, args.seconds, args.connections))
    finally:
        server.terminate()
        server.wait(30)
    return measure.__name__.split("_")[0], results, refusals(workdir)


def main() -> None:
    """Set up, serve, measure both routes in alternating rounds, print the comparison.

    The machine's noise moves single rounds a lot, so rounds alternate (echo,
    gateway, echo, gateway, ...) and the verdict is the median of the per-round
    ratios, each round's gateway throughput over the echo round just before it.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--without", action="append", choices=["write", "sandbox"], default=[],
                        help="diagnostic: serve the gateway without this guarantee")
    parser.add_argument("--against", metavar="REV",
                        help="before/after: interleave rounds with a server of git revision REV")
    args = parser.parse_args()
    if args.against:
        compare(args)
        return
    from tests.support.services import postgres_cluster

    workdir = Path(tempfile.mkdtemp(prefix="gm-bench-gateway-"))
    try:
        if args.db == "postgresql":
            with postgres_cluster() as cluster:
                load, results, refused = serve_and_measure(cluster.create_database("bench"),
                                                           workdir, args)
        else:
            load, results, refused = serve_and_measure(f"sqlite:///{workdir / 'bench.db'}",
                                                       workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"gateway benchmark ({args.db}, gunicorn 2 workers gthread x4, {args.connections} "
          f"connections, load: {load}, {args.rounds} alternating rounds x {args.seconds:g} s)")
    if args.without:
        print(f"  DIAGNOSTIC, not the product: gateway served without {' and '.join(args.without)}")
    print_rounds(results, 8)
    if refused:
        print(f"  non-200 answers, by status: {refused}")
    ratios = [g["rps"] / e["rps"] for e, g in zip(results["echo"], results["gateway"])]
    ratio = statistics.median(ratios)
    print(f"  ratio gateway/echo: {ratio:.2f} (median of {len(ratios)} rounds; "
          f"{min(ratios):.2f}–{max(ratios):.2f}; target ≥ 0.60: "
          f"{'met' if ratio >= 0.6 else 'NOT met'})")


SIDE = """
import json, os, sys
from pathlib import Path
import bench.gateway as bg
workdir = Path(sys.argv[1])
bg.bench_environment(sys.argv[2], workdir)
token, _ = bg.prepare(workdir)
server, port = bg.start_server(workdir, 2, "bench.gateway:bench_app")
(workdir / "served.json").write_text(json.dumps({"port": port, "token": token}))
try:
    sys.stdin.read()                     # until the comparing process closes it (or ends)
finally:
    server.terminate()
    server.wait(30)
"""


def _side(root: Path, url: str, workdir: Path) -> tuple[subprocess.Popen, dict]:
    """A served marketplace of the code in ``root``, set up by that code's own bench helpers."""
    path = [str(root)]
    if (root / "plugins").is_dir():      # the platform plugins' package name, as installed
        shim = workdir / "shim"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "govmarket_plugins").symlink_to(root / "plugins")
        path.append(str(shim))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "BENCH_WITHOUT": ""}
    side = subprocess.Popen([sys.executable, "-c", SIDE, str(workdir), url], cwd=str(root),
                            env=env, stdin=subprocess.PIPE, text=True)
    served = workdir / "served.json"
    while not served.exists():
        if side.poll() is not None:
            raise SystemExit(f"error: the server of {root} did not start (exit {side.returncode})")
        time.sleep(0.2)
    return side, json.loads(served.read_text())


def compare(args: argparse.Namespace) -> None:
    """``--against REV``: both revisions served at once, rounds interleaved (see the module doc)."""
    from tests.support.services import postgres_cluster

    if args.without:
        raise SystemExit("error: --against compares the products; leave out --without")
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.against],
                         capture_output=True, text=True)
    if rev.returncode:
        raise SystemExit(f"error: {args.against!r} is not a revision of this repository")
    base = Path(tempfile.mkdtemp(prefix="gm-bench-against-"))
    tree = base / "tree"
    added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                            rev.stdout.strip()], capture_output=True, text=True)
    if added.returncode:
        shutil.rmtree(base, ignore_errors=True)
        raise SystemExit(f"error: cannot check out {args.against}: {added.stderr.strip()}")
    sides: list[subprocess.Popen] = []
    names = {"this": "this checkout", "rev": rev.stdout.strip()}
    measure = wrk_round if shutil.which("wrk") else python_round
    results: dict[str, dict[str, list[dict]]] = {n: {"echo": [], "gateway": []} for n in names}
    routes = {"echo": "/bench/echo", "gateway": "/api/v1/invoke/bench-echo/echo"}
    try:
        with contextlib.ExitStack() as stack:
            urls = {}
            if args.db == "postgresql":
                cluster = stack.enter_context(postgres_cluster())
                urls = {n: cluster.create_database(f"bench_{n}") for n in names}
            else:
                urls = {n: f"sqlite:///{base / n / 'bench.db'}" for n in names}
            served = {}
            for name, root in (("this", ROOT), ("rev", tree)):
                side, served[name] = _side(root, urls[name], base / name)
                sides.append(side)
            for name in names:                               # warm up both
                for path in routes.values():
                    measure(served[name]["port"], path, served[name]["token"], 1, args.connections)
            for round_no in range(args.rounds):
                order = ["this", "rev"] if round_no % 2 == 0 else ["rev", "this"]
                for name in order:
                    for load, path in routes.items():
                        results[name][load].append(measure(served[name]["port"], path,
                                                           served[name]["token"], args.seconds,
                                                           args.connections))
    finally:
        for side in sides:
            side.stdin.close()
            side.wait(60)
        refused = refusals(base / "this")
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    print(f"gateway before/after ({args.db}, gunicorn 2 workers gthread x4 each, "
          f"{args.connections} connections, load: {measure.__name__.split('_')[0]}, {args.rounds} interleaved rounds "
          f"x 4 loads x {args.seconds:g} s)")
    ratio = {}
    for name, label in names.items():
        print(f"  {label}:")
        print_rounds(results[name], 8)
        side = results[name]
        runs = [g["rps"] / e["rps"] for e, g in zip(side["echo"], side["gateway"])]
        ratio[name] = statistics.median(runs)
        print(f"    ratio gateway/echo: {ratio[name]:.2f} (median of {len(runs)} rounds; "
              f"{min(runs):.2f}–{max(runs):.2f})")
    if refused:
        print(f"  this checkout's non-200 answers, by status: {refused}")
    change = ratio["this"] / ratio["rev"] - 1
    print(f"  this checkout's ratio vs {names['rev']}'s: {change:+.0%} "
          f"({'within' if change >= -0.10 else 'BEYOND'} the 10 % a change may cost)")


def refusals(workdir: Path) -> str:
    """What the non-200 answers in the request logs under ``workdir`` were: "429 ×3, 503 ×1"."""
    found: dict[str, int] = {}
    for log in workdir.rglob("server-*.log"):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                status = json.loads(line).get("status")
            except (ValueError, AttributeError):
                continue
            if isinstance(status, int) and status != 200:
                found[str(status)] = found.get(str(status), 0) + 1
    return ", ".join(f"{status} ×{n}" for status, n in sorted(found.items()))


def print_rounds(results: dict, width: int) -> None:
    """One line per load: median req/s (and the rounds' spread), p50, p99, non-200 answers."""
    for name, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        p50 = statistics.median(r["p50"] for r in runs)
        p99 = statistics.median(r["p99"] for r in runs)
        print(f"  {name:{width}} {rps:9,.0f} req/s (median; rounds "
              f"{min(r['rps'] for r in runs):,.0f}–{max(r['rps'] for r in runs):,.0f})   "
              f"p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   non-200: {sum(r['bad'] for r in runs)}")


if __name__ == "__main__":
    main()
