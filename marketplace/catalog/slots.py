"""Publish-check slots: slow publishes hold a bounded share of a server's request threads.

A check runs module code in a child process for up to its time limit, and its
request thread waits for it all that time. With gunicorn's ``gthread`` workers
(4 threads each) eight slow publishes used to hold every thread while other
tenants waited (DESIGN §12 fair share). So each process runs at most ``limit``
checks at once and lets at most as many more wait (a few seconds) for one to
end; any further publish is refused at once with 503 ``publish_busy`` and a
``Retry-After``, having stored nothing.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from marketplace.errors import MarketplaceError


class PublishBusy(MarketplaceError):
    """Every publish-check slot of this process is taken (503 with Retry-After)."""

    status = 503

    def __init__(self, running: int, retry_after: int) -> None:
        super().__init__("publish_busy", f"{running} publish check(s) are running on this "
                         f"server, as many as it allows at once; retry in {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}


class PublishBusy(MarketplaceError):
    """Every publish-check slot of this process is taken (503 with Retry-After)."""

    status = 503

    def __init__(self, running: int, retry_after: int) -> None:
        super().__init__("publish_busy", f"{running} publish check(s) are running on this "
                         f"server, as many as it allows at once; retry in {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}


class _Slots:
    """At most ``limit`` checks of this process run at once and at most as many wait, so
    slow publishes hold a bounded number of the request threads (DESIGN §12 fair share)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.running = self.waiting = 0

    @contextmanager
    def hold(self, limit: int, wait: float, retry_after: int):
        """Run the block in a slot, waiting ``wait`` s at most; else raise PublishBusy."""
        limit = max(1, limit)
        with self._changed:
            if self.running >= limit:
                if self.waiting >= limit:
                    raise PublishBusy(self.running, retry_after)
                self.waiting += 1
                try:
                    free = self._changed.wait_for(lambda: self.running < limit, wait)
                finally:
                    self.waiting -= 1
                if not free:
                    raise PublishBusy(self.running, retry_after)
            self.running += 1
        try:
            yield
        finally:
            with self._changed:
                self.running -= 1
                self._changed.notify()


SLOTS = _Slots()
