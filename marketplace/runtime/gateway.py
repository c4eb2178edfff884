"""The metered gateway (DESIGN §5, §12): ``POST /api/v1/invoke/{module}/{operation}``.

Hot path, written for speed on one pooled DBAPI connection: the body is parsed
strictly (:mod:`marketplace.jsonio`; JSON we cannot accept is a 400 before
anything is metered); the route comes from the per-process cache
(:mod:`~marketplace.runtime.routes`), confirmed by one primary-key read of the
route generation. What must hold across workers and hosts is reserved and
committed *before* the module runs: the ``Idempotency-Key``
(:mod:`~marketplace.runtime.idempotency`) and one call of the quota (one
conditional upsert). The module runs in a sandbox process with a time limit;
then the usage event (with the key's reply, or a grant given back) is
group-committed before the answer. Every call that reaches an installation
writes exactly one usage event; a tenant's calls in flight per process are
bounded (:mod:`~marketplace.runtime.fairshare`).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

from flask import Blueprint, Response, current_app, g, request

from marketplace import db, jsonio
from marketplace.accounts import auth
from marketplace.accounts.auth import require
from marketplace.catalog.store import store_for
from marketplace.clock import now
from marketplace.errors import MarketplaceError
from marketplace.metering.models import derive_period_day
from marketplace.metering.service import call_event
from marketplace.ops.metrics import observe_call
from marketplace.runtime import budgets, compose, fairshare, idempotency, loader
from marketplace.runtime.commits import CallWrite, event_id
from marketplace.runtime.invocation import minute_now
from marketplace.runtime.routes import Route, RouteCache
from marketplace.sdk import Context, JurisdictionRef, ModuleError

log = logging.getLogger(__name__)
bp = Blueprint("gateway", __name__, url_prefix="/api/v1/invoke")

REPLAYABLE = {200, 422, 502}        # settled answers; 429/503/504 are worth retrying for real


def _text(body: dict) -> str:
    """One of our own JSON bodies as text."""
    try:
        return jsonio.dumps(body)
    except ValueError:              # text from module code we could not write as UTF-8
        return json.dumps(body, separators=(",", ":"))


def _json(status: int, body: dict | bytes | str, headers: dict | None = None) -> Response:
    """A JSON response without Flask's jsonify overhead."""
    return Response(_text(body) if isinstance(body, dict) else body, status, headers,
                    mimetype="application/json")


def _retry_after() -> str:
    """Seconds until the quota's next minute (by the platform clock)."""
    return str(60 - int(now().timestamp()) % 60)


def _store():
    """The artifact store of this app (built once)."""
    store = current_app.extensions.get("artifact_store")
    if store is None:
        store = current_app.extensions["artifact_store"] = store_for(current_app.config)
    return store


@bp.post("/<module>/<operation>")
@require("invoke", deferred=True)
def invoke(module: str, operation: str):
    """Call ``operation`` of the caller's installation of ``module``."""
    return _invoke(operation, module=module)


@bp.post("/interface/<interface>/<operation>")
@require("invoke", deferred=True)
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


def tenant_slots() -> fairshare.TenantSlots:
    """This app's per-tenant bound of calls in flight in this process."""
    slots = current_app.extensions.get("gateway_slots")
    if slots is None:
        slots = current_app.extensions["gateway_slots"] = fairshare.TenantSlots(
            fairshare.limit_for(current_app.config))
    return slots


def too_many_concurrent_calls(code: str, running: int) -> Response:
    """429 for a call beyond its tenant's share of this process's threads (not run, not metered)."""
    return _json(429, {"error": "too_many_concurrent_calls", "message": f"{code} already has "
                       f"{running} calls running here; wait for one to end, then retry (this "
                       "call was neither run nor billed)"}, {"Retry-After": "1"})


class _Reconnect(Exception):
    """The kept connection was found dead by the call's first reads: retry on a new one."""


def _unavailable() -> MarketplaceError:
    return MarketplaceError("database_unavailable", "the database connection was lost during "
                            "the call; retry it (with an Idempotency-Key to be safe)", status=503)


