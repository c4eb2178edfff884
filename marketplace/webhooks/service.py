"""A jurisdiction's webhook endpoint: set (with a new secret, shown once), read, remove, log.

Rules for the URL (DESIGN §12): ``http`` or ``https`` only, at most
:data:`MAX_URL` characters, no user or password in it, and a host that resolves
only to public addresses — private, loopback, link-local, multicast and reserved
ones are refused (the marketplace must not be turned against its own network)
unless ``MARKETPLACE_WEBHOOK_ALLOW_PRIVATE`` is set (tests, the demo, a closed
government network). The check runs when the URL is set and again before every
delivery attempt.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.accounts.service import audit
from marketplace.clock import now
from marketplace.errors import MarketplaceError, NotFound
from marketplace.runtime.service import _actor
from marketplace.webhooks import signing
from marketplace.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

MAX_URL = 2000
EVENT_TYPES = ("budget.warning",)


class WebhookError(MarketplaceError):
    """A webhook URL or request we cannot accept."""


def allow_private() -> bool:
    """Whether private and loopback destinations are allowed (MARKETPLACE_WEBHOOK_ALLOW_PRIVATE)."""
    return (os.environ.get("MARKETPLACE_WEBHOOK_ALLOW_PRIVATE") or "").strip().lower() in (
        "1", "true", "yes", "on")


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: Any, resolve=socket.getaddrinfo) -> str:
    """``url`` when it may receive webhooks; WebhookError saying why not."""
    if not isinstance(url, str) or not url:
        raise WebhookError("invalid_url", 'send {"url": "https://…"}, the address that receives '
                           "the marketplace's events")
    if len(url) > MAX_URL:
        raise WebhookError("invalid_url", f"the URL is too long: at most {MAX_URL} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise WebhookError("invalid_url", "the URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookError("invalid_url", f"the URL cannot be read: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("invalid_url", "use an http:// or https:// URL with a host name")
    if parts.username is not None or parts.password is not None:
        raise WebhookError("invalid_url", "put no user name or password in the URL: requests "
                           "are signed (Marketplace-Signature) instead")
    if not allow_private():
        try:
            found = resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                            type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise WebhookError("invalid_url", f"the host {parts.hostname[:100]!r} cannot be "
                               "resolved") from None
        if not found or not all(_public(item[4][0]) for item in found):
            raise WebhookError("private_address", f"{parts.hostname[:100]} resolves to a private, "
                               "loopback or reserved address; webhooks go to public addresses "
                               "only (an operator may allow private ones with "
                               "MARKETPLACE_WEBHOOK_ALLOW_PRIVATE)")
    return url


def endpoint_json(item: WebhookEndpoint, secret: str | None = None) -> dict:
    """The endpoint as the API shows it: the secret only right after it was made."""
    body = {"jurisdiction": item.jurisdiction_code, "url": item.url, "events": list(EVENT_TYPES),
            "signature_header": signing.HEADER, "created_at": item.created_at.isoformat(),
            "secret_hint": item.secret[:len(signing.SECRET_PREFIX) + 4] + "…"}
    if secret is not None:
        body["secret"] = secret
    return body


def configure(session: Session, who: Any, url: Any) -> tuple[WebhookEndpoint, str]:
    """Set the jurisdiction's endpoint with a fresh secret; (endpoint, secret to show once)."""
    url = check_url(url)
    code = who.jurisdiction_code
    item = session.get(WebhookEndpoint, code)
    if item is None:
        item = WebhookEndpoint(jurisdiction_code=code)
        session.add(item)
    secret = signing.new_secret()
    item.url, item.secret, item.created_at = url, secret, now()
    item.set_by = getattr(who, "user_id", None)
    session.flush()
    audit(session, _actor(session, who), "webhook.set", f"jurisdiction {code}", url=url)
    return item, secret


def endpoint(session: Session, code: str) -> WebhookEndpoint:
    """The jurisdiction's endpoint, or 404 ``webhook_not_configured``."""
    item = session.get(WebhookEndpoint, code)
    if item is None:
        raise NotFound("webhook_not_configured", f"{code} has no webhook endpoint; set one with "
                       'PUT /api/v1/webhooks {"url": "https://…"}')
    return item


def remove(session: Session, who: Any) -> None:
    """Remove the endpoint; events still queued for it are dropped as failed."""
    item = endpoint(session, who.jurisdiction_code)
    session.execute(sa.update(WebhookDelivery).where(
        WebhookDelivery.jurisdiction_code == item.jurisdiction_code,
        WebhookDelivery.state == "pending").values(state="failed", next_attempt_at=None,
                                                   last_error="endpoint removed"))
    session.delete(item)
    audit(session, _actor(session, who), "webhook.remove", f"jurisdiction {item.jurisdiction_code}")


def deliveries(session: Session, code: str, limit: int = 50) -> list[dict]:
    """The newest deliveries of ``code`` with every attempt (the delivery log)."""
    items = list(session.scalars(sa.select(WebhookDelivery).where(
        WebhookDelivery.jurisdiction_code == code).order_by(WebhookDelivery.id.desc()).limit(limit)))
    tries: dict[int, list[dict]] = {}
    if items:
        for attempt in session.scalars(sa.select(WebhookAttempt).where(
                WebhookAttempt.delivery_id.in_([d.id for d in items])).order_by(WebhookAttempt.id)):
            tries.setdefault(attempt.delivery_id, []).append({
                "at": attempt.attempted_at.isoformat(), "status_code": attempt.status_code,
                "error": attempt.error, "duration_ms": attempt.duration_ms})
    return [{"id": d.id, "event": d.event_id, "type": d.type, "state": d.state,
             "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
             "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
             "created_at": d.created_at.isoformat(),
             "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
             "log": tries.get(d.id, [])} for d in items]
