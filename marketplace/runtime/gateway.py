"""The metered gateway (DESIGN §5): ``POST /api/v1/invoke/{module}/{operation}``.

Hot path, written for speed: one indexed token query, one Core query for
installation + version + operation + quota counter, cached validators and
plugin managers, the module call in a bounded thread pool with a time limit,
then one usage event (plus counter and idempotent reply) and one commit.
Every call that reaches an installation writes exactly one usage event.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, request
from sqlalchemy.exc import IntegrityError

from marketplace import db
from marketplace.accounts.auth import require
from marketplace.catalog.store import store_for
from marketplace.clock import now
from marketplace.errors import Conflict, MarketplaceError, NotFound
from marketplace.metering.service import record_call
from marketplace.runtime import loader
from marketplace.runtime.invocation import (bump_quota, lookup_query, operation_names,
                                            validators_for)
from marketplace.runtime.models import IdempotentReply
from marketplace.sdk import Context, JurisdictionRef, ModuleError

log = logging.getLogger(__name__)
bp = Blueprint("gateway", __name__, url_prefix="/api/v1/invoke")

REPLAY_WINDOW = timedelta(hours=24)
REPLAYABLE = {200, 422, 502}        # settled answers; 429/504 are worth retrying for real
_REPLY = IdempotentReply.__table__
_FIND_REPLY = sa.select(_REPLY.c.id, _REPLY.c.request_hash, _REPLY.c.status, _REPLY.c.body,
                        _REPLY.c.headers, _REPLY.c.created_at).where(
    _REPLY.c.jurisdiction_code == sa.bindparam("code"), _REPLY.c.key == sa.bindparam("key"))


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


def _invoke(operation: str, module: str | None = None, interface: str | None = None) -> Response:
    principal = g.principal
    # A pooled Core connection of its own: no ORM session to build, flush and close per call.
    with current_app.extensions["db"].engine.connect() as conn:
        return _invoke_on(conn, principal, operation, module, interface)


def _invoke_on(conn, principal, operation: str, module: str | None, interface: str | None):
    """The call on one connection (committed in ``_Call.finish``)."""
    raw = request.get_data(cache=False)
    key = request.headers.get("Idempotency-Key")
    digest = None
    if key is not None:
        if not key or len(key) > 200:
            raise MarketplaceError("invalid_idempotency_key",
                                   "Idempotency-Key must be 1 to 200 characters")
        target = f"{'interface/' + interface if interface else module}/{operation}\n"
        digest = hashlib.sha256(target.encode() + raw).hexdigest()
        replay = _replay(conn, principal.jurisdiction_code, key, digest)
        if replay is not None:
            return replay
    row = conn.execute(lookup_query(interface is not None), {
        "code": principal.jurisdiction_code, "name": interface or module, "op": operation}).first()
    what = f"interface {interface}" if interface else f"module {module}"
    if row is None:
        raise NotFound("not_installed", f"{what} is not installed for {principal.jurisdiction_code}; "
                       "install it with POST /api/v1/installations")
    if row.op_id is None:
        raise NotFound("unknown_operation", f"{what} ({row.module} {row.version}) has no operation "
                       f"{operation!r}")
    call = _Call(conn, row, operation, principal.jurisdiction_code, key, digest)
    return call.run(raw)


def _replay(conn, code: str, key: str, digest: str) -> Response | None:
    """The stored first answer for this key, a 409 for a reused key, or None."""
    found = conn.execute(_FIND_REPLY, {"code": code, "key": key}).first()
    if found is None or now() - found.created_at > REPLAY_WINDOW:
        return None
    if found.request_hash != digest:
        raise Conflict("idempotency_key_reused", "this Idempotency-Key was used for a different "
                       "request in the last 24 h; use a fresh key for a new request")
    return _json(found.status, found.body, {**(found.headers or {}), "Idempotent-Replayed": "true"})


class _Call:
    """One metered call of an installed operation."""

    def __init__(self, conn, row, operation: str, code: str, key: str | None,
                 digest: str | None) -> None:
        self.conn, self.row = conn, row
        self.operation, self.code = operation, code
        self.key, self.digest = key, digest
        self.event_id = uuid.uuid4().hex
        self.started = time.perf_counter()

    def run(self, raw: bytes) -> Response:
        """Validate, check the quota, call the module, meter, answer."""
        row = self.row
        config = current_app.config
        check_input, check_output = validators_for(self.conn, row.op_id, row.sha256,
                                                   self.operation)
        try:
            payload = json.loads(raw) if raw else None
        except ValueError as exc:
            return self.finish(422, {"error": "invalid_input", "message": "the body is not JSON",
                                     "details": [{"where": "body", "message": str(exc)}]},
                               "rejected")
        problems = check_input(payload)
        if problems:
            return self.finish(422, {"error": "invalid_input", "message": "the input does not "
                                     f"match the input schema of {self.operation}",
                                     "details": problems}, "rejected")
        limit = row.quota_per_minute or config["QUOTA_PER_MINUTE"]
        self.minute = int(time.time() // 60)
        used = row.calls if row.minute == self.minute else 0
        if used >= limit:
            return self.finish(429, {"error": "quota_exceeded", "message": f"quota of {limit} "
                                     "calls per minute used up; retry in the next minute"},
                               "rejected", extra={"Retry-After": str(60 - int(time.time()) % 60)})
        ctx = Context(jurisdiction=JurisdictionRef(self.code, row.jurisdiction_name),
                      installation_id=row.id, config=row.config or {}, request_id=self.event_id,
                      module=row.module, version=row.version)
        try:
            pm = loader.manager_for(_store(), row.id, row.version_id, row.sha256, row.entry,
                                    lambda: operation_names(self.conn, row.version_id))
            hook = getattr(pm.hook, self.operation)
            output = loader.call_with_limit(row.id, config["INVOKE_TIMEOUT"], hook,
                                            payload=payload, context=ctx)
        except loader.ModuleTimeout as exc:
            return self.finish(504, {"error": "timeout", "message": f"{row.module} {row.version} "
                                     f"did not answer in time ({exc})"}, "error",
                               counted=not isinstance(exc, loader.ModuleBusy))
        except ModuleError as exc:
            return self.finish(422, {"error": "module_error", "reason": exc.reason,
                                     "message": exc.message}, "rejected", counted=True)
        except BaseException as exc:  # noqa: BLE001 - a broken module must never break the gateway
            log.warning("module %s %s failed on %s", row.module, row.version, self.operation,
                        exc_info=True)
            return self.finish(502, {"error": "module_error", "message": f"{row.module} "
                                     f"{row.version} failed: {type(exc).__name__}: {exc}"},
                               "error", counted=True)
        try:
            body = json.dumps(output, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            problems = [{"where": "(root)", "message": f"not JSON: {exc}"}]
        else:
            problems = check_output(output)
        if problems:
            return self.finish(502, {"error": "module_error", "message": f"{row.module} "
                                     f"{row.version} returned output that breaks its schema",
                                     "details": problems}, "error", counted=True)
        return self.finish(200, body, "ok", counted=True, units=row.units)

    def finish(self, status: int, body: dict | str, event_status: str, units: int = 0,
               counted: bool = False, extra: dict | None = None) -> Response:
        """Write the usage event (and counter, and idempotent reply) in one commit; answer."""
        if isinstance(body, dict):
            body = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        headers = {"X-Usage-Event": self.event_id, "X-Usage-Units": str(units)}
        conn = self.conn
        stored = True
        with db.sqlite_write_turn(conn):
            self._write(status, body, event_status, units, counted, headers)
            try:
                conn.commit()
            except IntegrityError:      # a concurrent retry stored its reply first: keep the event
                conn.rollback()
                stored = False
        if not stored:
            self.key = None
            return self.finish(status, body, event_status, units, counted, extra)
        return _json(status, body, {**headers, **(extra or {})})

    def _write(self, status: int, body: str, event_status: str, units: int, counted: bool,
               headers: dict) -> None:
        """The call's writes: usage event, quota counter, idempotent reply."""
        conn = self.conn
        record_call(conn, installation_id=self.row.id, event_id=self.event_id,
                    operation=self.operation, units=units, status=event_status,
                    duration_ms=int((time.perf_counter() - self.started) * 1000))
        if counted:
            bump_quota(conn, self.row.id, self.minute)
        if self.key is not None and status in REPLAYABLE:
            conn.execute(sa.delete(_REPLY).where(      # an expired reply frees its key
                _REPLY.c.jurisdiction_code == self.code, _REPLY.c.key == self.key,
                _REPLY.c.created_at < now() - REPLAY_WINDOW))
            conn.execute(sa.insert(_REPLY), {
                "jurisdiction_code": self.code, "key": self.key, "request_hash": self.digest,
                "status": status, "body": body, "headers": headers, "created_at": now()})
