"""Configuration from the environment (DESIGN §9), with sane defaults."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

TRUE = {"1", "true", "yes", "on"}


def _flag(value: str | None, default: bool) -> bool:
    """Read an on/off environment value."""
    if value is None or value == "":
        return default
    return value.strip().lower() in TRUE


def _number(name: str, default, kind: type = int, low: float = 0, high: float = 2**31 - 1):
    """``MARKETPLACE_<name>`` as an int (or float) in [low, high]; ValueError naming the variable."""
    raw = (os.environ.get(f"MARKETPLACE_{name}") or "").strip()
    if not raw:
        return default
    try:
        value = kind(raw) if len(raw) <= 32 else None
    except ValueError:
        value = None
    if value is None or value != value or not low <= value <= high:   # value != value: NaN
        whole = "a whole number" if kind is int else "a number"
        raise ValueError(f"MARKETPLACE_{name}={raw[:40]!r} is not valid: set it to {whole} "
                         f"from {low} to {high} (or unset it for the default {default})")
    return value


def from_environment(instance_path: str) -> dict:
    """Build the config mapping from ``MARKETPLACE_*`` and ``STRIPE_*`` variables."""
    env = os.environ
    instance = Path(instance_path)
    default_db = f"sqlite:///{instance / 'marketplace.db'}"
    secret = env.get("MARKETPLACE_SECRET_KEY") or _instance_secret(instance)
    return {
        "SECRET_KEY": secret,
        "DATABASE_URL": env.get("MARKETPLACE_DATABASE_URL") or default_db,
        "TIMEZONE": env.get("MARKETPLACE_TIMEZONE") or "Asia/Shanghai",
        "REQUIRE_REVIEW": _flag(env.get("MARKETPLACE_REQUIRE_REVIEW"), True),
        "SETTLEMENT_PROVIDER": env.get("MARKETPLACE_SETTLEMENT_PROVIDER") or "ledger",
        "STRIPE_API_KEY": env.get("STRIPE_API_KEY") or "",
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or "https://api.stripe.com",
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or "",
        "ARTIFACT_DIR": env.get("MARKETPLACE_ARTIFACT_DIR") or str(instance / "artifacts"),
        # file:///path (default: ARTIFACT_DIR), db, or s3://bucket/prefix (DESIGN §16)
        "ARTIFACT_STORE": env.get("MARKETPLACE_ARTIFACT_STORE") or "",
        "S3_ENDPOINT": env.get("MARKETPLACE_S3_ENDPOINT") or "",
        # /metrics without an admin token from these addresses (comma-separated)
        "METRICS_ALLOW": env.get("MARKETPLACE_METRICS_ALLOW") or "",
        "REQUEST_LOG": _flag(env.get("MARKETPLACE_REQUEST_LOG"), True),
        "NOW": env.get("MARKETPLACE_NOW") or "",
        "PLATFORM_FEE_BPS": _number("PLATFORM_FEE_BPS", 0, high=10_000),
        # DESIGN §15: late usage accepted this many days after a period ends; disputes window
        "GRACE_DAYS": _number("GRACE_DAYS", 0, high=366),
        "DISPUTE_DAYS": _number("DISPUTE_DAYS", 30, high=3660),
        # owners' days to answer a dispute; after them an admin may resolve it unanswered
        "DISPUTE_ANSWER_DAYS": _number("DISPUTE_ANSWER_DAYS", 14, high=3660),
        "NETTING": _flag(env.get("MARKETPLACE_NETTING"), False),
        "QUOTA_PER_MINUTE": _number("QUOTA_PER_MINUTE", 600),
        "INVOKE_TIMEOUT": _number("INVOKE_TIMEOUT", 5.0, float, 0.001, 3600),
        "SANDBOX": env.get("MARKETPLACE_SANDBOX") or "process",         # or "thread" (debugging)
        "SANDBOX_PROCESSES": _number("SANDBOX_PROCESSES", 4, low=1, high=256),
        "SANDBOX_MEMORY_MB": _number("SANDBOX_MEMORY_MB", 512, low=1, high=1_048_576),
        "PUBLISH_CHECKS": _number("PUBLISH_CHECKS", 1, low=1, high=256),   # per process
        # gateway calls in flight per jurisdiction and worker (default: server threads - 1)
        "GATEWAY_TENANT_CALLS": _number("GATEWAY_TENANT_CALLS", 0, high=10_000) or None,
        "SESSION_COOKIE_SECURE": _flag(env.get("MARKETPLACE_SECURE_COOKIES"), False),
        # a console login lasts this long at most (then the clerk logs in again)
        "LOGIN_SESSION_HOURS": _number("LOGIN_SESSION_HOURS", 12, float, 0.01, 24 * 90),
        # proxies in front whose X-Forwarded-For/-Proto are believed (0: the socket peer)
        "TRUSTED_PROXY_HOPS": _number("TRUSTED_PROXY_HOPS", 0, high=64),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "MAX_CONTENT_LENGTH": 12 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": env.get("MARKETPLACE_TIMEZONE") or "Asia/Shanghai",
    }


def _instance_secret(instance: Path) -> str:
    """A secret key kept in the instance folder so every worker shares it."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}")
        tmp.write_text(secrets.token_hex(32))
        os.replace(tmp, path) if not path.exists() else tmp.unlink()
    return path.read_text().strip()
