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
        "PLATFORM_FEE_BPS": int(env.get("MARKETPLACE_PLATFORM_FEE_BPS") or 0),
        "NETTING": _flag(env.get("MARKETPLACE_NETTING"), False),
        "QUOTA_PER_MINUTE": int(env.get("MARKETPLACE_QUOTA_PER_MINUTE") or 600),
        "INVOKE_TIMEOUT": float(env.get("MARKETPLACE_INVOKE_TIMEOUT") or 5.0),
        "SANDBOX": env.get("MARKETPLACE_SANDBOX") or "process",         # or "thread" (debugging)
        "SANDBOX_PROCESSES": int(env.get("MARKETPLACE_SANDBOX_PROCESSES") or 4),
        "SANDBOX_MEMORY_MB": int(env.get("MARKETPLACE_SANDBOX_MEMORY_MB") or 512),
        "PUBLISH_CHECKS": int(env.get("MARKETPLACE_PUBLISH_CHECKS") or 1),   # per process
        # gateway calls in flight per jurisdiction and worker (default: server threads - 1)
        "GATEWAY_TENANT_CALLS": int(env.get("MARKETPLACE_GATEWAY_TENANT_CALLS") or 0) or None,
        "SESSION_COOKIE_SECURE": _flag(env.get("MARKETPLACE_SECURE_COOKIES"), False),
        # proxies in front whose X-Forwarded-For/-Proto are believed (0: the socket peer)
        "TRUSTED_PROXY_HOPS": int(env.get("MARKETPLACE_TRUSTED_PROXY_HOPS") or 0),
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
