"""A clerk's pages: every job a click away, words not codes, the right defaults, no inline code."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from marketplace.clock import clock
from tests.web.conftest import csrf_of, login, page_text

TEMPLATES = Path(__file__).resolve().parents[2] / "marketplace" / "templates"
TRANSLATIONS = Path(__file__).resolve().parents[2] / "marketplace" / "translations"


def test_module_page_offers_install_to_an_adopter_then_points_home(client, people, published):
    login(client, people["adopter"])
    page = client.get(f"/modules/{published}").get_data(as_text=True)
    assert f'href="/adopter/install/{published}"' in page
    html = client.get(f"/adopter/install/{published}").get_data(as_text=True)
    client.post(f"/adopter/install/{published}",
                data={"csrf_token": csrf_of(html), "version": "1.0.0", "accept_terms": "y"})
    again = client.get(f"/modules/{published}").get_data(as_text=True)
    assert f'/adopter/install/{published}' not in again and "本地区已安装" in again


def test_module_page_asks_a_stranger_to_log_in_to_install(client, published):
    page = client.get(f"/modules/{published}").get_data(as_text=True)
    assert "/login?next=" in page and "登录后安装" in page


def test_english_header_names_the_marketplace_once(client):
    html = client.get("/?lang=en").get_data(as_text=True)
    assert html.count("Gov Module Marketplace") == 2          # the title and the brand
    assert "Gov Module Marketplace Gov Module Marketplace" not in re.sub(r"<[^>]+>|\s+", " ", html)


def test_catalogue_shows_each_language_its_summary(client, published):
    chinese = client.get("/?lang=zh").get_data(as_text=True)
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "18 位公民身份号码离线核验" in chinese and "Offline verification" not in chinese
    assert "Offline verification of 18-digit" in english and "18 位公民身份号码离线核验" not in english
    assert "Offline verification" in client.get(f"/modules/{published}?lang=en").get_data(as_text=True)
    assert "18 位公民身份号码" in client.get(f"/modules/{published}?lang=zh").get_data(as_text=True)


def test_manifest_takes_an_english_summary_and_refuses_an_empty_one():
    import tomllib

    from marketplace.catalog.bundle import BundleError, folder_files
    from marketplace.catalog.manifest import validate_manifest

    folder = TEMPLATES.parents[1] / "modules" / "resident-id-verification"
    data = tomllib.loads((folder / "manifest.toml").read_text())
    files = folder_files(folder)
    assert validate_manifest(data, files).summary_en.startswith("Offline verification")
    data["module"]["summary_en"] = ""
    with pytest.raises(BundleError) as refused:
        validate_manifest(data, files)
    assert refused.value.details[0]["where"].endswith("module.summary_en")


def _row(page: str, period: str) -> str:
    return page.split(f'id="period-{period}"')[1].split("</tr>")[0]


def test_settle_is_offered_only_for_months_with_usage_or_installations(client, people,
                                                                       busy_october):
    login(client, people["admin"])
    page = client.get("/admin/periods").get_data(as_text=True)
    assert "settle-form" in _row(page, "2026-10")       # usage and an installation
    assert "settle-form" in _row(page, "2026-11")       # the installation ran all month
    assert "settle-form" not in _row(page, "2026-09") and "无需结算" in _row(page, "2026-09")
    assert "{'provider'" not in page and "netting" not in page


def test_usage_pages_open_on_the_last_30_days(client, people, busy_october):
    clock.configure("2026-11-02T10:00:00+08:00", "Asia/Shanghai")   # two days into November
    login(client, people["adopter"])
    html = client.get("/adopter/usage").get_data(as_text=True)
    assert "2026-10-04 – 2026-11-02" in html and "居民身份核验: 1 计费单位" in html
    assert '<option value="30d" selected' in html
    month = client.get("/adopter/usage?period=2026-11").get_data(as_text=True)
    assert "2026-11-01 – 2026-11-02" in month
    future = client.get("/adopter/usage?period=2030-01")                    # future: 30 days
    assert future.status_code == 200
    assert "最近 30 天 · 2026-10-04 – 2026-11-02" in page_text(future.get_data(as_text=True))


def test_statement_names_publisher_and_module(app, client, people, busy_october):
    from marketplace import db
    from marketplace.plugins import get_provider
    from marketplace.settlement import service as settlement

    with app.app_context():
        settlement.settle(db.session(), "2026-10", get_provider(app.config), actor="test")
        db.session().commit()
    login(client, people["adopter"])
    html = client.get("/adopter/statements?period=2026-10").get_data(as_text=True)
    lines = html.split('class="lines charges"')[1]
    assert "居民身份核验" in lines and "广东省" in lines and "440000" not in lines
    assert "用者付费" in lines and "pay_per_use" not in lines
    csv = client.get("/adopter/statements/2026-10.csv").get_data(as_text=True).splitlines()
    assert csv[-4:] == ["2026-10,total_charges,,,,,,0.01,,CNY", "2026-10,total_earnings,,,,,,0.00,,CNY",
                        "2026-10,total_fees,,,,,,0.00,,CNY", "2026-10,net,,,,,,-0.01,,CNY"]


def test_templates_carry_no_inline_script_style_or_handlers():
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) >= 10 and TEMPLATES / "base.html" in templates   # the right folder
    for path in templates:
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert "<style" not in text and not re.search(r"\sstyle=", text), path
        assert not re.search(r"\son[a-z]+=", text), path


def test_compiled_english_has_every_message_of_the_po_file():
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    with open(TRANSLATIONS / "en/LC_MESSAGES/messages.po", "rb") as f:
        po = {m.id: m.string for m in read_po(f) if m.id}
    with open(TRANSLATIONS / "en/LC_MESSAGES/messages.mo", "rb") as f:
        mo = {m.id: m.string for m in read_mo(f) if m.id}
    assert po == mo, "run: pybabel compile -d marketplace/translations"


def test_demo_without_serving_prints_no_address(runner, monkeypatch, tmp_path):
    from marketplace import demo

    monkeypatch.setattr(demo, "populate", lambda app, folder, say: demo.DemoSummary(
        demo.logins(), ["2026-10"], 0, reused=True))
    result = runner.invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0 and "http://" not in result.output
    assert "marketplace serve" in result.output
