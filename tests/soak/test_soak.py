"""Bounded soak (bench/soak.py): several client processes, gunicorn with four workers.

Mixed gateway calls and usage reports for ``MARKETPLACE_SOAK_SECONDS`` (default 20 s; long
soaks are ``bench/soak.py --seconds N``)
on the suite's database (SQLite or PostgreSQL). Asserts that no acknowledged event is
lost or counted twice and that nothing failed; prints the error rate and p99 figures.
"""
from __future__ import annotations

import json
import os

import pytest

from bench.soak import run_soak, summary, verify

pytestmark = pytest.mark.slow
SECONDS = float(os.environ.get("MARKETPLACE_SOAK_SECONDS") or 20)


def test_soak_loses_and_duplicates_no_acknowledged_event(world, live_server, capsys):
    token = world.factory.token(world.emails["adopter"], "invoke usage")
    server = live_server(4)
    result = run_soak(server.url, token, "toy-echo", "echo", {"text": "soak"}, SECONDS, processes=4)
    figures = summary(result, verify(world.app.config["DATABASE_URL"], world.installation_id,
                                     result["acked"]))
    with capsys.disabled():
        print("\nsoak:", json.dumps(figures))
    assert figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["acknowledged"] > 1000
    assert figures["gateway"]["error_rate"] == 0 and figures["usage"]["error_rate"] == 0
