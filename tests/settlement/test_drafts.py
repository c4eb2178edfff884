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
