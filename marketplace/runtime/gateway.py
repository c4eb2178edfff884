"""The metered gateway (DESIGN §5): ``POST /api/v1/invoke/{module}/{operation}``.

Hot path, written for speed on one pooled DBAPI connection: the route comes
from the per-process cache (:mod:`~marketplace.runtime.routes`), confirmed by
one primary-key read of the route generation and the quota counter; the module
runs in a sandbox process with a time limit; then the usage event, the counter
bump (and an idempotent reply) are written and committed before the answer.
Every call that reaches an installation writes exactly one usage event.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time

from flask import Blueprint, Response, current_app, g, request

from marketplace.accounts.auth import require
from marketplace.catalog.store import store_for
from marketplace.clock import now
from marketplace.errors import Conflict, MarketplaceError
from marketplace.metering.service import call_event
from marketplace.runtime import loader
from marketplace.runtime.commits import REPLAY_WINDOW, CallWrite, event_id
from marketplace.runtime.routes import Route, RouteCache
from marketplace.sdk import Context, JurisdictionRef, ModuleError

log = logging.getLogger(__name__)
bp = Blueprint("gateway", __name__, url_prefix="/api/v1/invoke")

REPLAYABLE = {200, 422, 502}        # settled answers; 429/504 are worth retrying for real


def _json(status: int, body: dict | bytes | str, headers: dict | None = None) -> Response:
    """A JSON response without Flask's jsonify overhead."""
    if isinstance(body, dict):
        body = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status, headers, mimetype="application/json")


def _store():
    """The artifact store of this app (built once)."""
    store = current_app.extensions.get("artifact_store")
    if store is None:
        store = current_app.extensions["artifact_store"] = store_for(current_app.config)
    return store


@bp.post("/<module>/<operation>")
@require("invoke")
def invoke(module: str, operation: str):
    """Call ``operation`` of the caller's installation of ``module``."""
    return _invoke(operation, module=module)


@bp.post("/interface/<interface>/<operation>")
@require("invoke")
def invoke_interface(interface: str, operation: str):
    """Call ``operation`` on whichever installed module implements ``interface``."""
    return _invoke(operation, interface=interface)


def _routes() -> RouteCache:
    """This app's route cache in this process."""
    cache = current_app.extensions.get("gateway_routes")
    if cache is None:
        cache = current_app.extensions["gateway_routes"] = RouteCache(
            current_app.extensions["db"].engine, _store)
    return cache


class _Reconnect(Exception):
    """The kept connection was found dead by the call's first reads: retry on a new one."""


def _unavailable() -> MarketplaceError:
    return MarketplaceError("database_unavailable", "the database connection was lost during "
                            "the call; retry it (with an Idempotency-Key to be safe)", status=503)


def _invoke(operation: str, module: str | None = None, interface: str | None = None) -> Response:
    routes = _routes()
    raw = request.get_data(cache=False)           # read once: a retry must see it too
    for may_retry in (True, False):
        connection = routes.connection()
        try:
            return _invoke_on(routes, connection, g.principal, raw, operation, module,
                              interface, may_retry)
        except _Reconnect:
            routes.discard(connection)
        finally:
            routes.release(connection)
    raise AssertionError("unreachable: the second attempt never raises _Reconnect")


def _invoke_on(routes: RouteCache, connection, principal, raw: bytes, operation: str,
               module: str | None, interface: str | None, may_retry: bool) -> Response:
    """The call on one DBAPI connection (its writes committed by ``routes.commits``).

    A connection lost before the module runs is retried once (nothing was done
    yet); lost later, the call answers 503 and the connection is dropped.
    """
    key = request.headers.get("Idempotency-Key")
    digest = None
    code = principal.jurisdiction_code
    if key is not None:
        if not key or len(key) > 200:
            raise MarketplaceError("invalid_idempotency_key",
                                   "Idempotency-Key must be 1 to 200 characters")
        target = f"{'interface/' + interface if interface else module}/{operation}\n"
        digest = hashlib.sha256(target.encode() + raw).hexdigest()
    try:
        cursor = connection.cursor()
        replay = _replay(routes, cursor, code, key, digest) if key is not None else None
        if replay is not None:
            return replay
        route, minute, calls = routes.resolve(cursor, code, interface or module, operation,
                                              interface is not None)
    except routes.disconnected as exc:
        if may_retry:
            raise _Reconnect() from exc
        routes.discard(connection)
        raise _unavailable() from exc
    call = _Call(routes, connection, route, operation, code, key, digest)
    try:
        return call.run(raw, minute, calls)
    except routes.disconnected as exc:
        routes.discard(connection)
        raise _unavailable() from exc


