"""End to end in chromium: publish → review → install → call → usage chart → settle → statement."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.browser.conftest import login, shot

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
MODULE = "resident-id-verification"


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory) -> Path:
    """The sample module built as a zip."""
    from marketplace.catalog.bundle import build_bundle

    return build_bundle(REPO / "modules" / MODULE, tmp_path_factory.mktemp("dist"))


def test_whole_journey_through_the_consoles(browser, server, bundle_path, tmp_path):
    # publisher: a bad upload shows located errors in place, then a good one lands in review
    publisher = login(browser, server, "publisher")
    publisher.goto(f"{server.url}/publisher/")
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
    shot(publisher, "publisher-modules")

    # operator approves in the review queue
    admin = login(browser, server, "admin")
    admin.goto(f"{server.url}/admin/reviews")
    admin.wait_for_selector(f"#review-{MODULE}-1\\.0\\.0")
    shot(admin, "admin-review-queue")
    admin.select_option(f"#review-{MODULE}-1\\.0\\.0 select[name=decision]", "approve")
    admin.click(f"#review-{MODULE}-1\\.0\\.0 button[type=submit]")
    admin.wait_for_selector(".card.empty")

    # adopter accepts the terms (seeing the cost) and installs, then creates a token
    adopter = login(browser, server, "adopter")
    adopter.goto(f"{server.url}/adopter/install/{MODULE}")
    adopter.wait_for_selector("#estimate .amount")
    assert "¥" in adopter.inner_text("#estimate")
    shot(adopter, "adopter-install-terms")
    adopter.check("input[name=accept_terms]")
    adopter.click("#install-form button[type=submit]")
    adopter.wait_for_selector(f"#installation-{MODULE}")
    shot(adopter, "adopter-installations")
    adopter.goto(f"{server.url}/adopter/tokens")
    adopter.fill("input[name=name]", "城市网关")
    adopter.click("#token-form button[type=submit]")
    secret = adopter.inner_text("#token-secret").strip()
    assert secret.startswith("gm_")
    shot(adopter, "adopter-token-once")

    # the adopter's own system calls the module through the gateway
    reply = requests.post(f"{server.url}/api/v1/invoke/{MODULE}/verify_id",
                          json={"id_number": "11010519491231002X"},
                          headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-Usage-Units"] == "1"

    # the usage chart shows the call
    adopter.goto(f"{server.url}/adopter/usage")
    adopter.wait_for_selector("#usage-chart svg.chart")
    assert "1" in adopter.inner_text("#usage-chart h2")
    shot(adopter, "adopter-usage")
    phone = login(browser, server, "adopter", width=375)
    phone.goto(f"{server.url}/adopter/usage")
    phone.wait_for_selector("#usage-chart svg.chart")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "adopter-usage-phone")

    # a month later the operator settles October and the adopter reads the statement
    server.start("2026-11-25T10:00:00+08:00")
    admin.goto(f"{server.url}/admin/periods")
    admin.wait_for_selector("#period-2026-10 .settle-form button")
    admin.click("#period-2026-10 .settle-form button")
    admin.wait_for_selector("#settlement-2026-10")
    assert "closed" in admin.inner_text("#period-2026-10")
    shot(admin, "admin-periods-settled")
    adopter.goto(f"{server.url}/adopter/statements?period=2026-10")
    adopter.wait_for_selector("#statement-2026-10 .charges")
    assert adopter.inner_text("#total-charges") == "¥0.01"
    shot(adopter, "adopter-statement")
    publisher.goto(f"{server.url}/publisher/usage?period=2026-10")
    publisher.wait_for_selector("#usage-chart svg.chart polyline")
    shot(publisher, "publisher-usage")
