"""Every job of each role, in English, by clicking from the header navigation on the demo:
upload, review, add a user, book a payment, upgrade, switch, uninstall, install, tokens,
usage, statements, earnings; axe-core on every page on the way."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser.conftest import Server, axe, click_nav, login, shot

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
NOW = "2026-12-02T10:00:00+08:00"
DEMO_PASSWORD = "demo-password-2026"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`marketplace demo --no-serve`, then served (clock fixed in December 2026)."""
    srv = Server(tmp_path_factory.mktemp("demo"))
    srv.cli("demo", "--no-serve", now=NOW)
    srv.start(NOW)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def newer_bundle(tmp_path_factory) -> Path:
    """enterprise-registration 1.3.0: the sample module with its version bumped."""
    from marketplace.catalog.bundle import build_bundle

    folder = tmp_path_factory.mktemp("src") / "enterprise-registration"
    shutil.copytree(REPO / "modules" / "enterprise-registration", folder)
    manifest = folder / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('version = "1.2.0"', 'version = "1.3.0"', 1))
    return build_bundle(folder, tmp_path_factory.mktemp("dist"))


def _as(browser, demo, email: str):
    return login(browser, demo, "", lang="en", email=email, password=DEMO_PASSWORD)


def test_login_and_error_pages_are_accessible(browser, demo):
    for lang in ("zh", "en"):
        page = browser.new_page(bypass_csp=True, locale="en-GB")
        page.goto(f"{demo.url}/login?lang={lang}")
        axe(page, f"login ({lang})")
        page.goto(f"{demo.url}/modules/no-such-module")
        axe(page, f"not found ({lang})")
        page.close()


def test_publisher_and_operator_jobs(browser, demo, newer_bundle):
    publisher = _as(browser, demo, "publisher@gd.gov.cn")
    axe(publisher, "catalogue (en)")
    click_nav(publisher, "My modules")
    axe(publisher, "publisher home (en)")
    publisher.set_input_files("input[name=bundle]", str(newer_bundle))
    publisher.click("#upload-form button[type=submit]")
    publisher.wait_for_selector("#module-enterprise-registration .state.pending_review")
    assert "Awaiting review" in publisher.inner_text("#module-enterprise-registration")
    publisher.click("#module-enterprise-registration h2 a")
    publisher.wait_for_selector("form[action$='/yank']")
    axe(publisher, "publisher module page (en)")
    click_nav(publisher, "Usage")
    axe(publisher, "publisher usage (en)")
    click_nav(publisher, "Earnings")
    publisher.click("a:text-is('2026-11')")
    publisher.wait_for_selector("#statement-2026-11 .earnings")
    assert "深圳市" in publisher.inner_text("#statement-2026-11 .earnings")
    axe(publisher, "earnings (en)")
    shot(publisher, "en-publisher-earnings")

    admin = _as(browser, demo, "admin@platform.gov.cn")
    click_nav(admin, "Reviews")
    review = "#review-enterprise-registration-1\\.3\\.0"
    admin.wait_for_selector(review)
    axe(admin, "review queue (en)")
    admin.select_option(f"{review} select[name=decision]", "approve")
    admin.click(f"{review} button[type=submit]")
    admin.wait_for_selector(".card.empty")

    click_nav(admin, "Jurisdictions and users")
    axe(admin, "jurisdictions (en)")
    admin.fill("#add-user input[name=email]", "clerk@futian.gov.cn")
    admin.fill("#add-user input[name=name]", "福田区政数局")
    admin.fill("#add-user input[name=jurisdiction]", "440304")
    admin.select_option("#add-user select[name=role]", "adopter")
    admin.fill("#add-user input[name=password]", "futian-clerk-2026")
    admin.click("#add-user button[type=submit]")
    admin.wait_for_selector(".flash.info")
    assert "clerk@futian.gov.cn" in admin.inner_text("main")

    click_nav(admin, "Ledger")
    axe(admin, "ledger (en)")
    admin.select_option("#record-payment select[name=jurisdiction]", "440300")
    admin.select_option("#record-payment select[name=direction]", "in")
    # at most what last month's statement still owes: the ledger refuses an overpayment
    admin.fill("#record-payment input[name=amount]", "1,234.50")
    admin.fill("#record-payment input[name=reference]", "ICBC-20261202-0001")
    admin.click("#record-payment button[type=submit]")
    admin.wait_for_selector(".flash.info")
    assert "¥1,234.50" in admin.inner_text("#payments")

    click_nav(admin, "Settle")
    axe(admin, "periods (en)")
    assert admin.locator("#period-2026-08 .settle-form").count() == 0   # no usage then
    assert "Built-in ledger" in admin.inner_text("#provider-status")
    click_nav(admin, "Audit journal")
    axe(admin, "audit (en)")
    assert "{" not in admin.inner_text("main table")
    shot(admin, "en-admin-audit")


def test_adopter_jobs(browser, demo):
    adopter = _as(browser, demo, "adopter@sz.gov.cn")
    click_nav(adopter, "My installations")
    axe(adopter, "installations (en)")

    # upgrade (1.3.0 published by the test above, or already there on a re-run) — switch — uninstall
    upgrade = "#installation-enterprise-registration form[action$='/upgrade']"
    if adopter.locator(upgrade).count():
        adopter.select_option(f"{upgrade} select", "1.3.0")
        adopter.check(f"{upgrade} input[type=checkbox]")
        adopter.click(f"{upgrade} button[type=submit]")
        adopter.wait_for_selector(".flash")
        assert "1.3.0" in adopter.inner_text("#installation-enterprise-registration h2")
    switch = "#installation-e-license-guangdong form[action$='/switch']"
    adopter.select_option(f"{switch} select", "e-license-zhejiang")
    adopter.check(f"{switch} input[type=checkbox]")
    adopter.click(f"{switch} button[type=submit]")
    adopter.wait_for_selector("#installation-e-license-zhejiang .state.active")
    adopter.click("#installation-housing-fund-withdrawal button.uninstall")
    adopter.wait_for_selector("#installation-housing-fund-withdrawal .state.ended")
    assert "Ended" in adopter.inner_text("#installation-housing-fund-withdrawal")
    shot(adopter, "en-adopter-installations")

    # install from the catalogue
    click_nav(adopter, "Module catalogue")
    adopter.click("a:text-is('社保关系转移')")
    axe(adopter, "module page (en)")
    adopter.click("#install-link")
    adopter.check("input[name=accept_terms]")
    adopter.click("#install-form button[type=submit]")
    adopter.wait_for_selector("#installation-social-insurance-transfer .state.active")

    # a token, created then revoked
    click_nav(adopter, "API tokens")
    adopter.fill("input[name=name]", "city gateway")
    adopter.click("#token-form button[type=submit]")
    assert adopter.inner_text("#token-secret").startswith("gm_")
    axe(adopter, "tokens (en)")
    adopter.click("form[action$='/revoke'] button")
    adopter.wait_for_selector("tr.revoked")

    click_nav(adopter, "Usage")
    adopter.wait_for_selector("#usage-chart .legend")
    assert "Last 30 days" in adopter.inner_text("h1")
    axe(adopter, "usage (en)")
    click_nav(adopter, "Statements")
    adopter.wait_for_selector(".statement .charges")
    text = adopter.inner_text(".statement")
    assert "Booked in the ledger" in text and "User pays" in text and "booked" not in text
    assert adopter.locator(".statement a[href$='.csv']").count() == 1
    axe(adopter, "statements (en)")
    shot(adopter, "en-adopter-statement")
