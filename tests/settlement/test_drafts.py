"""Draft statements (DESIGN §15): an unsettled period answers the statement so far, state draft."""
from __future__ import annotations

from tests.settlement import worked_example as ex
from tests.settlement.conftest import fix_now

CODES = sorted(ex.TOTALS)


def admin(factory, code="110000"):
    """Headers of a platform administrator."""
    return factory.headers("admin", code, "read,admin")


def statement(client, headers, code, period=ex.PERIOD, fmt=""):
    """GET the statement of ``code`` (admin view)."""
    return client.get(f"/api/v1/statements/{period}?jurisdiction={code}{fmt}", headers=headers)


def comparable(body: dict) -> dict:
    """A statement without what only a draft or only a final one carries."""
    return {k: v for k, v in body.items() if k not in ("state", "provider", "as_of")}


def test_draft_equals_final_statement_when_nothing_changes(app, market, client, factory):
    app.config["PLATFORM_FEE_BPS"] = ex.FEE_BPS
    ex.build(market)
    headers = admin(factory)
    drafts = {}
    for code in CODES:
        answer = statement(client, headers, code)
        assert answer.status_code == 200, answer.get_json()
        drafts[code] = answer.get_json()
        assert drafts[code]["state"] == "draft" and "provider" not in drafts[code]
    draft_csv = statement(client, headers, "440300", fmt="&format=csv")
    assert draft_csv.headers["Statement-State"] == "draft"
    assert "draft" in draft_csv.headers["Content-Disposition"]
    assert {k: drafts["440300"][k] for k in ex.SHENZHEN} == ex.SHENZHEN
    settled = client.post("/api/v1/settlements", headers=headers, json={"period": ex.PERIOD})
    assert settled.status_code == 200
    for code in CODES:
        final = statement(client, headers, code).get_json()
        assert final["state"] == "final"
        assert comparable(final) == comparable(drafts[code])
    final_csv = statement(client, headers, "440300", fmt="&format=csv")
    assert final_csv.headers["Statement-State"] == "final"
    assert final_csv.get_data() == draft_csv.get_data()


def test_a_draft_writes_nothing(app, market, client, factory):
    from marketplace import db
    from marketplace.settlement.models import Charge, Period, Statement

    ex.build(market)
    assert statement(client, admin(factory), "440300").status_code == 200
    with app.app_context():
        session = db.session()
        for model in (Charge, Statement, Period):
            assert session.query(model).count() == 0


def test_month_to_date_draft_follows_usage(app, market, client, factory):
    ids = ex.build(market)
    fix_now(app, "2026-10-20T12:00:00+08:00")
    city = factory.headers("adopter", "440300", "read")
    before = client.get(f"/api/v1/statements/{ex.PERIOD}", headers=city).get_json()
    assert before["state"] == "draft" and before["total_charges"] == "15853.33"
    market.usage(ids["registration@440300"], 1000, at="2026-10-20T11:00:00+08:00")
    after = client.get(f"/api/v1/statements/{ex.PERIOD}", headers=city).get_json()
    assert after["total_charges"] == "15873.33"   # 1,000 more units at tier 2: ¥20.00 more
    other = client.get(f"/api/v1/statements/{ex.PERIOD}?jurisdiction=440000", headers=city)
    assert other.status_code == 403


def test_future_period_is_refused_with_a_clear_message(app, market, client, factory):
    ex.build(market)
    fix_now(app, "2026-10-20T12:00:00+08:00")
    answer = statement(client, admin(factory), "440300", period="2026-11")
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "period_not_started"
    assert "2026-11" in answer.get_json()["message"]
    bad = statement(client, admin(factory), "440300", period="2026-13")
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_period"


def test_cli_prints_a_draft(app, market, runner):
    ex.build(market)
    result = runner.invoke(args=["statement", ex.PERIOD, "--jurisdiction", "440300"])
    assert result.exit_code == 0, result.output
    assert '"state": "draft"' in result.output
    early = runner.invoke(args=["statement", "2027-01", "--jurisdiction", "440300"])
    assert early.exit_code == 1 and early.output.startswith("error:")
    assert len(early.output.strip().splitlines()) == 1


def _is_empty(body: dict, state: str) -> bool:
    """An empty statement: no lines, every total zero, in ``state``."""
    return (body["state"] == state and body["charges"] == [] and body["earnings"] == []
            and body["currency"] == "CNY"
            and all(body[k] == "0.00" for k in ("total_charges", "total_earnings", "total_fees",
                                                "net")))


def test_a_jurisdiction_without_lines_has_an_empty_statement(app, market, client, factory):
    """A registered jurisdiction with nothing in a started period: 200, an empty statement
    in the period's state (draft, then final), as JSON and CSV; an unknown one stays 404
    (this replaces the former 404 ``no_statement``)."""
    ex.build(market)
    headers = admin(factory)
    draft = statement(client, headers, "110000")
    assert draft.status_code == 200 and _is_empty(draft.get_json(), "draft"), draft.get_json()
    assert "provider" not in draft.get_json()
    own = client.get(f"/api/v1/statements/{ex.PERIOD}", headers=factory.headers("adopter", "320000"))
    assert own.status_code == 200 and _is_empty(own.get_json(), "draft")
    assert own.get_json()["jurisdiction"] == "320000"
    earlier = statement(client, headers, "440300", period="2025-12")   # before it installed
    assert earlier.status_code == 200 and _is_empty(earlier.get_json(), "draft")
    unknown = statement(client, headers, "999999")
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_jurisdiction"
    assert client.post("/api/v1/settlements", headers=headers,
                       json={"period": ex.PERIOD}).status_code == 200
    final = statement(client, headers, "110000").get_json()
    assert _is_empty(final, "final") and final["provider"] is None
    normal = statement(client, headers, "440300").get_json()
    assert set(final) == set(normal) - {"usage_chain_head"}
    csv = statement(client, headers, "110000", fmt="&format=csv")
    assert csv.status_code == 200 and csv.headers["Statement-State"] == "final"
    assert csv.get_data(as_text=True).splitlines()[1:] == [
        f"{name},,,,,,0.00,," for name in ("total_charges", "total_earnings", "total_fees", "net")]
    assert statement(client, headers, "999999").status_code == 404
    assert statement(client, headers, "110000", period="2027-01").get_json()["error"] == \
        "period_not_started"
