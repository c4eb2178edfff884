"""Stripe-style signatures of outgoing webhooks: ``Marketplace-Signature: t=…,v1=…``.

``v1`` is the hex HMAC-SHA256, keyed by the endpoint's secret, of
``"{t}.{body}"`` where ``t`` is the Unix time of the attempt and ``body`` the
exact bytes sent. A receiver recomputes it, compares in constant time and
refuses timestamps older than its tolerance (replays).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

HEADER = "Marketplace-Signature"
SECRET_PREFIX = "whsec_"
TOLERANCE = 300             # seconds a receiver should accept a timestamp either side of now
_PART = re.compile(r"(t|v1)=([0-9a-f]{1,64}|[0-9]{1,12})")


def new_secret() -> str:
    """A fresh signing secret (shown once when the endpoint is configured)."""
    return SECRET_PREFIX + secrets.token_hex(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` of ``now``."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        match = _PART.fullmatch(item.strip())
        if match is None:
            return False
        parts.setdefault(match.group(1), []).append(match.group(2))
    if len(parts.get("t", [])) != 1 or not parts.get("v1") or not parts["t"][0].isdigit():
        return False
    timestamp = int(parts["t"][0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, given) for given in parts["v1"])
