"""Fair share of a worker's request threads between tenants (DESIGN §12).

A gateway call holds its request thread for as long as the module runs (up to
the time limit). Without a bound, one jurisdiction's slow calls can take every
thread of a worker and leave another tenant's calls queued behind them. So a
jurisdiction may have at most ``limit`` gateway calls in flight per process
(by default the server's threads less one, so a thread is always left for the
others). A call beyond that waits briefly for one of its own tenant's calls to
end (quick calls queue instead of failing) and is otherwise refused at once
with 429 ``too_many_concurrent_calls``; while a tenant's calls are that slow,
its further calls are refused without waiting, until one of them ends.
"""
from __future__ import annotations

import threading

WAIT = 0.25         # seconds an over-limit call may wait for a slot of its own tenant


class TenantSlots:
    """Gateway calls in flight per jurisdiction in this process (``limit`` None: unbounded)."""

    def __init__(self, limit: int | None, wait: float = WAIT) -> None:
        self.limit, self.wait = limit, wait
        self._busy: dict[str, int] = {}
        self._congested: set[str] = set()
        self._freed = threading.Condition()

    def enter(self, code: str) -> bool:
        """Take a slot for ``code``; False when its calls already fill its share."""
        if self.limit is None:
            return True
        with self._freed:
            if self._busy.get(code, 0) >= self.limit:
                if code in self._congested or not self._freed.wait_for(
                        lambda: self._busy.get(code, 0) < self.limit, self.wait):
                    self._congested.add(code)
                    return False
            self._busy[code] = self._busy.get(code, 0) + 1
            return True

    def leave(self, code: str) -> None:
        """Give back a slot taken by :meth:`enter`."""
        if self.limit is None:
            return
        with self._freed:
            left = self._busy.get(code, 1) - 1
            if left:
                self._busy[code] = left
            else:
                self._busy.pop(code, None)
            self._congested.discard(code)
            self._freed.notify_all()

    def busy(self, code: str) -> int:
        """Calls of ``code`` in flight here."""
        return self._busy.get(code, 0)


def limit_for(config: dict) -> int | None:
    """The per-tenant bound: ``GATEWAY_TENANT_CALLS``, else the server's threads less one.

    ``SERVER_THREADS`` is set by :mod:`marketplace.server`; a server that starts a
    thread per request (the development server, test clients) needs no bound.
    """
    explicit = config.get("GATEWAY_TENANT_CALLS")
    if explicit:
        return max(1, int(explicit))
    threads = config.get("SERVER_THREADS")
    return max(1, int(threads) - 1) if threads else None
