"""Publish-check slots: slow publishes hold a bounded, fairly shared part of a server's threads.

A check runs module code in a child process for up to its time limit, and its
request thread waits for it all that time. With gunicorn's ``gthread`` workers
(4 threads each) eight slow publishes used to hold every thread while other
tenants waited (DESIGN §12 fair share). So each process runs at most ``limit``
checks at once, and shares them fairly between publishing jurisdictions: one
jurisdiction runs at most one check and holds at most one waiting place, and a
jurisdiction with nothing running waits ahead of a second publish of one that
has (for up to the running check's own time limit, which bounds how long a slot
is held). One jurisdiction flooding slow publishes therefore delays another's
by one check at most. Anything beyond that share is refused at once with 503
``publish_busy`` and a ``Retry-After``, having stored nothing.
"""
from __future__ import annotations

import contextvars
import threading
from contextlib import contextmanager

from marketplace.errors import MarketplaceError

#: The jurisdiction publishing in this request (set by the API around the publish).
PUBLISHER: contextvars.ContextVar[str | None] = contextvars.ContextVar("publisher", default=None)


class PublishBusy(MarketplaceError):
    """Every publish-check slot of this process is taken (503 with Retry-After)."""

    status = 503

    def __init__(self, running: int, retry_after: int, own: bool = False) -> None:
        message = (f"your jurisdiction already has a publish check running and one waiting on "
                   f"this server, its fair share; retry in {retry_after} s" if own else
                   f"{running} publish check(s) are running on this server, as many as it "
                   f"allows at once; retry in {retry_after} s")
        super().__init__("publish_busy", message)
        self.headers = {"Retry-After": str(retry_after)}


class _Slots:
    """At most ``limit`` checks of this process run at once, at most one per jurisdiction, and
    waiting places go to jurisdictions with nothing running first (DESIGN §12 fair share)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.running: dict[str | None, int] = {}
        self.queue: list[tuple[str | None, bool]] = []    # (jurisdiction, came with nothing running)

    @property
    def waiting(self) -> int:
        """How many publishes wait for a slot."""
        return len(self.queue)

    @contextmanager
    def on_behalf(self, jurisdiction: str | None):
        """Checks started in the block count against ``jurisdiction``'s share."""
        token = PUBLISHER.set(jurisdiction)
        try:
            yield
        finally:
            PUBLISHER.reset(token)

    def _may_start(self, entry: tuple[str | None, bool], limit: int) -> bool:
        """Whether the waiter ``entry`` is next: a slot is free, its jurisdiction runs nothing,
        and no waiter ahead of it (first-comers before seconds) could start instead."""
        if sum(self.running.values()) >= limit or self.running.get(entry[0]):
            return False
        for other in sorted(self.queue, key=lambda e: not e[1]):     # stable: FIFO per class
            if not self.running.get(other[0]):
                return other is entry
        return False

    @contextmanager
    def hold(self, limit: int, wait: float, retry_after: int):
        """Run the block in a slot, waiting ``wait`` s at most (a first-comer: until a running
        check's time limit ``retry_after`` has passed); else raise PublishBusy."""
        limit = max(1, limit)
        who = PUBLISHER.get()
        with self._changed:
            total = sum(self.running.values())
            own_running = self.running.get(who, 0)
            if total >= limit or own_running or self.queue:
                if any(e[0] == who for e in self.queue):
                    raise PublishBusy(total, retry_after, own=True)
                first = not own_running
                if not first and sum(1 for e in self.queue if not e[1]) >= limit:
                    raise PublishBusy(total, retry_after, own=True)
                entry = (who, first)                   # a fresh tuple: compared by identity
                self.queue.append(entry)
                try:
                    free = self._changed.wait_for(lambda: self._may_start(entry, limit),
                                                  retry_after + wait if first else wait)
                finally:
                    self.queue.remove(entry)
                    self._changed.notify_all()
                if not free:
                    raise PublishBusy(sum(self.running.values()), retry_after)
            self.running[who] = self.running.get(who, 0) + 1
        try:
            yield
        finally:
            with self._changed:
                self.running[who] -= 1
                if not self.running[who]:
                    del self.running[who]
                self._changed.notify_all()


SLOTS = _Slots()
