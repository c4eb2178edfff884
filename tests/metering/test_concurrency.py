"""Concurrent senders of overlapping batches never double count (threads, own clients)."""
from __future__ import annotations

import threading

import sqlalchemy as sa

from marketplace import db
from marketplace.metering.models import UsageEvent
from tests.metering.conftest import event

SENDERS = 6
BATCHES = 5
BATCH = 200


def test_overlapping_concurrent_batches_count_every_event_once(app, factory, modules):
    modules.install(modules.module(), "440300")
    headers = factory.headers("adopter", "440300", "usage")
    # sender s sends batches b covering ids [(s + b) * 100, (s + b) * 100 + 200): heavy overlap
    plans = [[[event(f"ev-{n}") for n in range((s + b) * 100, (s + b) * 100 + BATCH)]
              for b in range(BATCHES)] for s in range(SENDERS)]
    totals, errors = [], []
    start = threading.Barrier(SENDERS)

    def send(batches):
        client = app.test_client()
        start.wait()
        for batch in batches:
            response = client.post("/api/v1/usage", json={"events": batch}, headers=headers)
            if response.status_code != 200:
                errors.append(response.get_data(as_text=True))
                continue
            totals.append(response.get_json())

    threads = [threading.Thread(target=send, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    distinct = {e["id"] for plan in plans for batch in plan for e in batch}
    assert sum(t["accepted"] for t in totals) == len(distinct)
    assert sum(t["accepted"] + t["duplicates"] for t in totals) == SENDERS * BATCHES * BATCH
    with app.app_context():
        stored = db.session().scalar(sa.select(sa.func.count()).select_from(UsageEvent))
        unique = db.session().scalar(sa.select(sa.func.count(sa.distinct(UsageEvent.event_id))))
    assert stored == unique == len(distinct)
