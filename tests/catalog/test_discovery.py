"""Public catalogue API: search with facets, module cards, visibility of unpublished versions."""
from __future__ import annotations

from marketplace.catalog.models import Module
from tests.catalog.conftest import add_module, install


def test_search_is_public_and_returns_items_total_and_facets(client, catalogue):
    response = client.get("/api/v1/modules?q=就医")
    assert response.status_code == 200
    body = response.get_json()
    assert body["items"][0]["name"] == "medical-settlement"
    assert body["items"][0]["publisher"] == {"code": "440000", "name": "广东省"}
    assert body["items"][0]["terms"]["kind"] == "pay_per_use"
    assert body["total"] == sum(body["facets"]["category"].values())
    assert set(body["facets"]) == {"category", "terms", "publisher_province", "tags"}


def test_filters_and_pagination_through_the_api(client, catalogue):
    body = client.get("/api/v1/modules?category=public_service&publisher=440000"
                      "&per_page=5&page=1").get_json()
    assert body["total"] > 5 and len(body["items"]) == 5
    assert all(i["category"] == "public_service" and i["publisher"]["code"].startswith("44")
               for i in body["items"])
    last = (body["total"] - 1) // 5 + 1
    tail = client.get(f"/api/v1/modules?category=public_service&publisher=440000"
                      f"&per_page=5&page={last}").get_json()
    assert len(tail["items"]) == body["total"] - 5 * (last - 1)


def test_bad_arguments_say_what_to_fix(client, catalogue):
    for query, word in (("per_page=500", "per_page"), ("page=0", "page"), ("sort=cheap", "sort"),
                        ("terms=gratis", "terms"), ("publisher=44", "publisher")):
        response = client.get(f"/api/v1/modules?{query}")
        assert response.status_code == 422, query
        body = response.get_json()
        assert body["error"] in ("invalid_query", "invalid_publisher") and word in body["message"]


def test_implements_filter(client, db_session):
    for name, publisher in (("licence-a", "440000"), ("licence-b", "330000")):
        add_module(db_session, name, f"执照{name}", implements="gov.licence", publisher=publisher,
                   state="published")
    add_module(db_session, "other", "其他", publisher="440000")
    from marketplace.catalog.search import reindex_all

    reindex_all(db_session)
    db_session.commit()
    body = client.get("/api/v1/modules?implements=gov.licence").get_json()
    assert sorted(i["name"] for i in body["items"]) == ["licence-a", "licence-b"]


def test_module_card_has_versions_operations_terms_adopters(client, db_session, catalogue):
    module = db_session.query(Module).filter_by(name="enterprise-registration").one()
    add_module(db_session, "enterprise-registration", "企业开办一件事", version="1.1.0", yanked=True)
    install(db_session, module, "440300")
    install(db_session, module, "330100")
    db_session.commit()
    response = client.get("/api/v1/modules/enterprise-registration")
    assert response.status_code == 200
    card = response.get_json()
    assert card["title"] == "企业开办一件事" and card["version"] == "1.0.0"
    assert [(v["version"], v["yanked"]) for v in card["versions"]] == [("1.1.0", True), ("1.0.0", False)]
    assert card["versions"][0]["yank_reason"] == "security fix"
    assert card["versions"][1]["created_at"].endswith("+08:00")
    assert len(card["versions"][1]["sha256"]) == 64
    assert card["operations"][0]["name"] == "submit"
    assert card["operations"][0]["input_schema"]["type"] == "object"
    assert card["terms"]["free_units"] == 1000 and card["terms"]["tiers"][0]["unit_price"] == "0.05"
    assert card["terms"]["text"]["zh"].startswith("前1,000次免费")
    assert "free" in card["terms"]["text"]["en"].lower()
    assert card["adopters"] == {"count": 2, "jurisdictions": [{"code": "330100", "name": "杭州市"},
                                                              {"code": "440300", "name": "深圳市"}]}
    assert card["publisher"] == {"code": "440000", "name": "广东省"}
    assert card["source_license"] == "MulanPSL-2.0"


def test_module_card_lists_other_implementations(client, db_session):
    add_module(db_session, "licence-a", "执照甲", implements="gov.licence", publisher="440000")
    add_module(db_session, "licence-b", "执照乙", implements="gov.licence", publisher="330000")
    from marketplace.catalog.search import reindex_all

    reindex_all(db_session)
    db_session.commit()
    card = client.get("/api/v1/modules/licence-a").get_json()
    assert card["implements"] == "gov.licence"
    assert card["implementations"] == [{"name": "licence-b", "title": "执照乙",
                                        "publisher": {"code": "330000", "name": "浙江省"}}]


def test_unpublished_versions_only_for_their_publisher_and_admins(app, client, factory):
    # set up outside any request's app context: each request must resolve its own caller
    from marketplace import db

    with app.app_context():
        add_module(db.session(), "draft-module", "草稿模块", state="pending_review", publisher="440300")
        db.session().commit()
    assert client.get("/api/v1/modules/draft-module").status_code == 404
    other = factory.headers("publisher", "330000")
    assert client.get("/api/v1/modules/draft-module", headers=other).status_code == 404
    own = factory.headers("publisher", "440300")
    card = client.get("/api/v1/modules/draft-module", headers=own).get_json()
    assert card["versions"][0]["state"] == "pending_review"
    admin = factory.headers("admin", "110000", "read admin")
    assert client.get("/api/v1/modules/draft-module", headers=admin).status_code == 200
    assert client.get("/api/v1/modules?q=草稿", headers=own).get_json()["total"] == 0


def test_published_module_hides_its_pending_version_from_the_public(client, db_session, catalogue):
    add_module(db_session, "business-license", "电子营业执照查询二代", version="2.0.0",
               state="pending_review")
    db_session.commit()
    card = client.get("/api/v1/modules/business-license").get_json()
    assert [v["version"] for v in card["versions"]] == ["1.0.0"]


def test_unknown_module_is_a_json_404(client):
    response = client.get("/api/v1/modules/no-such-module")
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_module"
