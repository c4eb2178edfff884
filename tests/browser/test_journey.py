"""End to end in chromium, in Chinese, by clicking only (install and settle by keyboard alone):
publish → review → install → token → call → usage chart → settle → statement; axe on each page."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.browser.conftest import axe, click_nav, login, shot, tab_to

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
MODULE = "resident-id-verification"
TITLE = "居民身份核验"


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory) -> Path:
    """The sample module built as a zip."""
    from marketplace.catalog.bundle import build_bundle

    return build_bundle(REPO / "modules" / MODULE, tmp_path_factory.mktemp("dist"))


def test_whole_journey_through_the_consoles(browser, server, bundle_path, tmp_path):
    # publisher: from the home page, a bad upload shows located errors in place, then a good
    # one lands in review
    publisher = login(browser, server, "publisher")
    axe(publisher, "catalogue")
    click_nav(publisher, "我的模块")
    axe(publisher, "publisher home")
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"not a zip at all")
    publisher.set_input_files("input[name=bundle]", str(bad))
    publisher.click("#upload-form button[type=submit]")
    publisher.wait_for_selector("#upload-errors .where")
    assert "bundle" in publisher.inner_text("#upload-errors")
    shot(publisher, "publisher-upload-errors")
    publisher.set_input_files("input[name=bundle]", str(bundle_path))
    publisher.click("#upload-form button[type=submit]")
    publisher.wait_for_selector(f"#module-{MODULE} .state.pending_review")
    assert "待审核" in publisher.inner_text(f"#module-{MODULE}")
    shot(publisher, "publisher-modules")

    # operator approves in the review queue
    admin = login(browser, server, "admin")
    click_nav(admin, "审核")
    admin.wait_for_selector(f"#review-{MODULE}-1\\.0\\.0")
    axe(admin, "review queue")
    shot(admin, "admin-review-queue")
    admin.select_option(f"#review-{MODULE}-1\\.0\\.0 select[name=decision]", "approve")
    admin.click(f"#review-{MODULE}-1\\.0\\.0 button[type=submit]")
    admin.wait_for_selector(".card.empty")

    # adopter: catalogue → module page → accept the terms (seeing the cost) and install, by
    # keyboard alone; then a token from the navigation
    adopter = login(browser, server, "adopter")
    click_nav(adopter, "我的安装")
    adopter.click("main a[href='/']")
    adopter.click(f"a:text-is('{TITLE}')")
    adopter.wait_for_selector("#install-link")
    axe(adopter, "module page")
    tab_to(adopter, "#install-link")
    adopter.keyboard.press("Enter")
    adopter.wait_for_selector("#estimate .amount")
    assert "¥" in adopter.inner_text("#estimate")
    axe(adopter, "install page")
    shot(adopter, "adopter-install-terms")
    tab_to(adopter, "input[name=accept_terms]")
    adopter.keyboard.press("Space")
    tab_to(adopter, "#install-form button[type=submit]")
    adopter.keyboard.press("Enter")
    adopter.wait_for_selector(f"#installation-{MODULE}")
    assert "使用中" in adopter.inner_text(f"#installation-{MODULE}")
    axe(adopter, "installations")
    shot(adopter, "adopter-installations")
    click_nav(adopter, "API 令牌")
    adopter.fill("input[name=name]", "城市网关")
    adopter.click("#token-form button[type=submit]")
    secret = adopter.inner_text("#token-secret").strip()
    assert secret.startswith("gm_")
    axe(adopter, "tokens")
    shot(adopter, "adopter-token-once")

    # the adopter's own system calls the module through the gateway
    reply = requests.post(f"{server.url}/api/v1/invoke/{MODULE}/verify_id",
                          json={"id_number": "11010519491231002X"},
                          headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-Usage-Units"] == "1"

    # the usage chart (the last 30 days by default) shows the call, named by the module's title
    click_nav(adopter, "用量")
    adopter.wait_for_selector("#usage-chart svg.chart")
    assert "1" in adopter.inner_text("#usage-chart h2")
    assert TITLE in adopter.inner_text("#usage-chart .legend")
    axe(adopter, "usage")
    shot(adopter, "adopter-usage")
    phone = login(browser, server, "adopter", width=375)
    click_nav(phone, "用量")
    phone.wait_for_selector("#usage-chart svg.chart")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    label_px = phone.evaluate("Math.min(...[...document.querySelectorAll('svg.chart text')]"
                              ".map(t => t.getBoundingClientRect().height))")
    assert label_px >= 10, f"axis labels {label_px:.1f}px high on a phone"
    shot(phone, "adopter-usage-phone")

    # a month later (yesterday's console logins have ended: MARKETPLACE_LOGIN_SESSION_HOURS)
    # the operator settles October by keyboard and the adopter reads the statement
    server.start("2026-11-25T10:00:00+08:00")
    admin, adopter, publisher = (login(browser, server, role)
                                 for role in ("admin", "adopter", "publisher"))
    click_nav(admin, "结算")
    admin.wait_for_selector("#period-2026-10 .settle-form button")
    assert admin.locator("#period-2026-09 .settle-form").count() == 0   # nothing happened then
    axe(admin, "periods")
    tab_to(admin, "#period-2026-10 .settle-form button")
    admin.keyboard.press("Enter")
    admin.wait_for_selector("#settlement-2026-10")
    assert "已结算" in admin.inner_text("#period-2026-10")
    assert "+00:00" not in admin.inner_text("#settlement-2026-10")
    axe(admin, "periods settled")
    shot(admin, "admin-periods-settled")
    click_nav(adopter, "账单")
    adopter.click("a:text-is('2026-10')")
    adopter.wait_for_selector("#statement-2026-10 .charges")
    assert adopter.inner_text("#total-charges") == "¥0.01"
    charges = adopter.inner_text("#statement-2026-10 .charges")
    assert TITLE in charges and "广东省" in charges and "用者付费" in charges
    axe(adopter, "statement")
    shot(adopter, "adopter-statement")
    click_nav(publisher, "用量")
    publisher.select_option("select[name=period]", "2026-10")
    publisher.click(".period-picker button")
    publisher.wait_for_selector("#usage-chart svg.chart polyline")
    assert "深圳市" in publisher.inner_text("#usage-chart .legend")
    axe(publisher, "publisher usage")
    shot(publisher, "publisher-usage")
    click_nav(publisher, "收益")
    publisher.click("a:text-is('2026-10')")
    publisher.wait_for_selector("#statement-2026-10 .earnings")
    axe(publisher, "earnings")
