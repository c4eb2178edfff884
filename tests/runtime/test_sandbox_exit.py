"""A process that ends right after starting its sandboxes leaves no traceback behind (a CLI
command's uninstall hook, say): the sandboxes end before their folder is removed, and a
sandbox whose folder vanished while it started says so in one line, or nothing."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from marketplace.runtime import sandbox

ROOT = Path(__file__).resolve().parents[2]


def test_a_process_ending_at_once_after_starting_its_sandboxes_prints_no_traceback():
    code = ("from marketplace.runtime import loader; pool = loader.sandbox_pool(); "
            "print(pool.size)")                         # then exit at once, sandboxes starting
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=str(ROOT), timeout=60)
        assert done.returncode == 0 and done.stdout.strip() == "4", done.stderr
        assert "Traceback" not in done.stderr, done.stderr


def test_a_sandbox_whose_folder_is_removed_while_it_starts_ends_in_one_line_at_most():
    for _ in range(3):
        root = Path(tempfile.mkdtemp(prefix="gm-vanish-"))
        env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8",
               "PYTHONPATH": str(sandbox.standin_package(root))}
        worker = subprocess.Popen([sys.executable, "-P", "-B", str(sandbox.WORKER),
                                   str(sandbox.HOOKSPECS), "512"], cwd=str(root), env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        shutil.rmtree(root)                             # what the host's exit does
        _, err = worker.communicate(timeout=60)
        text = err.decode("utf-8", "replace")
        assert "Traceback" not in text, text
        assert len(text.splitlines()) <= 1, text
