"""Crash safety: SIGKILL the server during usage ingest, and settlement during provider calls.

Ingest: clients report usage and call the gateway against gunicorn (2 workers); the
master and workers are SIGKILLed at a random moment; after a restart every event
the clients saw acknowledged (a 200) is in the database exactly once, and resending
everything is absorbed as duplicates.
Settlement: ``marketplace settle`` runs against stripe-mock behind a counting proxy and
is SIGKILLed at random provider calls (before or after Stripe answered) and at random
times; reruns finish it with the statements of the worked example, and no charge line,
invoice or transfer ever got two different idempotency keys.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import sqlalchemy as sa

from marketplace import db
from marketplace.clock import now

pytestmark = pytest.mark.slow
RUNS = 3


def _batch(prefix: str, size: int) -> list[dict]:
    stamp = now().isoformat()
    return [{"id": f"{prefix}-{i}", "module": "toy-echo", "operation": "echo", "units": 1,
             "occurred_at": stamp} for i in range(size)]


class Load:
    """Clients reporting usage and calling the gateway until the server dies; records acks."""

    def __init__(self, url: str, headers: dict) -> None:
        self.url, self.headers = url, headers
        self.sent: list[list[dict]] = []
        self.acked: set[str] = set()            # reported event ids answered 200
        self.gateway_acked: set[str] = set()    # X-Usage-Event of gateway calls answered 200
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def reporter(self, name: str) -> None:
        n = 0
        while not self.stop.is_set():
            events = _batch(f"{name}-{n}-{uuid.uuid4().hex[:6]}", 50)
            n += 1
            with self.lock:
                self.sent.append(events)
            try:
                answer = requests.post(f"{self.url}/api/v1/usage", json={"events": events},
                                       headers=self.headers, timeout=10)
            except requests.RequestException:
                continue
            if answer.status_code == 200:
                assert answer.json()["rejected"] == [], answer.json()
                with self.lock:
                    self.acked.update(e["id"] for e in events)

    def caller(self) -> None:
        while not self.stop.is_set():
            try:
                answer = requests.post(f"{self.url}/api/v1/invoke/toy-echo/echo",
                                       json={"text": "x"}, headers=self.headers, timeout=10)
            except requests.RequestException:
                continue
            if answer.status_code == 200:
                with self.lock:
                    self.gateway_acked.add(answer.headers["X-Usage-Event"])


def _event_counts(app, installation_id: int) -> Counter:
    from marketplace.metering.models import UsageEvent

    with app.app_context():
        rows = db.session().execute(sa.select(UsageEvent.event_id, sa.func.count())
                                    .where(UsageEvent.installation_id == installation_id)
                                    .group_by(UsageEvent.event_id)).all()
    return Counter(dict(rows))


def test_acknowledged_usage_survives_sigkill_exactly_once(world, live_server):
    rng = random.Random()
    headers = {"Authorization": f"Bearer {world.factory.token(world.emails['adopter'], 'usage invoke')}"}
    load = None
    for run in range(RUNS):
        server = live_server(2)
        load = Load(server.url, headers)
        with ThreadPoolExecutor(4) as pool:
            work = [pool.submit(load.reporter, f"r{run}.{i}") for i in range(2)]
            work += [pool.submit(load.caller) for _ in range(2)]
            warm = time.monotonic() + 30        # the first calls start sandboxes: slow when busy
            while not (load.acked and load.gateway_acked) and time.monotonic() < warm:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.2, 1.5))
            server.kill()                               # master and workers, mid-request
            load.stop.set()
            for item in work:
                item.result()
        assert load.acked and load.gateway_acked, "the server died before acknowledging anything"
        counts = _event_counts(world.app, world.installation_id)
        lost = (load.acked | load.gateway_acked) - set(counts)
        assert lost == set(), f"run {run}: {len(lost)} acknowledged events lost"
        assert [e for e, c in counts.items() if c > 1] == []
        restarted = live_server(2)                      # the same database after the crash
        resent = Counter()
        for events in load.sent:                        # clients retry everything
            answer = requests.post(f"{restarted.url}/api/v1/usage", json={"events": events},
                                   headers=headers, timeout=30).json()
            resent.update(accepted=answer["accepted"], duplicates=answer["duplicates"])
        acked_sent = sum(1 for events in load.sent for e in events if e["id"] in load.acked)
        assert resent["duplicates"] >= acked_sent
        counts = _event_counts(world.app, world.installation_id)
        assert [e for e, c in counts.items() if c > 1] == []
        assert {e["id"] for events in load.sent for e in events} <= set(counts)
        restarted.stop()


# --- settlement -------------------------------------------------------------------------

class CountingProxy:
    """Forwards to stripe-mock, logs (method, path, Idempotency-Key), can SIGKILL the settler."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: list[tuple[str, str, str]] = []
        self.kill_at: tuple[int, bool] | None = None    # (call number, after the answer?)
        self.victim: subprocess.Popen | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._forward()

            def do_POST(self):
                self._forward()

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.calls.append((self.command, self.path.split("?")[0],
                                    self.headers.get("Idempotency-Key") or ""))
                number = len(proxy.calls)
                if proxy.kill_at and proxy.kill_at[0] == number and not proxy.kill_at[1]:
                    proxy.kill()
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(self.command, proxy.upstream + self.path, data=body,
                                          headers=headers, timeout=30)
                if proxy.kill_at and proxy.kill_at[0] == number and proxy.kill_at[1]:
                    proxy.kill()                        # Stripe did it; we never heard back
                self.send_response(answer.status_code)
                for key in ("Content-Type", "Request-Id", "Idempotency-Key"):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kill(self) -> None:
        if self.victim is not None and self.victim.poll() is None:
            self.victim.send_signal(signal.SIGKILL)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def market(app):
    from marketplace.clock import clock
    from tests.settlement.conftest import AFTER_OCTOBER, Market

    clock.configure(AFTER_OCTOBER, "Asia/Shanghai")
    return Market(app)


