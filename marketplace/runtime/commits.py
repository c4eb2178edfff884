"""Group commit of gateway calls: concurrent calls of one process share a transaction.

Every gateway call must have its usage event (with, for an ``Idempotency-Key``,
its reply settled on the key's reservation) committed before it answers. One
commit per call makes the database's per-transaction work (lock, WAL append,
page writes of the B-trees) the gateway's largest cost under load. So calls
queue their writes here; the first thread to find no commit running becomes the
leader, takes every queued write, applies them on its own connection with
``executemany`` and commits once; threads whose writes were in that batch
return as soon as it is durable. A lone call is its own leader and pays nothing
extra.

What must hold *before* the module runs is committed before it does, so it
holds across workers and hosts: the quota grant (:meth:`GroupCommit.reserve`:
one autocommit statement on PostgreSQL; on SQLite queued here like a write, so
grants share transactions with other calls' events) and the key's reservation
(:meth:`GroupCommit.now`, at once).

A batch that fails is rolled back and each write applied alone, so one call's
failure never costs another its event.

Replies live 24 h (:data:`REPLAY_WINDOW`). A leader also deletes expired ones, up
to ``SWEEP_BATCH`` at a time, at most once a minute per process (at once again while
batches come back full), in a transaction of its own after its batch.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from sqlalchemy.engine import Engine

from marketplace import db
from marketplace.clock import now
from marketplace.metering import writer

if TYPE_CHECKING:
    from marketplace.runtime.routes import HotStatements

log = logging.getLogger(__name__)
T = TypeVar("T")
REPLAY_WINDOW = timedelta(hours=24)     # how long an Idempotency-Key's first reply is kept
SWEEP_EVERY = 60.0                      # seconds between two sweeps of expired replies
SWEEP_BATCH = 500                       # expired replies deleted per sweep at most


def event_id() -> str:
    """A new usage event id: a UUIDv7 (RFC 9562) as 32 hex digits.

    Time-ordered ids keep the ``(installation_id, event_id)`` unique index
    appending at its right edge instead of writing a random page per call.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76           # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62           # RFC 9562 variant
    return f"{value:032x}"


@dataclass(slots=True, eq=False)
class CallWrite:
    """What one call writes: its usage event, a quota grant given back, its key's outcome."""

    event: dict | None
    give_back: tuple[int, int] | None = None   # (installation id, minute) of an unused grant
    reserve: dict | None = None                # a quota grant asked for (see GroupCommit.reserve)
    granted: bool = False
    reply: dict | None = None                  # settles (status set) or frees the key
    reply_stored: bool = True
    done: bool = False
    error: Exception | None = None


