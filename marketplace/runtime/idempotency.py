"""``Idempotency-Key`` on gateway calls: a reservation taken before the module runs (DESIGN §12).

The key of a jurisdiction is one row of ``idempotent_replies``. The first call
inserts it (``status`` NULL, held by the call's event id until a lease ends)
and commits that *before* the module runs, so the reservation holds across
worker processes and hosts. A concurrent call with the same key finds the row:
it waits (bounded) for the first call's reply and replays it, or answers 409
``idempotency_in_progress`` when the wait runs out. The first call settles the
row with its reply in the same transaction as its usage event, or frees the
key when its answer is worth retrying (429, 503, 504). A reservation whose call
died with its process is taken over once its lease is over.
"""
from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any, Callable

from marketplace.clock import now
from marketplace.errors import Conflict, MarketplaceError
from marketplace.runtime.commits import REPLAY_WINDOW

MIN_LEASE = timedelta(seconds=30)


def request_hash(target: str, raw: bytes) -> str:
    """What a key is bound to: the route called and the exact body."""
    return hashlib.sha256(target.encode() + b"\n" + raw).hexdigest()


def check_key(key: str) -> str:
    """The header's value, if it is one we keep."""
    if not key or len(key) > 200:
        raise MarketplaceError("invalid_idempotency_key",
                               "Idempotency-Key must be 1 to 200 characters")
    return key


def lease_for(timeout: float) -> timedelta:
    """How long a reservation holds its key: well past the call's own time limit."""
    return max(MIN_LEASE, timedelta(seconds=3 * timeout))


class Keys:
    """The key statements of one call on its connection (``commit`` commits a reservation now)."""

    def __init__(self, sql: Any, cursor: Any, commit: Callable, code: str, key: str,
                 digest: str) -> None:
        self.sql, self.cursor, self.commit = sql, cursor, commit
        self.where = {"code": code, "key": key}
        self.digest = digest

    def stored(self, replay: Callable[[int, str, dict], Any]) -> tuple[str, Any]:
        """("replay", answer) | ("mismatch", None) | ("running", None) | ("free", None)."""
        found = self.sql.find_reply.first(self.cursor, self.where)
        if found is None:
            return "free", None
        digest, status, body, headers, created_at, lease_until = found
        stamp = now()
        if stamp - created_at > REPLAY_WINDOW:
            return "free", None
        if status is None and (lease_until is None or lease_until < stamp):
            return "free", None                      # its call died: take it over
        if digest != self.digest:
            raise Conflict("idempotency_key_reused", "this Idempotency-Key was used for a "
                           "different request in the last 24 h; use a fresh key for a new request")
        if status is None:
            return "running", None
        return "replay", replay(status, body, headers or {})

    def claim(self, owner: str, lease: timedelta) -> bool:
        """Reserve the key for ``owner`` (committed); False when another call holds it."""
        stamp = now()
        values = {**self.where, "hash": self.digest, "owner": owner, "stamp": stamp,
                  "lease": stamp + lease, "cutoff": stamp - REPLAY_WINDOW}
        if self.commit(lambda cursor: self.sql.claim_key.execute(cursor, values).rowcount) == 1:
            return True
        return self.commit(lambda cursor: self.sql.take_over.execute(cursor, values).rowcount) == 1

    def settle(self, owner: str, status: int | None, body: str = "",
               headers: dict | None = None) -> dict:
        """The write that settles (``status``) or frees (None) the key with the call's event."""
        return {**self.where, "owner": owner, "status": status, "body": body,
                "headers": headers or {}, "stamp": now()}


def reserve_or_replay(keys: Keys, owner: str, lease: timedelta, wait: float,
                      replay: Callable[[int, str, dict], Any]) -> Any:
    """None once ``owner`` holds the key; else the first call's replayed answer.

    Waits at most ``wait`` seconds for a running first call, then 409
    ``idempotency_in_progress``.
    """
    deadline = time.monotonic() + wait
    pause = 0.01
    while True:
        state, answer = keys.stored(replay)
        if state == "replay":
            return answer
        if state == "free" and keys.claim(owner, lease):
            return None
        if time.monotonic() >= deadline:
            raise MarketplaceError("idempotency_in_progress", "a request with this "
                                   "Idempotency-Key is still running; retry in a moment to "
                                   "get its answer", status=409, retry_after=1)
        if state == "running":
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
