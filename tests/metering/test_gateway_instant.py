"""A gateway event occurs when its call started, so it is never after the installation ended."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from marketplace.runtime import gateway

START = datetime(2026, 11, 30, 15, 59, 59, 900000, tzinfo=timezone.utc)


def test_gateway_event_occurs_at_the_instant_the_call_started(monkeypatch):
    clock = {"now": START}
    monkeypatch.setattr(gateway, "now", lambda: clock["now"])
    monkeypatch.setattr("marketplace.metering.service.now", lambda: clock["now"])
    written = []
    commits = SimpleNamespace(write=lambda connection, item: written.append(item))
    route = SimpleNamespace(id=7, module="m")
    call = gateway._Call(SimpleNamespace(commits=commits), None, route, "op", "440300", None)
    clock["now"] = START + timedelta(milliseconds=160)     # the call ran on past an uninstall
    call.finish(200, {"ok": True}, "ok", units=1, counted=True)
    event = written[0].event
    assert event["occurred_at"] == START
    assert event["received_at"] == START + timedelta(milliseconds=160)
    assert (event["period"], str(event["day"])) == ("2026-11", "2026-11-30")   # the start's period, not the end's
