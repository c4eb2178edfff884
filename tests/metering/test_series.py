"""GET /api/v1/usage: series by day or month, visibility by role, CSV export."""
from __future__ import annotations

import pytest

from marketplace import db
from marketplace.metering import service
from tests.metering.conftest import event


@pytest.fixture
def usage(app, modules):
    """Guangdong publishes enterprise-registration (ER), Zhejiang publishes social-insurance (SI).

    Shenzhen uses ER (3 + 2 units, one error) and SI; Hangzhou uses ER.
    """
    er = modules.module("enterprise-registration", "440000")
    si = modules.module("social-insurance", "330000", {"enrol": 1})
    modules.install(er, "440300")
    modules.install(si, "440300")
    modules.install(er, "330100")
    with app.app_context():
        session = db.session()
        service.ingest(session, "440300", [
            event("a", units=3, occurred_at="2026-10-05T08:00:00+08:00"),
            event("b", units=2, occurred_at="2026-10-06T08:00:00+08:00"),
            event("c", units=7, occurred_at="2026-10-06T09:00:00+08:00", status="error"),
            event("d", module="social-insurance", operation="enrol", units=4,
                  occurred_at="2026-11-01T00:00:00+08:00")])
        service.ingest(session, "330100", [event("a", units=5, occurred_at="2026-10-31T23:59:59+08:00")])


def series(client, headers, **params):
    """GET the series; returns its points."""
    response = client.get("/api/v1/usage", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["series"]


def test_adopter_sees_only_its_own_usage_by_day(client, factory, usage):
    points = series(client, factory.headers("adopter", "440300"), module="enterprise-registration")
    assert points == [
        {"day": "2026-10-05", "module": "enterprise-registration", "operation": "submit_application",
         "adopter": "440300", "events": 1, "units": 3},
        {"day": "2026-10-06", "module": "enterprise-registration", "operation": "submit_application",
         "adopter": "440300", "events": 2, "units": 2}]


def test_monthly_series_uses_platform_zone_periods(client, factory, usage):
    points = series(client, factory.headers("adopter", "440300"), granularity="month")
    assert [(p["period"], p["module"], p["units"]) for p in points] == [
        ("2026-10", "enterprise-registration", 5), ("2026-11", "social-insurance", 4)]


def test_publisher_sees_its_modules_usage_by_adopter(client, factory, usage):
    points = series(client, factory.headers("publisher", "440000"), granularity="month")
    assert [(p["adopter"], p["module"], p["units"]) for p in points] == [
        ("330100", "enterprise-registration", 5), ("440300", "enterprise-registration", 5)]


def test_admin_sees_all_and_filters_by_jurisdiction(client, factory, usage):
    admin = factory.headers("admin", "110000")
    assert len(series(client, admin, granularity="month")) == 3
    only = series(client, admin, granularity="month", jurisdiction="330100")
    assert [(p["adopter"], p["units"]) for p in only] == [("330100", 5)]


def test_from_to_and_operation_filters(client, factory, usage):
    headers = factory.headers("adopter", "440300")
    assert [p["day"] for p in series(client, headers, **{"from": "2026-10-06", "to": "2026-10"})] == [
        "2026-10-06"]
    assert series(client, headers, operation="enrol")[0]["units"] == 4


def test_csv_export(client, factory, usage):
    response = client.get("/api/v1/usage", query_string={"granularity": "month", "format": "csv"},
                          headers=factory.headers("publisher", "440000"))
    assert response.mimetype == "text/csv"
    assert response.get_data(as_text=True).splitlines() == [
        "period,module,operation,adopter,events,units",
        "2026-10,enterprise-registration,submit_application,330100,1,5",
        "2026-10,enterprise-registration,submit_application,440300,3,5"]


def test_bad_dates_and_granularity_are_400(client, factory, usage):
    headers = factory.headers("adopter", "440300")
    assert client.get("/api/v1/usage?from=soon", headers=headers).get_json()["error"] == "invalid_date"
    assert client.get("/api/v1/usage?granularity=year", headers=headers).status_code == 400