class _Restart(Exception):
    """The caller's remembered token was found stale: start the call over as ``principal``."""

    def __init__(self, principal) -> None:
        super().__init__("the token was authenticated again")
        self.principal = principal


def _confirming(routes: RouteCache, cursor: Any) -> Callable[[int | None], None]:
    """``confirm(generation)``: a deferred token (``require(deferred=True)``) holds at the
    route generation the call has just read (None: read it now), or :class:`_Restart`.

    The gateway's first read returns the generation anyway, so a remembered token
    costs the call no read of its own; a revoked one is refused (401) before
    anything is answered, metered or replayed.
    """
    def confirm(generation: int | None) -> None:
        if not auth.unconfirmed():
            return
        if generation is None:
            generation = routes.sql.generation.first(cursor, {})[0]
        fresh = auth.confirm_token(generation)
        if fresh is not None:
            raise _Restart(auth.check_scopes(fresh, invoke.allowed_scopes, invoke.scope_refusal))
    return confirm


def _confirm_now() -> None:
    """Confirm a deferred token with a read of its own (for answers given before the call reads)."""
    if not auth.unconfirmed():
        return
    routes = _routes()
    connection = routes.connection()
    try:
        _confirming(routes, connection.cursor())(None)
    except routes.disconnected as exc:
        routes.discard(connection)
        raise _unavailable() from exc
    except _Restart:                # still a valid token: the answer stands
        pass
    finally:
        routes.release(connection)


def _invoke(operation: str, module: str | None = None, interface: str | None = None) -> Response:
    try:
        raw = request.get_data(cache=False)           # read once: a retry must see it too
        payload = jsonio.loads(raw, "body") if raw else None
        return invoke_as(g.principal, raw, payload, operation, module=module,
                         interface=interface, key=request.headers.get("Idempotency-Key"))
    except Exception:
        _confirm_now()              # no refusal leaves before the caller's token is confirmed
        raise


def invoke_as(principal, raw: bytes, payload, operation: str, module: str | None = None,
              interface: str | None = None, key: str | None = None) -> Response:
    """One metered call of ``operation`` for ``principal``: the API's and the console's one path.

    Under the tenant's share of threads, on this thread's kept connection (the
    request's session is given back first), retried once on a connection found
    dead before the module ran; ``key`` is the call's ``Idempotency-Key``. A
    remembered token found stale by the call's first read starts it over as the
    principal authenticated afresh.
    """
    try:
        return _invoke_as(principal, raw, payload, operation, module, interface, key)
    except _Restart as restart:
        return _invoke_as(restart.principal, raw, payload, operation, module, interface, key)


def _invoke_as(principal, raw: bytes, payload, operation: str, module: str | None,
               interface: str | None, key: str | None) -> Response:
    code = principal.jurisdiction_code
    slots = tenant_slots()
    if not slots.enter(code):
        _confirm_now()
        return too_many_concurrent_calls(code, slots.busy(code))
    try:
        routes = _routes()
        db.release_session()        # the token check's connection: the call runs on its own
        for may_retry in (True, False):
            connection = routes.connection()
            try:
                return _invoke_on(routes, connection, principal, raw, payload, operation,
                                  module, interface, may_retry, key)
            except _Reconnect:
                routes.discard(connection)
            finally:
                routes.release(connection)
        raise AssertionError("unreachable: the second attempt never raises _Reconnect")
    except MarketplaceError as exc:
        if "retry_after" not in exc.extra:
            raise
        return _json(exc.status, exc.to_dict(), {"Retry-After": str(exc.extra["retry_after"])})
    finally:
        slots.leave(code)


