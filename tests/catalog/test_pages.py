"""Catalogue pages: search page with facets, module page, safe README, price calculator, English."""
from __future__ import annotations

from tests.catalog.conftest import add_module


def test_catalogue_page_lists_results_with_facets(client, catalogue):
    response = client.get("/?q=就医")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "异地就医直接结算" in html
    assert 'href="/modules/medical-settlement"' in html
    assert "公共服务" in html  # category facet label
    assert "category=public_service" in html and "q=" in html  # facet links keep the query


def test_catalogue_page_paginates(client, catalogue):
    first = client.get("/?per_page=20").get_data(as_text=True)
    assert "第 1 / 16 页" in first and "page=2" in first
    last = client.get("/?per_page=20&page=16").get_data(as_text=True)
    assert "第 16 / 16 页" in last and "page=15" in last


def test_catalogue_page_in_english(client, catalogue):
    html = client.get("/?lang=en&q=medical").get_data(as_text=True)
    assert "Search" in html and "Public service" in html
    assert "异地就医直接结算" in html  # titles stay as published


def test_module_page_shows_card_and_readme_without_scripts(client, db_session):
    add_module(db_session, "safe-readme", "安全说明模块", "A README test.",
               readme="# 使用说明\n\n**加粗** <script>alert('x')</script>"
                      "<img src=x onerror=alert(1)> [link](javascript:alert(2))",
               terms="pay_per_use", operations=(("lookup_licence", "Find a licence"),))
    db_session.commit()
    response = client.get("/modules/safe-readme")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "安全说明模块" in html and "<h1>使用说明</h1>" in html and "<strong>加粗</strong>" in html
    readme = html[html.index('class="card readme"'):html.index("<script src=")]   # the price script
    assert "<script" not in readme and "onerror" not in readme and "javascript:" not in readme
    assert "lookup_licence" in html and "前1,000次免费" in html


def test_calculator_prices_n_calls_server_side(client, db_session):
    add_module(db_session, "priced", "计价模块", terms="pay_per_use")
    db_session.commit()
    # graduated: 1,000 free; 10,000 at ¥0.05, rest at ¥0.02; cap ¥5,000
    cases = {"0": "¥0.00", "1000": "¥0.00", "12000": "¥520.00", "100000": "¥2,280.00",
             "10000000": "¥5,000.00"}
    for calls, price in cases.items():
        html = client.get(f"/modules/priced?calls={calls}").get_data(as_text=True)
        assert f'id="price">{price}</output>' in html, calls


def test_calculator_rejects_nonsense(client, db_session):
    add_module(db_session, "priced", "计价模块", terms="pay_per_use")
    db_session.commit()
    assert client.get("/modules/priced?calls=-5").status_code == 422


def test_module_page_of_free_and_cost_share_modules(client, db_session):
    add_module(db_session, "free-one", "免费模块", terms="free")
    add_module(db_session, "shared-one", "分摊模块", terms="cost_share")
    db_session.commit()
    assert 'id="price">¥0.00</output>' in client.get("/modules/free-one?calls=500").get_data(as_text=True)
    html = client.get("/modules/shared-one").get_data(as_text=True)
    assert "每月成本¥3,000.00" in html and 'id="price">—</output>' in html


def test_unknown_module_page_is_404(client):
    response = client.get("/modules/nothing-here")
    assert response.status_code == 404
    assert "unknown_module" in response.get_data(as_text=True)
