"""Grace days (DESIGN §15): late usage still accepted after a period ends; settling waits."""
from __future__ import annotations

import pytest

from marketplace.settlement.drafts import grace_ends
from tests.settlement.conftest import fix_now

PAY_PER_USE = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "0.10"}


def admin(factory):
    """Headers of a platform administrator."""
    return factory.headers("admin", "110000", "read,admin")


def report(client, headers, event_id, at):
    """Report one event of 10 units of module ``late`` at ``at``."""
    return client.post("/api/v1/usage", headers=headers, json={"events": [
        {"id": event_id, "module": "late", "operation": "op", "units": 10, "occurred_at": at}]})


def settle(client, factory):
    """POST /api/v1/settlements for October 2026."""
    return client.post("/api/v1/settlements", headers=admin(factory), json={"period": "2026-10"})


def test_grace_ends_on_the_platform_zone_midnight():
    assert grace_ends("2026-10", 3).isoformat() == "2026-11-03T16:00:00+00:00"  # 11-04 00:00 +08:00
    assert grace_ends("2026-12", 0).isoformat() == "2026-12-31T16:00:00+00:00"


def test_late_usage_is_accepted_in_grace_and_settling_waits(app, market, client, factory):
    app.config["GRACE_DAYS"] = 3
    market.install(market.module("late", "440000", PAY_PER_USE), "440300")
    city = factory.headers("adopter", "440300", "usage,read")
    fix_now(app, "2026-11-03T23:59:59+08:00")            # the last second of the grace days
    late = report(client, city, "late-1", "2026-10-31T23:59:59+08:00").get_json()
    assert late["accepted"] == 1, late
    early = settle(client, factory)
    assert early.status_code == 409 and early.get_json()["error"] == "grace_period"
    assert "2026-11-03T16:00:00+00:00" in early.get_json()["message"]
    draft = client.get("/api/v1/statements/2026-10", headers=city).get_json()
    assert draft["state"] == "draft" and draft["total_charges"] == "1.00"
    fix_now(app, "2026-11-04T00:00:00+08:00")            # grace over at the Shanghai midnight
    settled = settle(client, factory)
    assert settled.status_code == 200, settled.get_json()
    assert settled.get_json()["totals"]["charges"] == "1.00"
    refused = report(client, city, "late-2", "2026-10-31T23:00:00+08:00").get_json()
    assert refused["rejected"][0]["reason"] == "period_closed"
    again = settle(client, factory)
    assert again.status_code == 200 and again.get_json() == settled.get_json()


@pytest.mark.parametrize("days", [0, None])
def test_without_grace_a_period_settles_as_soon_as_it_ends(app, market, client, factory, days):
    if days is not None:
        app.config["GRACE_DAYS"] = days
    market.install(market.module("late", "440000", PAY_PER_USE), "440300")
    fix_now(app, "2026-11-01T00:00:00+08:00")
    assert settle(client, factory).status_code == 200


def test_cli_settle_in_grace_is_one_error_line(app, market, runner):
    app.config["GRACE_DAYS"] = 1
    fix_now(app, "2026-11-01T12:00:00+08:00")
    result = runner.invoke(args=["settle", "2026-10"])
    assert result.exit_code == 1
    assert result.output.startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert "grace" in result.output


def test_grace_days_come_from_the_environment(monkeypatch, tmp_path):
    from marketplace.config import from_environment

    assert from_environment(str(tmp_path))["GRACE_DAYS"] == 0
    monkeypatch.setenv("MARKETPLACE_GRACE_DAYS", "5")
    assert from_environment(str(tmp_path))["GRACE_DAYS"] == 5
    monkeypatch.setenv("MARKETPLACE_GRACE_DAYS", "-1")
    with pytest.raises(ValueError, match="MARKETPLACE_GRACE_DAYS"):
        from_environment(str(tmp_path))


def test_days_in_grace_stay_unsealed_so_late_usage_is_still_accepted(app, market, client, factory,
                                                                     runner):
    from datetime import date

    from marketplace.metering.digest import last_sealable_day

    app.config["GRACE_DAYS"] = 3
    market.install(market.module("late", "440000", PAY_PER_USE), "440300")
    city = factory.headers("adopter", "440300", "usage,read")
    fix_now(app, "2026-11-02T10:00:00+08:00")
    assert report(client, city, "on-time", "2026-10-20T10:00:00+08:00").get_json()["accepted"] == 1
    assert report(client, city, "nov", "2026-11-01T10:00:00+08:00").get_json()["accepted"] == 1
    assert last_sealable_day(3) == date(2026, 9, 30) and last_sealable_day(0) == date(2026, 11, 1)
    sealed = runner.invoke(["usage", "seal"])                # the scheduler's nightly run
    assert sealed.exit_code == 0 and "up to 2026-09-30" in sealed.output, sealed.output
    late = report(client, city, "late", "2026-10-31T23:00:00+08:00").get_json()
    assert late["accepted"] == 1, late                       # October is not sealed
    forced = runner.invoke(["usage", "seal", "--up-to", "2026-10-31"])
    assert forced.exit_code == 1 and "grace" in forced.output and "Traceback" not in forced.output
    fix_now(app, "2026-11-04T00:00:00+08:00")                 # grace over
    done = runner.invoke(["usage", "seal"])
    assert done.exit_code == 0 and "sealed 3 installation-days up to 2026-11-03" in done.output, \
        done.output
