"""Every shell example of the README runs as written against a fresh demo instance.

The README's ```sh blocks run in order in one bash session (so ``TOKEN=…`` carries on),
in a scratch folder that sees the repository's ``modules/``, against a fresh
``marketplace demo --no-serve`` and a ``marketplace serve`` of it. Each command must exit
0, unless its comment says ``# exits N``. A block right after the line
``<!-- readme: not run (why) -->`` is skipped (it serves forever or runs the whole suite).
The one rewrite: the served port, ``127.0.0.1:8000``, becomes the test server's free port.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import MARKETPLACE, Server

REPO = Path(__file__).resolve().parents[2]
EXPECT = re.compile(r"#\s*exits (\d+)\b")


def shell_examples(text: str) -> list[tuple[str, int]]:
    """(command, expected exit code) of every runnable ```sh block, in order."""
    commands, skip, lines = [], False, text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("<!-- readme: not run"):
            skip = True
        elif line == "```sh":
            block = []
            i += 1
            while lines[i].strip() != "```":
                block.append(lines[i])
                i += 1
            if not skip:
                commands += _commands(block)
            skip = False
        elif line:
            skip = False                      # the marker holds only for the block right after it
        i += 1
    return commands


def _commands(block: list[str]) -> list[tuple[str, int]]:
    """A block's logical lines (backslash continuations joined), comments kept for ``# exits``."""
    out, current = [], ""
    for raw in block:
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        command = current.strip()
        current = ""
        if command and not command.startswith("#"):
            expected = EXPECT.search(command)
            out.append((command, int(expected.group(1)) if expected else 0))
    return out


def test_readme_parser_reads_blocks_continuations_and_marks():
    text = ("<!-- readme: not run (serves) -->\n```sh\nmarketplace demo\n```\n"
            "```sh\na \\\n  b   # why\nfalse   # exits 1\n# comment\n```\n")
    assert shell_examples(text) == [("a    b   # why", 0), ("false   # exits 1", 1)]


@pytest.fixture
def demo_server(tmp_path):
    """A fresh demo in ``tmp_path``, served on a free port; the README's working folder."""
    srv = Server(tmp_path)
    srv.env = {k: v for k, v in srv.env.items() if k != "MARKETPLACE_NOW"}
    subprocess.run([MARKETPLACE, "demo", "--no-serve"], env=srv.env, check=True,
                   capture_output=True, timeout=300)
    process = subprocess.Popen([MARKETPLACE, "serve", "--host", "127.0.0.1", "--port",
                                str(srv.port), "--workers", "1"], env=srv.env,
                               stdout=open(tmp_path / "server.log", "a"), stderr=subprocess.STDOUT)
    from tests.support.services import wait_port

    wait_port(srv.port, 60)
    work = tmp_path / "work"
    work.mkdir()
    (work / "modules").symlink_to(REPO / "modules")
    yield srv, work
    process.terminate()
    process.wait(20)


@pytest.mark.embedded
def test_every_readme_shell_example_runs_against_the_demo(demo_server):
    srv, work = demo_server
    commands = shell_examples((REPO / "README.md").read_text())
    assert len(commands) > 20
    script = ["cd " + str(work)]
    for n, (command, expected) in enumerate(commands):
        command = command.replace("127.0.0.1:8000", f"127.0.0.1:{srv.port}")
        script += [command, f"rc=$?; if [ $rc -ne {expected} ]; then echo \"README command {n} "
                   f"exited $rc, not {expected}: \"{_quoted(command)} >&2; exit 99; fi"]
    done = subprocess.run(["bash", "-c", "\n".join(script)], env={
        **srv.env, "PATH": f"{Path(MARKETPLACE).parent}:{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]


def _quoted(command: str) -> str:
    """``command`` as one single-quoted bash word."""
    return "'" + command.replace("'", "'\\''") + "'"
