"""Delivering queued events: signed POSTs, retried with exponential backoff, every attempt logged.

Events are queued in the transaction that raised them (a gateway call never
waits for a receiver). :func:`deliver_due` sends what is due: the scheduler runs
``marketplace webhooks deliver`` every minute, and a serving process started with
``MARKETPLACE_WEBHOOK_WORKER=1`` also runs it in a background thread
(:func:`init_app`). A delivery is leased before it is sent, so several workers
never send one event twice at once. A 2xx answer delivers it; anything else
(another status, a redirect — never followed —, a timeout, a refused address)
is retried after 30 s, 1 min, 2 min … (doubling, at most 6 h) until
:data:`MAX_ATTEMPTS` attempts have failed. Times come from the platform clock.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from typing import Any, Callable

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.clock import now
from marketplace.webhooks import signing
from marketplace.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from marketplace.webhooks.service import WebhookError, check_url

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=6)
LEASE = timedelta(seconds=60)
TIMEOUT = (3.05, 5.0)               # connect, read (seconds)
BATCH = 50
USER_AGENT = "gov-module-marketplace-webhooks/1"

_D = WebhookDelivery


def backoff(failed_attempts: int) -> timedelta:
    """The wait after the ``failed_attempts``-th failure (30 s, 1 min, 2 min, … ≤ 6 h)."""
    return min(FIRST_DELAY * 2 ** (failed_attempts - 1), MAX_DELAY)


def post(url: str, body: bytes, headers: dict) -> int:
    """POST once, no redirects followed, short timeouts, no proxies; the status code."""
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(url, data=body, headers=headers, timeout=TIMEOUT,
                             allow_redirects=False, stream=True)
        response.close()
        return response.status_code


def _claim(session: Session, delivery_id: int) -> bool:
    stamp = now()
    claimed = session.execute(sa.update(_D).where(
        _D.id == delivery_id, _D.state == "pending",
        sa.or_(_D.lease_until.is_(None), _D.lease_until < stamp)).values(
        lease_until=stamp + LEASE)).rowcount == 1
    session.commit()
    return claimed


def _attempt(session: Session, item: WebhookDelivery, send: Callable) -> tuple[int | None, str | None]:
    endpoint = session.get(WebhookEndpoint, item.jurisdiction_code)
    if endpoint is None:
        return None, "no endpoint configured"
    try:
        url = check_url(endpoint.url)
    except WebhookError as exc:
        return None, exc.message[:300]
    body = item.body.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               signing.HEADER: signing.sign(endpoint.secret, int(now().timestamp()), body),
               "Marketplace-Event": item.type, "Marketplace-Delivery": item.event_id}
    try:
        return send(url, body, headers), None
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]


def deliver_one(session: Session, delivery_id: int, send: Callable = post) -> str | None:
    """Try one due delivery (leased first); its new state, or None if another worker has it."""
    if not _claim(session, delivery_id):
        return None
    item = session.get(WebhookDelivery, delivery_id)
    started = time.perf_counter()
    status, error = _attempt(session, item, send)
    stamp = now()
    if status is not None and not 200 <= status < 300:
        error = f"answered {status}" + (" (redirects are not followed)" if 300 <= status < 400
                                        else "")
    session.add(WebhookAttempt(delivery_id=item.id, attempted_at=stamp, status_code=status,
                               error=error, duration_ms=int((time.perf_counter() - started) * 1000)))
    item.attempts += 1
    item.last_status, item.last_error, item.lease_until = status, error, None
    if error is None:
        item.state, item.delivered_at, item.next_attempt_at = "delivered", stamp, None
    elif item.attempts >= MAX_ATTEMPTS:
        item.state, item.next_attempt_at = "failed", None
    else:
        item.next_attempt_at = stamp + backoff(item.attempts)
    session.commit()
    return item.state


def deliver_due(session: Session, send: Callable = post, limit: int = BATCH) -> dict[str, int]:
    """Send every delivery due by the platform clock (at most ``limit``); counts by outcome."""
    stamp = now()
    due = list(session.scalars(sa.select(_D.id).where(
        _D.state == "pending", _D.next_attempt_at <= stamp,
        sa.or_(_D.lease_until.is_(None), _D.lease_until < stamp))
        .order_by(_D.next_attempt_at, _D.id).limit(limit)))
    session.commit()
    counts = {"delivered": 0, "pending": 0, "failed": 0}
    for delivery_id in due:
        state = deliver_one(session, delivery_id, send)
        if state is not None:
            counts[state] += 1
    return counts


class Worker(threading.Thread):
    """The serving process's background sender (MARKETPLACE_WEBHOOK_WORKER=1)."""

    def __init__(self, app: Any, every: float) -> None:
        super().__init__(name="webhook-worker", daemon=True)
        self.app, self.every = app, every

    def run(self) -> None:
        from marketplace import db

        while True:
            try:
                with self.app.app_context():
                    deliver_due(db.session())
            except Exception:  # noqa: BLE001 - the next round tries again
                log.warning("webhook delivery round failed", exc_info=True)
            time.sleep(self.every)


_started: dict[int, Worker] = {}


def init_app(app: Any) -> None:
    """Start the background sender in each serving process (after a fork too), if enabled."""
    if (os.environ.get("MARKETPLACE_WEBHOOK_WORKER") or "").strip() not in ("1", "true", "yes"):
        return

    @app.before_request
    def _ensure_worker() -> None:
        pid = os.getpid()
        if pid not in _started:
            _started[pid] = Worker(app, 5.0)
            _started[pid].start()
