"""Benchmark: publish of a typical module with all checks (DESIGN §11 target ≤ 2 s).

Copies a sample module, gives it a fresh version per run, builds the bundle
(untimed), then times the whole service publish path on a temporary SQLite
database: read_bundle + manifest + check_module (separate process) + version
checks + artifact store + DB write + commit. Prints median and p90.

    python bench/publish.py [--module modules/enterprise-registration] [-n 10]
"""
from __future__ import annotations

import argparse
import math
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.orm import Session  # noqa: E402

from marketplace.accounts import service as accounts  # noqa: E402
from marketplace.catalog import service as catalog  # noqa: E402
from marketplace.catalog.bundle import build_bundle  # noqa: E402
from marketplace.catalog.store import ArtifactStore  # noqa: E402
from marketplace.db import make_engine  # noqa: E402
from marketplace.migrate import upgrade  # noqa: E402

TARGET_SECONDS = 2.0


def set_version(folder: Path, version: str) -> None:
    """Rewrite the [module] version of a module folder's manifest."""
    path = folder / "manifest.toml"
    text = re.sub(r'(?m)^version = "[^"]*"', f'version = "{version}"', path.read_text("utf-8"),
                  count=1)
    path.write_text(text, encoding="utf-8")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default=str(ROOT / "modules" / "enterprise-registration"))
    parser.add_argument("-n", "--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        store = ArtifactStore(tmp / "artifacts")
        with Session(engine) as session:
            accounts.load_divisions(session)
            accounts.add_user(session, "bench@gd.gov.cn", "bench-password", "440000", "publisher")
            session.commit()
        folder = tmp / "module"
        shutil.copytree(args.module, folder, ignore=shutil.ignore_patterns("__pycache__"))
        timings = []
        for run in range(args.runs):
            set_version(folder, f"9.0.{run}")
            data = build_bundle(folder, tmp / "dist").read_bytes()
            with Session(engine, expire_on_commit=False) as session:
                publisher = accounts.find_user(session, "bench@gd.gov.cn")
                started = time.perf_counter()
                result = catalog.publish(session, data, publisher, store, require_review=True)
                session.commit()
                timings.append(time.perf_counter() - started)
                assert result.created, "each run must publish a new version"
        engine.dispose()
    median, p90 = statistics.median(timings), percentile(timings, 0.9)
    print(f"publish of {Path(args.module).name} ({len(data):,} bytes), {args.runs} runs, "
          "all checks, SQLite")
    print(f"  median {median * 1000:.0f} ms   p90 {p90 * 1000:.0f} ms   "
          f"min {min(timings) * 1000:.0f} ms   max {max(timings) * 1000:.0f} ms")
    verdict = "meets" if median <= TARGET_SECONDS else "MISSES"
    print(f"  target: median ≤ {TARGET_SECONDS:.0f} s → {verdict} "
          f"({median / TARGET_SECONDS:.0%} of budget)")
    return 0 if median <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
