"""The reuse report (DESIGN §13): figures of the co-owned worked example, CSV, errors, the page."""
from __future__ import annotations

import pytest

from marketplace.clock import clock
from tests.governance import test_shares_settlement as ex
from tests.web.conftest import login, page_text

YANGTZE = {"module": "yangtze-permit", "title": "yangtze-permit",
           "owners": [{"code": "310000", "share_bps": 3_000}, {"code": "320000", "share_bps": 2_500},
                      {"code": "330000", "share_bps": 2_500}, {"code": "340000", "share_bps": 2_000}],
           "adopters": 3, "adopters_not_owners": 2, "build_cost": "1200000.00",
           "recovered": "1964.45", "construction_avoided": "2400000.00"}
JURISDICTIONS = [
    # code, name, owned, by share, other jurisdictions adopting, earnings, charges
    ("310000", "上海市", 1, "0.3000", 2, "716.48", "70.07"),
    ("320000", "江苏省", 1, "0.2500", 3, "554.68", "0.00"),
    ("330000", "浙江省", 1, "0.2500", 3, "554.68", "0.00"),
    ("330100", "杭州市", 0, "0.0000", 0, "0.00", "350.00"),
    ("340000", "安徽省", 1, "0.2000", 3, "138.61", "0.00"),
    ("440300", "深圳市", 0, "0.0000", 0, "0.00", "1564.22"),
]


@pytest.fixture
def settled(app):
    """The co-owned example with October and November 2026 settled."""
    clock.configure("2026-12-02T09:00:00+08:00", "Asia/Shanghai")
    ex.build(app)
    ex.settle(app, "2026-10")
    ex.settle(app, "2026-11")
    return app


def test_reuse_report_per_module_and_per_jurisdiction(settled, client):
    answer = client.get("/api/v1/reports/reuse?year=2026")
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["year"], body["currency"], body["owners_as_of"]) == (2026, "CNY", "2026-12")
    assert body["settled_periods"] == ["2026-10", "2026-11"]
    assert body["modules"] == [YANGTZE]
    assert [(j["code"], j["name"], j["modules_owned"], j["modules_owned_by_share"],
             j["adopting_jurisdictions"], j["earnings"], j["charges"])
            for j in body["jurisdictions"]] == JURISDICTIONS
    assert body["totals"] == {"build_cost": "1200000.00", "recovered": "1964.45",
                              "construction_avoided": "2400000.00"}


def test_recovered_is_what_the_owners_earned_and_their_earnings_match_statements(settled, client):
    body = client.get("/api/v1/reports/reuse?year=2026").get_json()
    earned = sum(int(j["earnings"].replace(".", "")) for j in body["jurisdictions"])
    assert earned == int(body["modules"][0]["recovered"].replace(".", ""))
    for owner, total in ex.NOVEMBER_EARNINGS.items():
        october = ex.OCTOBER_EARNINGS.get(owner, "0.00")
        row = next(j for j in body["jurisdictions"] if j["code"] == owner)
        assert int(row["earnings"].replace(".", "")) == (int(october.replace(".", ""))
                                                         + int(total.replace(".", "")))


def test_a_year_before_the_module_was_published_does_not_list_it(settled, client):
    body = client.get("/api/v1/reports/reuse?year=2025").get_json()
    assert body["settled_periods"] == [] and body["owners_as_of"] == "2025-12"
    assert body["modules"] == [] and body["jurisdictions"] == []
    assert body["totals"] == {"build_cost": "0.00", "recovered": "0.00",
                              "construction_avoided": "0.00"}
    csv = client.get("/api/v1/reports/reuse?year=2025&format=csv").get_data(as_text=True)
    assert "yangtze-permit" not in csv


def test_a_year_before_any_ownership_uses_the_publisher_and_no_build_cost(settled, client):
    import sqlalchemy as sa

    from marketplace import db
    from marketplace.catalog.models import ModuleVersion
    from marketplace.clock import parse_instant

    with settled.app_context():                  # published mid-2025, owned jointly from 2026
        session = db.session()
        session.execute(sa.update(ModuleVersion).values(
            reviewed_at=parse_instant("2025-06-01T10:00:00+08:00"),
            created_at=parse_instant("2025-06-01T09:00:00+08:00")))
        session.commit()
    body = client.get("/api/v1/reports/reuse?year=2025").get_json()
    assert body["settled_periods"] == [] and body["owners_as_of"] == "2025-12"
    assert body["modules"] == [{**YANGTZE, "owners": [{"code": "310000", "share_bps": 10_000}],
                                "adopters": 0, "adopters_not_owners": 0, "build_cost": "0.00",
                                "recovered": "0.00", "construction_avoided": "0.00"}]
    assert [j["code"] for j in body["jurisdictions"]] == ["310000"]


def test_reuse_report_as_csv(settled, client):
    answer = client.get("/api/v1/reports/reuse?year=2026&format=csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = answer.get_data(as_text=True).splitlines()
    assert rows[0].startswith("section,key,name,modules_owned,modules_owned_by_share")
    assert "jurisdiction,320000,江苏省,1,0.2500,3,,,,,,554.68,0.00" in rows
    assert "module,yangtze-permit,yangtze-permit,,,,3,2,1200000.00,1964.45,2400000.00,," in rows
    assert rows[-1] == "total,2026,CNY,,,,,,1200000.00,1964.45,2400000.00,,"


@pytest.mark.parametrize("query", ["year=1999", "year=20266", "year=２０２６", "year=2026.0",
                                   "year=", "year=-2026", "year=2026&format=xml"])
def test_a_bad_year_or_format_is_a_json_400(app, client, query):
    answer = client.get(f"/api/v1/reports/reuse?{query}")
    assert answer.status_code == 400 and answer.mimetype == "application/json"
    assert answer.get_json()["error"] in ("invalid_year", "invalid_format")


def test_reuse_report_is_public_and_defaults_to_this_year(app, client):
    clock.configure("2026-12-02T09:00:00+08:00", "Asia/Shanghai")
    body = client.get("/api/v1/reports/reuse").get_json()
    assert body["year"] == 2026 and body["modules"] == [] and body["jurisdictions"] == []


def test_operator_page_shows_the_report_with_a_chart(settled, client, factory):
    login(client, factory.user("admin", "110000"))
    html = client.get("/admin/reuse?year=2026&lang=zh").get_data(as_text=True)
    text = page_text(html)
    assert "复用成效" in text and "¥2,400,000.00" in text and "¥1,964.45" in text
    assert "<svg" in html and "<script" not in html and "style=" not in html
    english = page_text(client.get("/admin/reuse?year=2026&lang=en").get_data(as_text=True))
    assert "Construction avoided" in english and "¥1,200,000.00" in english


def test_operator_page_is_for_operators_only(settled, client, factory):
    login(client, factory.user("publisher", "310000"))
    assert client.get("/admin/reuse").status_code == 403