def _replay(routes: RouteCache, cursor, code: str, key: str, digest: str) -> Response | None:
    """The stored first answer for this key, a 409 for a reused key, or None."""
    found = routes.sql.find_reply.first(cursor, {"code": code, "key": key})
    if found is None:
        return None
    request_hash, status, body, headers, created_at = found
    if now() - created_at > REPLAY_WINDOW:
        return None
    if request_hash != digest:
        raise Conflict("idempotency_key_reused", "this Idempotency-Key was used for a different "
                       "request in the last 24 h; use a fresh key for a new request")
    return _json(status, body, {**(headers or {}), "Idempotent-Replayed": "true"})


class _Call:
    """One metered call of a routed operation."""

    def __init__(self, routes: RouteCache, connection, route: Route, operation: str,
                 code: str, key: str | None, digest: str | None) -> None:
        self.routes, self.connection = routes, connection
        self.route, self.operation, self.code = route, operation, code
        self.key, self.digest = key, digest
        self.event_id = event_id()
        self.started = time.perf_counter()
        self.minute = int(time.time() // 60)

    def run(self, raw: bytes, minute: int | None, calls: int | None) -> Response:
        """Validate, check the quota, call the module, meter, answer."""
        route = self.route
        config = current_app.config
        try:
            payload = json.loads(raw) if raw else None
        except ValueError as exc:
            return self.finish(422, {"error": "invalid_input", "message": "the body is not JSON",
                                     "details": [{"where": "body", "message": str(exc)}]},
                               "rejected")
        problems = route.check_input(payload)
        if problems:
            return self.finish(422, {"error": "invalid_input", "message": "the input does not "
                                     f"match the input schema of {self.operation}",
                                     "details": problems}, "rejected")
        limit = route.quota_per_minute or config["QUOTA_PER_MINUTE"]
        used = calls if minute == self.minute else 0
        if used >= limit:
            return self.finish(429, {"error": "quota_exceeded", "message": f"quota of {limit} "
                                     "calls per minute used up; retry in the next minute"},
                               "rejected", extra={"Retry-After": str(60 - int(time.time()) % 60)})
        ctx = Context(jurisdiction=JurisdictionRef(self.code, route.jurisdiction_name),
                      installation_id=route.id, config=route.config or {},
                      request_id=self.event_id, module=route.module, version=route.version)
        try:
            hook = getattr(self.routes.manager(route).hook, self.operation)
            output = loader.call_with_limit(route.id, config["INVOKE_TIMEOUT"], hook,
                                            payload=payload, context=ctx)
        except loader.ModuleTimeout as exc:
            return self.finish(504, {"error": "timeout", "message": f"{route.module} "
                                     f"{route.version} did not answer in time ({exc})"}, "error",
                               counted=not isinstance(exc, loader.ModuleBusy))
        except ModuleError as exc:
            return self.finish(422, {"error": "module_error", "reason": exc.reason,
                                     "message": exc.message}, "rejected", counted=True)
        except BaseException as exc:  # noqa: BLE001 - a broken module must never break the gateway
            log.warning("module %s %s failed on %s", route.module, route.version, self.operation,
                        exc_info=True)
            return self.finish(502, {"error": "module_error", "message": f"{route.module} "
                                     f"{route.version} failed: {type(exc).__name__}: {exc}"},
                               "error", counted=True)
        try:
            body = json.dumps(output, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            problems = [{"where": "(root)", "message": f"not JSON: {exc}"}]
        else:
            problems = route.check_output(output)
        if problems:
            return self.finish(502, {"error": "module_error", "message": f"{route.module} "
                                     f"{route.version} returned output that breaks its schema",
                                     "details": problems}, "error", counted=True)
        return self.finish(200, body, "ok", counted=True, units=route.units)

    def finish(self, status: int, body: dict | str, event_status: str, units: int = 0,
               counted: bool = False, extra: dict | None = None) -> Response:
        """Commit the call's usage event (and counter, and idempotent reply); then answer."""
        if isinstance(body, dict):
            body = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        headers = {"X-Usage-Event": self.event_id, "X-Usage-Units": str(units)}
        item = CallWrite(call_event(
            installation_id=self.route.id, event_id=self.event_id, operation=self.operation,
            units=units, status=event_status,
            duration_ms=int((time.perf_counter() - self.started) * 1000)))
        if counted:
            item.bump = (self.route.id, self.minute)
        if self.key is not None and status in REPLAYABLE:
            stamp = now()                                # an expired reply frees its key
            item.reply = {"jurisdiction_code": self.code, "key": self.key,
                          "request_hash": self.digest, "status": status, "body": body,
                          "headers": headers, "created_at": stamp,
                          "cutoff": stamp - REPLAY_WINDOW}
        self.routes.commits.write(self.connection, item)
        return _json(status, body, {**headers, **(extra or {})})
