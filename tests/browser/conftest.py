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


def login(browser, server, role: str, width: int = 1280, lang: str = "zh",
          email: str | None = None, password: str = PASSWORD):
    """A fresh browser page logged in as ``role`` (or ``email``), pages in ``lang``.

    The context bypasses the pages' Content-Security-Policy only so that axe-core can be
    injected; the pages themselves load no inline script.
    """
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  locale="zh-CN" if lang == "zh" else "en-GB", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{server.url}/login?lang={lang}")
    page.fill("input[name=email]", email or USERS[role][0])
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    return page


AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]   # what GB/T 37668 asks of web content


def axe(page, name: str) -> None:
    """Run axe-core on the page: no serious or critical violation (each listed if any)."""
    assert AXE.exists(), "axe-core missing: npm install --prefix tests/browser (scripts/test does)"
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                           AXE_TAGS)
    bad = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name} {page.url}:\n" + "\n".join(bad)


def tab_to(page, selector: str, presses: int = 120) -> None:
    """Move the keyboard focus with Tab alone until ``selector`` has it."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
    raise AssertionError(f"Tab never reached {selector} on {page.url}")


def click_nav(page, text: str) -> None:
    """Follow a link of the header navigation by its visible text."""
    page.click(f"header nav a:text-is('{text}')")
    page.wait_for_load_state()


def shot(page, name: str) -> None:
    """Save a full-page screenshot to tests/screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
