"""Long run of the stateful settlement model (tests/settlement/test_model.py) on both databases.

The suite runs it with a small, derandomized budget; this runs many random examples
(a new seed each run, printed first: replay a failure with ``--seed``).

    python bench/settle_model.py [--examples 300] [--steps 60] [--only sqlite|postgresql]
                                 [--stripe] [--seed N] [--no-shrink]
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--stripe", action="store_true", help="also the model settling through stripe-mock")
    parser.add_argument("--seed", help="replay one seed (printed by a failing run)")
    parser.add_argument("--no-shrink", action="store_true", help="report the first failure unshrunk")
    args = parser.parse_args()
    status = 0
    for backend in [args.only] if args.only else ["sqlite", "postgresql"]:
        env = {**os.environ, "MARKETPLACE_TEST_DB": backend, "MARKETPLACE_MODEL_SEED_RANDOM": "1",
               "MARKETPLACE_MODEL_EXAMPLES": str(args.examples),
               "MARKETPLACE_MODEL_STEPS": str(args.steps)}
        if args.no_shrink:
            env["MARKETPLACE_MODEL_NO_SHRINK"] = "1"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "tests/settlement/test_model.py", "-k", "" if args.stripe else "not stripe"]
        seed = args.seed or str(random.SystemRandom().getrandbits(64))
        command.append(f"--hypothesis-seed={seed}")
        print(f"== {backend}: {args.examples} examples of up to {args.steps} steps, seed {seed}",
              flush=True)
        status |= subprocess.run(command, cwd=ROOT, env=env).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
