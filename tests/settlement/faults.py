"""Crash drills for settlement, injected from the test side: product code has no crash switch.

A child process runs ``python -c "from tests.settlement.faults import main; main()" POINT WAIT
settle PERIOD …`` (the ``marketplace`` CLI with a fault armed):

* ``close`` dies right before the commit that closes the period (seen in the SQL it sends);
* ``issue`` settles through the ``drill`` provider, a ledger that dies after booking every
  statement and before settlement commits the booking (registered like any plugin);
* a number ``N`` dies right after the N-th provider call this process made (and recorded done).

``WAIT`` = ``wait`` prints ``crash point POINT reached`` and waits to be SIGKILLed
instead of exiting with status 75.
"""
from __future__ import annotations

import os
import sys
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from marketplace.sdk import hookimpl

EXIT_STATUS = 75
_wait = False


def crash(point: str) -> None:
    """Exit at once (no cleanup, no commit), or announce and wait to be SIGKILLed."""
    if _wait:
        print(f"crash point {point} reached", flush=True)
        time.sleep(600)
    os._exit(EXIT_STATUS)


def arm_close() -> None:
    """Die in the commit that follows the ``UPDATE periods … 'closed'`` of phase 1."""
    armed: list[bool] = []

    @event.listens_for(Engine, "before_cursor_execute")
    def watch(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE PERIODS") and "closed" in str(params):
            armed.append(True)

    @event.listens_for(Session, "before_commit")
    def die(session):
        if armed:
            crash("close")


class DrillPlugin:
    """Registers ``drill``: the ledger, dying after ``issue_all`` booked and before the commit."""

    @hookimpl
    def register_settlement_providers(self, register):
        from govmarket_plugins.ledger import LedgerProvider

        class DrillLedger(LedgerProvider):
            def issue_all(self, session, statements):
                super().issue_all(session, statements)
                crash("issue")

        register("drill", DrillLedger)


def arm_after_calls(limit: int) -> None:
    """Die after ``limit`` provider calls: wraps :func:`records.once`, which providers call by name."""
    from marketplace.settlement import records

    real, made = records.once, []

    def once(session, *, call, **fields):
        called = []

        def counted(key):
            called.append(key)
            return call(key)
        record = real(session, call=counted, **fields)
        made.extend(called)
        if len(made) >= limit:
            crash(str(limit))
        return record
    records.once = once


def main() -> None:
    """Arm the fault named in argv, then run the marketplace CLI on the rest."""
    global _wait
    point, wait, *rest = sys.argv[1:]
    _wait = wait == "wait"
    if point == "close":
        arm_close()
    elif point == "issue":
        from marketplace.plugins import get_plugin_manager

        get_plugin_manager().register(DrillPlugin(), name="drill")
        rest += ["--provider", "drill"]
    elif point.isdigit():
        arm_after_calls(int(point))
    sys.argv = [sys.argv[0], *rest]
    from marketplace.cli import main as cli

    cli()
