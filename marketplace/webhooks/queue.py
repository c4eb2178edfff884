"""Queueing an event for a jurisdiction's endpoint, in the transaction that caused it.

Used by the gateway (on its raw cursor) and by services (on a session) through
the same runner interface as :mod:`marketplace.settlement.budgets`. Nothing is
queued when the jurisdiction has no endpoint: the console shows warnings anyway.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import sqlalchemy as sa

from marketplace.clock import now
from marketplace.webhooks.models import WebhookDelivery, WebhookEndpoint

_D, _W = WebhookDelivery.__table__, WebhookEndpoint.__table__
HAS_ENDPOINT = sa.select(_W.c.jurisdiction_code).where(_W.c.jurisdiction_code == sa.bindparam("code"))
INSERT = sa.insert(_D).values(
    event_id=sa.bindparam("event_id"), jurisdiction_code=sa.bindparam("code"),
    type=sa.bindparam("type"), body=sa.bindparam("body"), state="pending", attempts=0,
    next_attempt_at=sa.bindparam("stamp", type_=_D.c.next_attempt_at.type),
    created_at=sa.bindparam("stamp", type_=_D.c.created_at.type))


def event_id() -> str:
    """A new, time-ordered event id (``evt_`` and 26 hex digits)."""
    return f"evt_{time.time_ns() // 1_000_000:012x}{os.urandom(7).hex()}"


def enqueue(run: Any, code: str, kind: str, data: dict) -> str | None:
    """Queue ``{"id", "type", "created_at", **data}`` for ``code``'s endpoint; its id, or None."""
    if not run.rows(HAS_ENDPOINT, {"code": code}):
        return None
    stamp = now()
    ident = event_id()
    body = json.dumps({"id": ident, "type": kind, "created_at": stamp.isoformat(), **data},
                      ensure_ascii=False, separators=(",", ":"))
    run.write(INSERT, {"event_id": ident, "code": code, "type": kind, "body": body,
                       "stamp": stamp})
    return ident
