"""Console pages of corrections: the adopter's month-to-date bill and disputes, the owners'
answer, the operator's decision and adjustments (CSRF-protected forms, parties only)."""
from __future__ import annotations

import io

from tests.settlement.conftest import fix_now
from tests.settlement.test_disputes import world  # noqa: F401 - the fixture
from tests.web.conftest import csrf_of, login


def logged_in(app, factory, role, code):
    """A client logged in as a fresh user of ``role`` in ``code``."""
    client = app.test_client()
    login(client, factory.user(role, code))
    return client


def test_adopter_sees_the_month_to_date_bill_and_opens_a_dispute(app, factory, market, world):
    from tests.settlement.test_disputes import events

    fix_now(app, "2026-11-20T10:00:00+08:00")
    events(app, world["installation"], [(f"n{i}", "2026-11-10T10:00:00+08:00", "ok") for i in range(25)])
    city = logged_in(app, factory, "adopter", "440300")
    page = city.get("/adopter/bill")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="month-to-date-total">¥2.50<' in html   # 25 × ¥0.10
    token = csrf_of(html)
    opened = city.post("/adopter/disputes", data={
        "csrf_token": token, "period": "2026-10", "module": "meter", "reason": "our log",
        "records": (io.BytesIO(b"id\na1\nz1\n"), "log.csv")}, content_type="multipart/form-data")
    assert opened.status_code == 302 and "/disputes/1" in opened.headers["Location"]
    detail = city.get("/disputes/1").get_data(as_text=True)
    assert "待答复" in detail and "2026-10-05" in detail and "<form" not in detail.split("</h1>")[1]
    assert 'href="/disputes/1"' in city.get("/adopter/bill").get_data(as_text=True)
    refused = city.post("/adopter/disputes", data={"csrf_token": token, "period": "2026-10",
                                                   "module": "meter", "reason": "again", "ids": "a1"})
    assert refused.status_code == 302
    assert "already open" in city.get("/adopter/bill").get_data(as_text=True)
    stranger = logged_in(app, factory, "adopter", "330100")
    assert stranger.get("/disputes/1").status_code == 404


def test_owner_answers_and_operator_resolves_with_an_adjustment(app, factory, world, client):
    opened = client.post("/api/v1/disputes", headers=world["adopter"], json={
        "period": "2026-10", "module": "meter", "reason": "x", "evidence_ids": ["a1"]})
    dispute = opened.get_json()["id"]
    owner = logged_in(app, factory, "publisher", "440000")
    listing = owner.get("/publisher/disputes").get_data(as_text=True)
    assert f'href="/disputes/{dispute}"' in listing
    html = owner.get(f"/disputes/{dispute}").get_data(as_text=True)
    answered = owner.post(f"/disputes/{dispute}/answer", data={
        "csrf_token": csrf_of(html), "answer": "a2…a8 are in the sealed digests"})
    assert answered.status_code == 302
    assert "已答复" in owner.get(f"/disputes/{dispute}").get_data(as_text=True)
    no_csrf = owner.post(f"/disputes/{dispute}/answer", data={"answer": "again"})
    assert no_csrf.status_code == 400
    operator = logged_in(app, factory, "admin", "110000")
    overview = operator.get("/admin/corrections").get_data(as_text=True)
    assert f'href="/disputes/{dispute}"' in overview
    html = operator.get(f"/disputes/{dispute}").get_data(as_text=True)
    resolved = operator.post(f"/disputes/{dispute}/resolve", data={
        "csrf_token": csrf_of(html), "decision": "adjust", "amount": "-0.30"})
    assert resolved.status_code == 302
    detail = operator.get(f"/disputes/{dispute}").get_data(as_text=True)
    assert "已裁决" in detail and "调整账单" in detail and "-¥0.30" in detail
    made = operator.post("/admin/adjustments", data={
        "csrf_token": csrf_of(html), "period": "2026-10", "installation": str(world["installation"]),
        "amount": "-0.10", "reason": "rounding"})
    assert made.status_code == 302
    overview = operator.get("/admin/corrections").get_data(as_text=True)
    assert "-¥0.10" in overview and "rounding" in overview and "待入账" in overview
    english = operator.get("/admin/corrections?lang=en")
    assert "Adjustments and disputes" in english.get_data(as_text=True)


def test_a_dispute_page_shows_an_unsealed_days_computed_digest(app, factory, market, client):
    """Settled without sealing: the page shows each day's digest and says it is not sealed
    yet; the console form with neither file nor ids opens a dispute on no evidence."""
    from tests.settlement.test_disputes import PER_UNIT, PLATFORM, admin, events

    installation = market.install(market.module("meter", "440000", PER_UNIT), "440300")
    events(app, installation, PLATFORM)
    assert client.post("/api/v1/settlements", headers=admin(factory),
                       json={"period": "2026-10"}).status_code == 200
    city = logged_in(app, factory, "adopter", "440300")
    token = csrf_of(city.get("/adopter/bill").get_data(as_text=True))
    opened = city.post("/adopter/disputes", data={
        "csrf_token": token, "period": "2026-10", "module": "meter", "reason": "none of ours",
        "ids": ""}, content_type="multipart/form-data")
    assert opened.status_code == 302 and "/disputes/1" in opened.headers["Location"]
    body = client.get("/api/v1/disputes/1", headers=admin(factory)).get_json()
    days = body["reconciliation"]["days"]
    assert [(d["platform"], d["adopter"], d["sealed"]) for d in days] == [(5, 0, False), (3, 0, False)]
    html = city.get("/disputes/1").get_data(as_text=True)
    assert all(d["digest"] in html for d in days)
    assert html.count("未封存：按当日现有事件计算") == 2
    assert "not sealed yet: computed" in city.get("/disputes/1?lang=en").get_data(as_text=True)


def test_statement_pages_of_a_jurisdiction_without_lines(app, factory, market, world):
    """A settled period in which 320000 had nothing: its pages answer, none of them 500."""
    quiet = logged_in(app, factory, "adopter", "320000")
    bill = quiet.get("/adopter/bill")
    assert bill.status_code == 200 and "本月还没有账单行" in bill.get_data(as_text=True)
    page = quiet.get("/adopter/statements?period=2026-10")
    assert page.status_code == 200 and "2026-10 没有账单" in page.get_data(as_text=True)
    assert quiet.get("/adopter/statements/2026-10.csv").status_code == 404
    publisher = logged_in(app, factory, "publisher", "320000")
    assert publisher.get("/publisher/earnings?period=2026-10").status_code == 200