def _invoke_on(routes: RouteCache, connection, principal, raw: bytes, payload, operation: str,
               module: str | None, interface: str | None, may_retry: bool,
               key: str | None) -> Response:
    """The call on one DBAPI connection (its writes committed by ``routes.commits``).

    A connection lost before the module runs is retried once (nothing was done
    yet); lost later, the call answers 503 and the connection is dropped.
    """
    code = principal.jurisdiction_code
    keys = None
    try:
        cursor = connection.cursor()
        confirm = _confirming(routes, cursor)
        if key is not None:
            confirm(None)                           # before a stored answer is replayed
            target = f"{'interface/' + interface if interface else module}/{operation}"
            keys = idempotency.Keys(routes.sql, cursor, lambda work: routes.commits.now(
                connection, work), code, idempotency.check_key(key),
                idempotency.request_hash(target, raw))
            state, answer = keys.stored(_replayed)          # the common retry: one read
            if state == "replay":
                return answer
        route, minute, calls = routes.resolve(cursor, code, interface or module, operation,
                                              interface is not None, confirm)
    except routes.disconnected as exc:
        if may_retry:
            raise _Reconnect() from exc
        routes.discard(connection)
        raise _unavailable() from exc
    call = _Call(routes, connection, route, operation, code, keys)
    try:
        return call.run(payload, minute, calls)
    except routes.disconnected as exc:
        routes.discard(connection)
        raise _unavailable() from exc


def _replayed(status: int, body: str, headers: dict) -> Response:
    return _json(status, body, {**headers, "Idempotent-Replayed": "true"})


def _safe(text: object) -> str:
    """Text from module code as valid UTF-8 (a lone surrogate becomes "?")."""
    return str(text).encode("utf-8", "replace").decode("utf-8")


