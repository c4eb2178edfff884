"""Catalogue search: Chinese and English relevance, facets, filters, visibility, pagination."""
from __future__ import annotations

import pytest

from marketplace.catalog.search import analyse, query_atoms, reindex_module, search
from tests.catalog.conftest import add_module

REAL_QUERIES = [
    ("企业开办", "enterprise-registration"),
    ("就医", "medical-settlement"),
    ("社保", "social-insurance-transfer"),
    ("身份", "identity-check"),
    ("medical", "medical-settlement"),
    ("license", "business-license"),
    ("enterprise registration", "enterprise-registration"),
]


def names(items):
    return [item["name"] for item in items]


@pytest.mark.parametrize("query, expected", REAL_QUERIES)
def test_real_queries_rank_the_relevant_module_first(db_session, catalogue, query, expected):
    items, total, _ = search(db_session, query)
    assert names(items)[0] == expected
    assert total >= 1


def test_chinese_matches_inside_longer_words(db_session, catalogue):
    # 开办 is inside 企业开办一件事, 直接结算 inside 异地就医直接结算
    assert "enterprise-registration" in names(search(db_session, "开办")[0])
    assert names(search(db_session, "直接结算")[0]) == ["medical-settlement"]


def test_readme_mentions_rank_below_title_matches(db_session, catalogue):
    items, total, _ = search(db_session, "就医", per_page=100)
    assert total > 1  # fillers mention 就医 in their README
    assert names(items)[0] == "medical-settlement"
    assert items[0]["score"] > items[1]["score"]


def test_single_character_query_matches_anywhere_in_a_run(db_session, catalogue):
    assert "medical-settlement" in names(search(db_session, "医", per_page=100)[0])
    assert "enterprise-registration" in names(search(db_session, "办", per_page=100)[0])


def test_all_terms_must_match(db_session, catalogue):
    items, total, _ = search(db_session, "企业开办 medical")
    assert total == 0 and items == []


def test_no_match_gives_empty_result_and_facets(db_session, catalogue):
    items, total, facets = search(db_session, "量子计算")
    assert (items, total) == ([], 0)
    assert facets["category"] == {} and facets["tags"] == {}


def test_facets_add_up_to_total(db_session, catalogue):
    for query in ("", "营商环境", "data"):
        _, total, facets = search(db_session, query)
        assert total > 0
        for facet in ("category", "terms", "publisher_province"):
            assert sum(facets[facet].values()) == total, (query, facet)


def test_empty_query_lists_every_listed_module(db_session, catalogue):
    _, total, facets = search(db_session, "")
    assert total == catalogue["listed"] == 305
    assert set(facets["publisher_province"]) <= {"440000", "330000", "310000", "110000"}


def test_filters_combine(db_session, catalogue):
    _, all_total, facets = search(db_session, "")
    _, by_category, cat_facets = search(db_session, "", {"category": "public_service"})
    assert by_category == facets["category"]["public_service"]
    items, both, _ = search(db_session, "", {"category": "public_service", "terms": "free"}, per_page=100)
    assert both == cat_facets["terms"]["free"] < by_category < all_total
    assert all(i["category"] == "public_service" and i["terms"]["kind"] == "free" for i in items)
    items, tagged, _ = search(db_session, "", {"tag": "民生", "category": "public_service"}, per_page=100)
    assert tagged == cat_facets["tags"]["民生"]
    assert all("民生" in i["tags"] for i in items)


def test_publisher_province_matches_its_cities_and_counties(db_session, catalogue):
    items, total, _ = search(db_session, "", {"publisher": "440000"}, per_page=100)
    codes = {i["publisher"]["code"] for i in items}
    assert {"440000", "440300", "440305"} <= codes and all(c.startswith("44") for c in codes)
    _, city, _ = search(db_session, "", {"publisher": "440300"})
    _, county, _ = search(db_session, "", {"publisher": "440305"})
    assert total > city > county > 0
    items, _, _ = search(db_session, "", {"publisher": "440300"}, per_page=100)
    assert {i["publisher"]["code"] for i in items} == {"440300", "440305"}


def test_unpublished_rejected_and_yanked_are_not_listed(db_session, catalogue):
    found = names(search(db_session, "企业开办", per_page=100)[0])
    assert "enterprise-pending" not in found
    assert "medical-rejected" not in names(search(db_session, "就医", per_page=100)[0])
    assert "license-yanked" not in names(search(db_session, "license", per_page=100)[0])


def test_pagination_walks_every_result_once(db_session, catalogue):
    seen, page = [], 1
    while True:
        items, total, _ = search(db_session, "", sort="newest", page=page, per_page=40)
        if not items:
            break
        seen += names(items)
        page += 1
    assert len(seen) == len(set(seen)) == total


def test_sorts(db_session, catalogue):
    newest = search(db_session, "", sort="newest", per_page=50)[0]
    stamps = [i["published_at"] for i in newest]
    assert stamps == sorted(stamps, reverse=True)
    cheapest = search(db_session, "", sort="price", per_page=305)[0]
    assert cheapest[0]["terms"]["kind"] == "free"
    assert cheapest[-1]["terms"]["kind"] == "transfer"  # ¥20,000 beats ¥3,000 and ¥ per call


def test_sort_by_adopters(db_session, catalogue):
    from marketplace.catalog.models import Module
    from tests.catalog.conftest import install

    module = db_session.query(Module).filter_by(name="business-license").one()
    for code in ("440300", "330100"):
        install(db_session, module, code)
    db_session.commit()
    items = search(db_session, "", sort="adopters")[0]
    assert items[0]["name"] == "business-license" and items[0]["adopters"] == 2


def test_reindex_follows_publish_and_yank(db_session, catalogue):
    module = add_module(db_session, "parking-permit", "停车许可", state="pending_review")
    assert reindex_module(db_session, module.id) is False
    assert search(db_session, "停车")[1] == 0
    version = module.versions[0]
    version.state = "published"
    assert reindex_module(db_session, module.id) is True
    assert names(search(db_session, "停车")[0]) == ["parking-permit"]
    add_module(db_session, "parking-permit", "停车许可二代", version="2.0.0")
    reindex_module(db_session, module.id)
    assert search(db_session, "停车")[0][0]["version"] == "2.0.0"
    from marketplace.clock import now

    from marketplace.catalog.models import ModuleVersion

    for v in db_session.query(ModuleVersion).filter_by(module_id=module.id):
        v.yanked_at = now()
    assert reindex_module(db_session, module.id) is False
    assert search(db_session, "停车")[1] == 0


def test_analyse_indexes_chinese_as_bigrams_plus_last_character():
    assert analyse("企业开办 Registration") == " 企业 业开 开办 办 registration "
    assert query_atoms("企业开办") == [(["企业", "业开", "开办"], False)]
    assert query_atoms("医") == [(["医"], True)]
