"""Concurrency proofs against the served app: N client threads x M real gunicorn workers.

The app runs under ``marketplace.server.serve`` (gthread workers, as in
production) on the test's own database through the ``live_server`` fixture of
the security suite, re-exported here: a test module that does
``from tests.support.concurrency import hammer, live_server`` can use both.
:func:`hammer` releases N requests at once (a barrier) from N threads, each on
its own connection, and returns every final answer. A ``too_many_concurrent_calls``
answer (the fair share's refusal: the call was neither run nor metered) is sent
again after a pause, so counts of module runs and quota grants stay exact.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import requests

from tests.security.conftest import LiveServer, live_server  # noqa: F401 - fixture re-exported

Send = Callable[[requests.Session, int], requests.Response]


def refused_for_fair_share(answer: requests.Response) -> bool:
    """Whether ``answer`` is the gateway's per-tenant refusal (nothing was run)."""
    if answer.status_code != 429:
        return False
    try:
        return answer.json().get("error") == "too_many_concurrent_calls"
    except ValueError:
        return False


def hammer(n: int, send: Send, patience: float = 60.0, retry_fair_share: bool = True
           ) -> list[requests.Response]:
    """``send(session, i)`` for i in 0..n-1, all at once from n threads; the final answers."""
    barrier = threading.Barrier(n)

    def one(index: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait(30)
            deadline = time.monotonic() + patience
            while True:
                answer = send(session, index)
                if not (retry_fair_share and refused_for_fair_share(answer)) \
                        or time.monotonic() > deadline:
                    return answer
                time.sleep(0.05)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def invoke(server: LiveServer, headers: dict, module: str, operation: str, payload: dict,
           timeout: float = 60.0) -> Send:
    """A ``send`` posting ``payload`` to the served gateway."""
    url = f"{server.url}/api/v1/invoke/{module}/{operation}"

    def send(session: requests.Session, _index: int) -> requests.Response:
        return session.post(url, json=payload, headers=headers, timeout=timeout)
    return send


def pool_one_larger_than(app, threads: int) -> None:
    """Give ``app``'s engine a pool of ``threads`` + 1 connections that waits 5 s at most.

    Each calling thread keeps one connection and may borrow one more that it gives back
    before waiting on anything: on this pool a call waiting for a second connection while
    holding one times out (500) instead of hiding behind the default pool's spare ones.
    """
    import sqlalchemy as sa

    engine = app.extensions["db"].engine
    engine.pool = sa.pool.QueuePool(engine.pool._creator, pool_size=threads + 1, max_overflow=0,
                                    timeout=5)
