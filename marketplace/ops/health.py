"""Liveness and readiness (DESIGN §16): ``/healthz`` and ``/readyz``, 200 or 503 JSON."""
from __future__ import annotations

import functools
import subprocess
import threading
import time

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from marketplace.catalog.stores import store_for

bp = Blueprint("ops_health", __name__)
SANDBOX_OK_FOR = 30.0        # seconds a sandbox that started is believed (it costs ~0.1 s)
_sandbox_ok_until = 0.0
_sandbox_lock = threading.Lock()


@bp.get("/healthz")
def healthz():
    """The process answers."""
    return jsonify({"status": "alive"})


@bp.get("/readyz")
def readyz():
    """Database reachable and migrated, artifact store reachable, a sandbox starts."""
    checks: dict[str, str] = {}
    for name, check in (("database", _database), ("artifact_store", _store),
                        ("sandbox", _sandbox)):
        try:
            checks[name] = check() or "ok"
        except Exception as exc:  # noqa: BLE001 - every failure is a reason not to be ready
            checks[name] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}" \
                if str(exc) else f"failed: {type(exc).__name__}"
    failed = [name for name, state in checks.items() if state.startswith("failed")]
    if failed:
        return jsonify({"error": "not_ready", "message": "not ready: " + ", ".join(
            f"{name} {checks[name]}" for name in failed), "checks": checks}), 503
    return jsonify({"status": "ready", "checks": checks})


@functools.lru_cache(maxsize=8)
def _heads(url: str) -> frozenset[str]:
    """The migration heads this code expects."""
    from alembic.script import ScriptDirectory

    from marketplace.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def _database() -> str | None:
    """The database answers and is at the code's migration head."""
    engine = current_app.extensions["db"].engine
    with engine.connect() as conn:
        found = set(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))
    wanted = _heads(current_app.config["DATABASE_URL"])
    if found != wanted:
        raise RuntimeError(f"schema at {sorted(found) or 'nothing'}, code wants "
                           f"{sorted(wanted)}: run `marketplace db upgrade`")
    return None


def _store() -> str:
    """The configured artifact store answers."""
    store = store_for(current_app.config)
    store.check()
    return f"ok ({store.kind})"


def _sandbox() -> str | None:
    """A sandbox process starts and ends cleanly (remembered for a while once it did)."""
    global _sandbox_ok_until
    config = current_app.config
    if config.get("SANDBOX", "process") != "process":
        return "ok (thread mode: no sandbox processes)"
    if time.monotonic() < _sandbox_ok_until:
        return None
    with _sandbox_lock:
        if time.monotonic() >= _sandbox_ok_until:
            from marketplace.runtime import loader, sandbox

            box = sandbox.Sandbox(loader._cache_root(), int(config.get("SANDBOX_MEMORY_MB", 512)))
            try:
                box.proc.stdin.close()                  # EOF: a healthy sandbox exits 0
                code = box.proc.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            finally:
                box.kill()
            if code != 0:
                raise RuntimeError(f"a sandbox process did not start cleanly (exit {code})")
            _sandbox_ok_until = time.monotonic() + SANDBOX_OK_FOR
    return None