class _Call:
    """One metered call of a routed operation (a composite's sub-call too: :mod:`.compose`)."""

    parent: str | None = None                   # a sub-call's composite call's event id
    depth = 0                                   # how many composite calls this one is inside
    billed_steps = 0                            # sub-calls of this call that ran and were billed
    timeout: float | None = None                # a sub-call's: what its composite has left

    def __init__(self, routes: RouteCache, connection, route: Route, operation: str,
                 code: str, keys: idempotency.Keys | None) -> None:
        self.routes, self.connection = routes, connection
        self.route, self.operation, self.code = route, operation, code
        self.keys = keys
        self.event_id = event_id()
        self.started = time.perf_counter()
        self.started_at = now()                 # the event's occurred_at: never after ended_at
        self.minute = minute_now()
        self.granted = False                    # holds one call of the quota
        self.holds_key = False

    def run(self, payload, minute: int | None, calls: int | None) -> Response:
        """Reserve the key, validate, reserve the quota, call the module, meter, answer."""
        route = self.route
        config = current_app.config
        if self.keys is not None:
            timeout = config["INVOKE_TIMEOUT"]
            answer = idempotency.reserve_or_replay(
                self.keys, self.event_id, idempotency.lease_for(timeout), timeout + 1.0,
                _replayed)
            if answer is not None:
                return answer
            self.holds_key = True
        problems = route.check_input(payload)
        if problems:
            return self.finish(422, {"error": "invalid_input", "message": "the input does not "
                                     f"match the input schema of {self.operation}",
                                     "details": problems}, "rejected")
        limit = route.quota_per_minute or config["QUOTA_PER_MINUTE"]
        full = minute == self.minute and calls is not None and calls >= limit  # no write needed
        if full or not self._reserve(limit):
            return self.finish(429, {"error": "quota_exceeded", "message": f"quota of {limit} "
                                     "calls per minute used up; retry in the next minute"},
                               "rejected", extra={"Retry-After": _retry_after()})
        refusal = self._take_budget() if route.budget is not None and route.units else None
        if refusal is not None:
            return self.finish(402, refusal, "rejected")
        return self.call(payload)

    def _reserve(self, limit: int) -> bool:
        """One call of the quota, committed before the module runs (exact across processes)."""
        if limit <= 0:
            return False
        self.granted = self.routes.commits.reserve(self.connection, {
            "iid": self.route.id, "minute": self.minute, "limit": limit})
        return self.granted

    budget_period: str | None = None            # the period whose budget this call holds units of

    def _take_budget(self) -> dict | None:
        """Take the call's units of its period's budget (committed); the 402 body if refused."""
        period = derive_period_day(self.started_at)[0]
        outcome = budgets.take(self.routes, self.connection, self.route, self.code, period)
        if not outcome.granted:
            return budgets.exhausted(self.route, period, outcome)
        self.budget_period = period
        return None

    def call(self, payload) -> Response:
        """Run the module under its time limit and answer by its outcome."""
        route = self.route
        ctx = Context(jurisdiction=JurisdictionRef(self.code, route.jurisdiction_name),
                      installation_id=route.id, config=route.config or {},
                      request_id=self.event_id, module=route.module, version=route.version)
        try:
            hook = getattr(self.routes.manager(route, self.connection.cursor()).hook,
                           self.operation)
            output = loader.call_with_limit(route.id, self.timeout or current_app.config[
                                            "INVOKE_TIMEOUT"], hook,
                                            compose.Host(self), payload=payload, context=ctx)
        except loader.ModuleTimeout as exc:
            return self.finish(504, {"error": "timeout", "message": f"{route.module} "
                                     f"{route.version} did not answer in time ({exc})"}, "error",
                               counted=not isinstance(exc, loader.ModuleBusy))
        except ModuleError as exc:      # the module raised (DESIGN §5): 502, error, not billed
            return self.finish(502, {"error": "module_error", "reason": _safe(exc.reason),
                                     "message": _safe(exc.message),
                                     **({"where": _safe(exc.where)} if exc.where else {})},
                               "error", counted=True)
        except BaseException as exc:  # noqa: BLE001 - a broken module must never break the gateway
            log.warning("module %s %s failed on %s", route.module, route.version, self.operation,
                        exc_info=True)
            return self.finish(502, {"error": "module_error", "message": f"{route.module} "
                                     f"{route.version} failed: {type(exc).__name__}: "
                                     f"{_safe(exc)}"}, "error", counted=True)
        try:
            body = jsonio.dumps(output)         # NaN, Infinity, lone surrogates: not JSON
        except ValueError as exc:
            problems = [{"where": "(root)", "message": f"not valid JSON: {exc}"}]
        else:
            problems = route.check_output(output)
        if problems:
            return self.finish(502, {"error": "module_error", "message": f"{route.module} "
                                     f"{route.version} returned output that breaks its schema",
                                     "details": problems}, "error", counted=True)
        return self.finish(200, body, "ok", counted=True, units=route.units)

    def finish(self, status: int, body: dict | str, event_status: str, units: int = 0,
               counted: bool = False, extra: dict | None = None) -> Response:
        """Commit the call's usage event (with its key's reply, or a grant given back); answer."""
        body, headers = self.commit(status, body, event_status, units, counted)
        return _json(status, body, {**headers, **(extra or {})})

    def commit(self, status: int, body: dict | str, event_status: str, units: int,
               counted: bool) -> tuple[str, dict]:
        """Commit the call's usage event, key reply and grant given back: (body, headers)."""
        if isinstance(body, dict):
            body = _text(body)
        headers = {"X-Usage-Event": self.event_id, "X-Usage-Units": str(units)}
        item = CallWrite(call_event(
            installation_id=self.route.id, event_id=self.event_id, operation=self.operation,
            units=units, status=event_status, occurred_at=self.started_at,
            duration_ms=int((time.perf_counter() - self.started) * 1000)))
        if self.parent is not None:
            item.event["parent_event"] = self.parent
        if self.granted and not counted:        # refused before the module ran: not counted
            item.give_back = (self.route.id, self.minute)
        if self.budget_period is not None and event_status != "ok":    # not billed: given back
            budgets.give_back(self.routes, self.connection, self.route.id, self.budget_period,
                              self.route.units)
        if self.holds_key:
            replay = status in REPLAYABLE or self.billed_steps  # never bill its steps twice
            item.reply = (self.keys.settle(self.event_id, status, body, headers)
                          if replay else self.keys.settle(self.event_id, None))
        self.routes.commits.write(self.connection, item)
        observe_call(self.route.module, self.operation, event_status, status,  # after commit
                     time.perf_counter() - self.started)
        return body, headers
