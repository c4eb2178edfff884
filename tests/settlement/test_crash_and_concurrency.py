"""Crash safety and concurrency: a killed settlement resumes; two runs give one result."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa

from marketplace import db
from marketplace.plugins import get_provider
from marketplace.settlement import service
from marketplace.settlement.models import Charge, JournalEntry, Period, ProviderRecord, Statement
from tests.settlement import worked_example as ex
from tests.settlement.conftest import AFTER_OCTOBER

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from marketplace.cli import main; main()"]
#: the CLI with a crash drill armed from the test side (tests/settlement/faults.py)
DRILL = [sys.executable, "-c", "from tests.settlement.faults import main; main()"]


def run_settle(app, tmp_path, crash: str = "", wait: bool = False, extra_env=None):
    """``marketplace settle 2026-10`` in a child process on the test database, ``crash`` armed."""
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": app.config["DATABASE_URL"],
           "MARKETPLACE_NOW": AFTER_OCTOBER, "MARKETPLACE_PLATFORM_FEE_BPS": str(ex.FEE_BPS),
           "MARKETPLACE_INSTANCE": str(tmp_path / "instance"), "MARKETPLACE_SECRET_KEY": "k",
           **(extra_env or {})}
    command = [*DRILL, crash, "wait" if wait else "exit"] if crash else CLI
    if wait:
        child = subprocess.Popen([*command, "settle", ex.PERIOD], env=env, cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True)
        assert "crash point" in child.stdout.readline()
        child.send_signal(signal.SIGKILL)
        return child.wait(10)
    return subprocess.run([*command, "settle", ex.PERIOD], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120).returncode


def counts(app):
    """How many rows of each settlement table exist."""
    with app.app_context():
        session = db.session()
        return {m.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(m))
                for m in (Charge, Statement, ProviderRecord, JournalEntry)}


def journal_lines_of_one_booking(app) -> int:
    """Journal lines one booking of the charges writes: Dr receivable, Cr payable, Cr fee (if any)."""
    with app.app_context():
        rows = db.session().execute(sa.select(Charge.amount_minor, Charge.fee_minor)
                                    .where(Charge.amount_minor > 0)).all()
    return sum(1 + (amount > fee) + (fee > 0) for amount, fee in rows)


def all_statements(app):
    """Every statement as JSON."""
    with app.app_context():
        return {code: service.statement_json(db.session(), ex.PERIOD, code) for code in ex.TOTALS}


def test_sigkill_before_the_closing_commit_leaves_nothing(app, market, tmp_path):
    ex.build(market)
    assert run_settle(app, tmp_path, crash="close", wait=True) == -signal.SIGKILL
    assert counts(app) == {"charges": 0, "statements": 0, "provider_records": 0, "journal_entries": 0}
    with app.app_context():
        assert db.session().scalar(sa.select(Period.state).where(Period.period == ex.PERIOD)) != "closed"
    assert run_settle(app, tmp_path) == 0
    assert {c: b["total_charges"] for c, b in all_statements(app).items()} == \
        {c: t[0] for c, t in ex.TOTALS.items()}


def test_crash_while_booking_resumes_without_double_booking(app, market, tmp_path):
    ex.build(market)
    assert run_settle(app, tmp_path, crash="issue") == 75  # closed, then died before booking commit
    after_crash = counts(app)
    assert after_crash == {"charges": 10, "statements": 5, "provider_records": 0, "journal_entries": 0}
    with app.app_context():
        assert set(db.session().scalars(sa.select(Statement.provider_status))) == {"pending"}
    assert run_settle(app, tmp_path, crash="issue", wait=True) == -signal.SIGKILL  # killed again
    assert counts(app) == after_crash
    assert run_settle(app, tmp_path) == 0
    assert run_settle(app, tmp_path) == 0  # and a rerun changes nothing
    final = counts(app)
    assert final["provider_records"] == 3  # three paying adopters, each booked once
    from govmarket_plugins.ledger import balances, trial_balance

    with app.app_context():
        session = db.session()
        assert trial_balance(session, "CNY") == (2752000, 2752000)
        owed = {b["jurisdiction"]: b["net"] for b in balances(session)}
        statuses = set(session.scalars(sa.select(Statement.provider_status)))
    assert owed == {c: t[2] for c, t in ex.TOTALS.items()}
    assert statuses == {"booked"}


def test_two_concurrent_runs_give_one_result(app, market):
    ex.build(market)
    results, errors = [], []

    def worker():
        try:
            with app.app_context():
                results.append(service.settle(db.session(), ex.PERIOD, get_provider(app.config),
                                              "admin@test", ex.FEE_BPS))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert results[0]["totals"] == results[1]["totals"]
    assert counts(app) == {"charges": 10, "statements": 5, "provider_records": 3,
                           "journal_entries": journal_lines_of_one_booking(app)}
    from govmarket_plugins.ledger import trial_balance

    with app.app_context():
        assert trial_balance(db.session(), "CNY") == (2752000, 2752000)


def test_two_concurrent_processes_give_one_result(app, market, tmp_path):
    ex.build(market)
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": app.config["DATABASE_URL"],
           "MARKETPLACE_NOW": AFTER_OCTOBER, "MARKETPLACE_PLATFORM_FEE_BPS": str(ex.FEE_BPS),
           "MARKETPLACE_INSTANCE": str(tmp_path / "instance"), "MARKETPLACE_SECRET_KEY": "k"}
    children = [subprocess.Popen([*CLI, "settle", ex.PERIOD], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [c.communicate(timeout=120) for c in children]
    assert [c.returncode for c in children] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]
    assert counts(app)["charges"] == 10 and counts(app)["provider_records"] == 3


def test_no_environment_switch_can_kill_the_money_path(app, market, tmp_path):
    """The old drill variables are plain environment now: settlement runs to the end."""
    ex.build(market)
    env = {"MARKETPLACE_SETTLE_CRASH_AFTER": "close"}       # the old code died here with 75
    assert run_settle(app, tmp_path, extra_env=env) == 0
    assert counts(app)["statements"] == 5 and counts(app)["provider_records"] == 3


def test_a_broken_metering_digest_fails_settlement_loudly():
    """Statements never silently lose their usage_chain_head to a failed first-party import."""
    probe = ("import sys; sys.modules['marketplace.metering.digest'] = None; "
             "import marketplace.settlement.service")
    child = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    assert child.returncode != 0 and "marketplace.metering.digest" in child.stderr
