"""A real server (gunicorn via `marketplace serve`) on a temp SQLite db, and Debian's chromium."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import free_port, wait_port

CHROMIUM = "/usr/bin/chromium"
MARKETPLACE = shutil.which("marketplace") or str(Path(sys.executable).parent / "marketplace")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
PASSWORD = "browser-pass-2026"
USERS = {"publisher": ("pub@gd.gov.cn", "440000"), "adopter": ("adopter@sz.gov.cn", "440300"),
         "admin": ("ops@platform.gov.cn", "110000")}


class Server:
    """`marketplace serve` in a subprocess; restartable with another platform clock."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.env = {**os.environ, "MARKETPLACE_INSTANCE": str(base),
                    "MARKETPLACE_DATABASE_URL": f"sqlite:///{base / 'marketplace.db'}",
                    "MARKETPLACE_ARTIFACT_DIR": str(base / "artifacts"),
                    "MARKETPLACE_SECRET_KEY": "browser-test-secret",
                    "MARKETPLACE_REQUIRE_REVIEW": "1", "MARKETPLACE_SETTLEMENT_PROVIDER": "ledger"}

    def cli(self, *args: str, now: str) -> str:
        """Run one `marketplace` command against the server's database."""
        done = subprocess.run([MARKETPLACE, *args], capture_output=True,
                              text=True, env={**self.env, "MARKETPLACE_NOW": now}, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, now: str) -> None:
        """Serve with the platform clock fixed at ``now``."""
        self.stop()
        log = open(self.base / "server.log", "a")
        self.process = subprocess.Popen(
            [MARKETPLACE, "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            env={**self.env, "MARKETPLACE_NOW": now}, stdout=log, stderr=log)
        wait_port(self.port, 60)

    def stop(self) -> None:
        """Stop the server process we started."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
            self.process = None


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A migrated server with one user per role; clock at 2026-10-20 until a test moves it."""
    base = tmp_path_factory.mktemp("browser")
    srv = Server(base)
    now = "2026-10-20T10:00:00+08:00"
    srv.cli("db", "upgrade", now=now)
    srv.cli("jurisdiction", "load", now=now)
    for role, (email, code) in USERS.items():
        srv.cli("user", "add", email, "--jurisdiction", code, "--role", role,
                "--password", PASSWORD, now=now)
    srv.start(now)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium through Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium missing: apt-get install chromium (scripts/test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def login(browser, server, role: str, width: int = 1280):
    """A fresh browser page logged in as ``role``."""
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", USERS[role][0])
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    return page


def shot(page, name: str) -> None:
    """Save a full-page screenshot to tests/screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
