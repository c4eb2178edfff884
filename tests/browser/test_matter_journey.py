"""办好一件事 in the browser, by clicking on the demo: a composite's flow in the catalogue, its
install page listing what comes with it, and 杭州市 running the matter from the generated
form (field errors first, then each step with its cost); axe-core on every page."""
from __future__ import annotations

import pytest

from tests.browser.conftest import axe, click_nav, shot
from tests.browser.test_clerk_jobs import _as, demo  # noqa: F401  (the demo, served)

pytestmark = pytest.mark.browser
FORM = {"applicant.id_number": "11010519491231002X", "applicant.name": "王秀英",
        "from_region": "110105", "to_region": "440305", "moved_on": "2026-03-01",
        "applied_on": "2026-10-01", "hukou_region": "440305",
        "personal_account_balance": "85000.00", "housing_fund.account_balance": "30000.00",
        "housing_fund.monthly_rent": "3500.00", "housing_fund.months": "12",
        "housing_fund.consecutive_months": "24"}


def test_flow_and_install_plan_of_a_composite(browser, demo):  # noqa: F811
    clerk = _as(browser, demo, "adopter@sz.gov.cn")       # 深圳市 has not adopted it
    click_nav(clerk, "Module catalogue")
    clerk.click("a:text-is('跨省迁居一件事')")
    clerk.wait_for_selector("#flow")
    assert clerk.locator("#flow .flow-step").count() == 4
    assert "Materials to bring" in clerk.inner_text("#flow")
    axe(clerk, "composite module page (en)")
    clerk.click("#install-link")
    clerk.wait_for_selector("#plan")
    assert clerk.locator("#plan-installs tbody tr").count() == 1      # only the pension transfer
    assert clerk.locator("#plan-satisfied li").count() == 3
    axe(clerk, "composite install page (en)")
    shot(clerk, "en-composite-install")


def test_a_city_runs_the_matter_from_the_generated_form(browser, demo):  # noqa: F811
    clerk = _as(browser, demo, "adopter@hz.gov.cn")
    click_nav(clerk, "My installations")
    clerk.click("#installation-cross-province-relocation a.button")
    clerk.wait_for_selector("#matter-form")
    axe(clerk, "matter form (en)")
    clerk.click("#matter-form button[type=submit]")                 # nothing filled in
    clerk.wait_for_selector(".field-error")
    assert "Required" in clerk.inner_text("#field-f-applicant-id_number")
    axe(clerk, "matter form with errors (en)")
    for name, value in FORM.items():
        clerk.fill(f"[name='{name}']", value)
    clerk.fill("[name='contribution_history']",
               "440300 2010-01 2015-12 8000.00\n330100 2015-10 2020-06 10000.00")
    clerk.check("input[name='housing_fund.reason'][value=rent]")
    clerk.select_option("select[name='housing_fund.owns_home_in_city']", "false")
    clerk.click("#matter-form button[type=submit]")
    clerk.wait_for_selector("#steps")
    assert clerk.inner_text("#result-status") == "Completed"
    assert clerk.locator("#steps tr.step-row.ok").count() == 4      # each step, then the matter
    assert "Succeeded" in clerk.inner_text("#step-own")
    assert "¥" in clerk.inner_text("#total-cost")
    axe(clerk, "matter result (en)")
    shot(clerk, "en-matter-result")