def _settle_process(app, tmp_path, provider: str, proxy_url: str = "") -> subprocess.Popen:
    from tests.settlement import worked_example as ex
    from tests.settlement.conftest import AFTER_OCTOBER

    env = {**os.environ, "MARKETPLACE_DATABASE_URL": app.config["DATABASE_URL"],
           "MARKETPLACE_NOW": AFTER_OCTOBER, "MARKETPLACE_PLATFORM_FEE_BPS": str(ex.FEE_BPS),
           "MARKETPLACE_INSTANCE": str(tmp_path / "instance"), "MARKETPLACE_SECRET_KEY": "k",
           "MARKETPLACE_SETTLEMENT_PROVIDER": provider, "STRIPE_API_KEY": "sk_test_crash",
           "STRIPE_API_BASE": proxy_url}
    return subprocess.Popen([sys.executable, "-c", "from marketplace.cli import main; main()",
                             "settle", ex.PERIOD], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _statement_totals(app) -> dict:
    from marketplace.settlement import service
    from tests.settlement import worked_example as ex

    with app.app_context():
        return {code: service.statement_json(db.session(), ex.PERIOD, code)["total_charges"]
                for code in ex.TOTALS}


STRIPE_CALLS = 17       # 3 customers, 3 invoices, 6 items, 3 finalisations, 2 connected accounts


def test_settlement_killed_at_random_provider_calls_charges_nobody_twice(app, market, tmp_path,
                                                                         stripe_mock):
    from tests.settlement import worked_example as ex
    from tests.settlement.test_stripe import record_types

    ex.build(market)
    proxy = CountingProxy(stripe_mock)
    rng = random.Random()
    kills = 0
    try:
        for _ in range(4):
            proxy.kill_at = (len(proxy.calls) + rng.randint(1, 6), rng.random() < 0.5)
            proxy.victim = _settle_process(app, tmp_path, "stripe", proxy.url)
            code = proxy.victim.wait(120)
            kills += code == -signal.SIGKILL
        proxy.kill_at = None
        for _ in range(2):                                  # finish, then a rerun changes nothing
            child = _settle_process(app, tmp_path, "stripe", proxy.url)
            assert child.wait(120) == 0, child.stderr.read()
    finally:
        proxy.close()
    assert kills >= 1
    assert record_types(app) == {"customer": 3, "invoice": 3, "invoiceitem": 6,
                                 "invoice_finalize": 3, "account": 2}
    assert _statement_totals(app) == {c: t[0] for c, t in ex.TOTALS.items()}
    posts = [(path, key) for method, path, key in proxy.calls if method == "POST"]
    assert all(key for _, key in posts), "a provider call went out without an Idempotency-Key"
    keys = {key for _, key in posts}
    assert len(keys) == STRIPE_CALLS      # one key per customer, invoice, line, finalisation, account
    by_path = Counter(path for path, _ in set(posts))
    assert by_path["/v1/invoiceitems"] == 6 and by_path["/v1/invoices"] == 3


def test_settlement_killed_at_random_times_books_the_ledger_once(app, market, tmp_path):
    from govmarket_plugins.ledger import balances, trial_balance
    from tests.settlement import worked_example as ex

    ex.build(market)
    rng = random.Random()
    for _ in range(3):
        child = _settle_process(app, tmp_path, "ledger")
        time.sleep(rng.uniform(0.5, 3.0))
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    for _ in range(2):
        child = _settle_process(app, tmp_path, "ledger")
        assert child.wait(120) == 0, child.stderr.read()
    assert _statement_totals(app) == {c: t[0] for c, t in ex.TOTALS.items()}
    with app.app_context():
        session = db.session()
        assert trial_balance(session, "CNY") == (2752000, 2752000)
        assert {b["jurisdiction"]: b["net"] for b in balances(session)} == \
            {c: t[2] for c, t in ex.TOTALS.items()}