class GroupCommit:
    """The write queue of one engine in one process."""

    def __init__(self, engine: Engine, sql: "HotStatements") -> None:
        self.engine, self.sql = engine, sql
        self.postgres = engine.dialect.name == "postgresql"
        self._ready = threading.Condition()
        self._queued: list[CallWrite] = []
        self._leading = False
        self._next_sweep = 0.0

    def write(self, connection: Any, item: CallWrite) -> None:
        """Return once ``item`` is committed (raises what its own write raised)."""
        self._queue(connection, item)

    def _queue(self, connection: Any, item: CallWrite) -> None:
        with self._ready:
            self._queued.append(item)
            while self._leading and not item.done:
                self._ready.wait()
            if not item.done:
                self._leading = True
                batch, self._queued = self._queued, []
        if not item.done:
            try:
                self._commit(connection, batch)
            except BaseException as exc:    # unexpected (the lock file, say): nobody is committed
                for each in batch:
                    if each.error is None:
                        each.error = exc if isinstance(exc, Exception) else RuntimeError(
                            "the commit of this call was interrupted")
                if not isinstance(exc, Exception):
                    raise
            finally:
                with self._ready:
                    for each in batch:
                        each.done = True
                    self._leading = False
                    self._ready.notify_all()
            if item.event is not None and time.monotonic() >= self._next_sweep:
                self._sweep(connection)
        if item.error is not None:
            raise item.error

    def _sweep(self, connection: Any) -> None:
        """Delete a batch of the idempotent replies past the replay window (never fatal).

        A full batch means more are waiting (after downtime, say): the next commit
        sweeps again, so no single call holds the write turn for long.
        """
        self._next_sweep = time.monotonic() + SWEEP_EVERY
        values = {"cutoff": now() - REPLAY_WINDOW, "batch": SWEEP_BATCH}
        try:
            with db.sqlite_write_turn(self.engine):
                deleted = self._atomically(connection, connection.cursor(), lambda cursor:
                                           self.sql.sweep_replies.execute(cursor, values).rowcount)
        except Exception:  # noqa: BLE001 - the next sweep tries again; the call is committed
            log.warning("sweeping expired idempotent replies failed", exc_info=True)
            return
        if deleted >= SWEEP_BATCH:
            self._next_sweep = 0.0

    def _atomically(self, connection: Any, cursor: Any, work: Callable[[Any], T]) -> T:
        """``work(cursor)`` in one transaction: committed, or rolled back if it raises."""
        if self.postgres:
            with connection.driver_connection.transaction():
                return work(cursor)
        try:
            result = work(cursor)
            connection.commit()
            return result
        except BaseException:
            connection.rollback()
            raise

    def _commit(self, connection: Any, batch: list[CallWrite]) -> None:
        """Apply and commit ``batch`` at once; on failure, each write alone."""
        cursor = connection.cursor()
        with db.sqlite_write_turn(self.engine):
            try:
                self._transaction(connection, cursor, batch)
                return
            except Exception:  # noqa: BLE001 - retried one by one below, each with its own error
                pass
            for item in batch:
                self._commit_alone(connection, cursor, item)

    def _transaction(self, connection: Any, cursor: Any, batch: list[CallWrite]) -> None:
        """``batch`` in one transaction, committed (rolled back if anything fails).

        On PostgreSQL the gateway's connections are in autocommit mode: a batch of
        events alone is one statement (one round trip, atomic by itself); one with
        replies or give-backs, or on another connection, a transaction.
        """
        if (self.postgres and connection.driver_connection.autocommit
                and all(item.reply is None and item.give_back is None and item.reserve is None
                        for item in batch)):
            cursor.execute(*self._rows(batch))          # one statement: atomic by itself
            return
        self._atomically(connection, cursor, lambda cursor: self._apply(cursor, batch))

    def _commit_alone(self, connection: Any, cursor: Any, item: CallWrite) -> None:
        try:
            self._transaction(connection, cursor, [item])
        except Exception as exc:  # noqa: BLE001 - handed to the call's own thread
            item.error = exc

    def _rows(self, batch: list[CallWrite]) -> tuple[str, Any]:
        """The batch's events as metering's own insert (SQL, parameters)."""
        return writer.insert_statement(self.engine.dialect.name,
                                       [item.event for item in batch if item.event is not None])

    def reserve(self, connection: Any, values: dict) -> bool:
        """Grant one call of a quota (``sql.reserve``: iid, minute, limit), committed on return.

        PostgreSQL: one statement in autocommit, at once. SQLite, where every
        commit takes the one write lock: queued like a write, so under load the
        grants of concurrent calls share the transaction of other calls' events.
        """
        if self.postgres and connection.driver_connection.autocommit:
            return bool(self.sql.reserve.execute(connection.cursor(), values).fetchall())
        item = CallWrite(None, reserve=values)
        self._queue(connection, item)
        return item.granted

    def now(self, connection: Any, work: Callable[[Any], T]) -> T:
        """``work(cursor)`` committed before this returns (a reservation: not group-committed).

        PostgreSQL: one statement on the autocommit connection is its own
        transaction; SQLite: the write turn, then a commit.
        """
        cursor = connection.cursor()
        if self.postgres and connection.driver_connection.autocommit:
            return work(cursor)
        with db.sqlite_write_turn(self.engine):
            return self._atomically(connection, cursor, work)

    def _apply(self, cursor: Any, batch: list[CallWrite]) -> None:
        sql = self.sql
        events, parameters = self._rows(batch)
        if parameters:                          # (a batch of grants alone has no events)
            (cursor.execute if self.postgres else cursor.executemany)(events, parameters)
        for item in batch:
            if item.reserve is not None:
                item.granted = bool(sql.reserve.execute(cursor, item.reserve).fetchall())
            if item.give_back is not None:
                iid, minute = item.give_back
                sql.give_back.execute(cursor, {"iid": iid, "m": minute})
            reply = item.reply
            if reply is None:
                continue
            if reply.get("status") is None:      # not worth replaying: a retry runs for real
                item.reply_stored = sql.free_key.execute(cursor, reply).rowcount == 1
            else:                                # lost if another call took the key over
                item.reply_stored = sql.settle_reply.execute(cursor, reply).rowcount == 1
