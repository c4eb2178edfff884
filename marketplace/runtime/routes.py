"""Gateway routes, cached per worker process and checked against the route generation on every call.

A route is what ``(jurisdiction, module or interface, operation)`` resolves to:
the active installation, its version and operation, their compiled schema
validators and the module's manager. Resolving one takes a six-table join plus
a schema fetch; the gateway instead keeps routes per app in each process and,
on every call, reads the route generation (``RouteGeneration``) together with
the installation's quota counter in one primary-key query. Any committed change
to installations, modules, versions, operations or jurisdictions bumps the
generation in its own transaction, so a change made through another worker,
the CLI or another host is seen on the very next call: a changed generation is
a miss, and a miss runs the full join.

The statements run as SQL text on the DBAPI cursor (:mod:`marketplace.rawsql`).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine

from marketplace.catalog.store import ArtifactStore
from marketplace.errors import Conflict, NotFound
from marketplace.rawsql import RawStatement
from marketplace.runtime import loader
from marketplace.runtime.commits import GroupCommit
from marketplace.runtime.invocation import (CHECK, GENERATION, GIVE_BACK, Check, lookup_query,
                                            OPERATION_NAMES, OPERATION_SCHEMAS, quota_reserve, validators_for)
from marketplace.runtime.models import IdempotentReply

MAX_ROUTES = 10_000
_GENERATION_AT = [c.key for c in lookup_query(False).selected_columns].index("generation")
_REPLY = IdempotentReply.__table__


@dataclass(slots=True)
class Route:
    """A resolved call target (everything but the quota counter, which is read per call)."""

    id: int
    version_id: int
    config: dict | None
    quota_per_minute: int | None
    module: str
    version: str
    sha256: str
    entry: str
    op_id: int
    units: int
    jurisdiction_name: str
    generation: int | None
    check_input: Check
    check_output: Check
    manager: Any
    budget: int | None = None       # the installation's budget per period (minor units)


def _key(stmt):
    """``stmt`` narrowed to one Idempotency-Key of one jurisdiction."""
    return stmt.where(_REPLY.c.jurisdiction_code == sa.bindparam("code"),
                      _REPLY.c.key == sa.bindparam("key"))


class HotStatements:
    """The gateway's statements compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.by_module = RawStatement(lookup_query(False), dialect)
        self.by_interface = RawStatement(lookup_query(True), dialect)
        self.check = RawStatement(CHECK, dialect)
        self.generation = RawStatement(sa.select(GENERATION), dialect)
        self.reserve = RawStatement(quota_reserve(dialect.name), dialect)
        self.give_back = RawStatement(GIVE_BACK, dialect)
        self.operation_schemas = RawStatement(OPERATION_SCHEMAS, dialect)
        self.operation_names = RawStatement(OPERATION_NAMES, dialect)
        self.find_reply = RawStatement(_key(sa.select(
            _REPLY.c.request_hash, _REPLY.c.status, _REPLY.c.body, _REPLY.c.headers,
            _REPLY.c.created_at, _REPLY.c.lease_until)), dialect)
        insert = (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(_REPLY)
        self.claim_key = RawStatement(insert.values(        # a reservation, unless the key exists
            jurisdiction_code=sa.bindparam("code"), key=sa.bindparam("key"),
            request_hash=sa.bindparam("hash"), body="", owner=sa.bindparam("owner"),
            headers=sa.bindparam("no_headers", {}, type_=_REPLY.c.headers.type),
            created_at=sa.bindparam("stamp", type_=_REPLY.c.created_at.type),
            lease_until=sa.bindparam("lease", type_=_REPLY.c.lease_until.type),
        ).on_conflict_do_nothing(index_elements=[_REPLY.c.jurisdiction_code, _REPLY.c.key]),
            dialect)
        self.take_over = RawStatement(_key(sa.update(_REPLY)).where(sa.or_(   # dead or expired
            sa.and_(_REPLY.c.status.is_(None),
                    sa.or_(_REPLY.c.lease_until.is_(None),
                           _REPLY.c.lease_until < sa.bindparam("stamp"))),
            _REPLY.c.created_at < sa.bindparam("cutoff"))).values(
            request_hash=sa.bindparam("hash"), status=sa.null(), body="",
            owner=sa.bindparam("owner"), created_at=sa.bindparam("stamp"),
            lease_until=sa.bindparam("lease")), dialect)
        self.settle_reply = RawStatement(_key(sa.update(_REPLY)).where(
            _REPLY.c.owner == sa.bindparam("owner")).values(
            status=sa.bindparam("status"), body=sa.bindparam("body"),
            headers=sa.bindparam("headers"), created_at=sa.bindparam("stamp"),
            lease_until=sa.null()), dialect)
        self.free_key = RawStatement(_key(sa.delete(_REPLY)).where(
            _REPLY.c.owner == sa.bindparam("owner"), _REPLY.c.status.is_(None)), dialect)
        self.sweep_replies = RawStatement(      # the oldest expired replies, a batch at a time
            sa.delete(_REPLY).where(_REPLY.c.id.in_(
                sa.select(_REPLY.c.id).where(_REPLY.c.created_at < sa.bindparam("cutoff"))
                .order_by(_REPLY.c.created_at).limit(sa.bindparam("batch", type_=sa.Integer))
                .scalar_subquery())), dialect)


def ambiguous_interface(interface: str, code: str) -> Conflict:
    """409: the tenant has two active installations implementing ``interface``."""
    return Conflict("ambiguous_interface", f"{code} has more than one module installed that "
                    f"implements {interface}; call one by name (/api/v1/invoke/MODULE/OPERATION) or "
                    "uninstall all but one (PATCH /api/v1/installations/ID with "
                    '{"module": …} switches an installation to another implementation)')


_statements: dict[str, HotStatements] = {}
_statements_lock = threading.Lock()


def statements(dialect: Dialect) -> HotStatements:
    """The hot statements of ``dialect`` (compiled once per process)."""
    found = _statements.get(dialect.name)
    if found is None:
        with _statements_lock:
            found = _statements.get(dialect.name) or HotStatements(dialect)
            _statements[dialect.name] = found
    return found


class RouteCache:
    """Routes of one app in this process, by (jurisdiction, by interface?, name, operation)."""

    def __init__(self, engine: Engine, store: Callable[[], ArtifactStore]) -> None:
        self.engine, self.store = engine, store
        self.sql = statements(engine.dialect)
        self.commits = GroupCommit(engine, self.sql)
        self.postgres = engine.dialect.name == "postgresql"
        dbapi = engine.dialect.loaded_dbapi
        self.disconnected: tuple[type[Exception], ...] = (dbapi.OperationalError,
                                                          dbapi.InterfaceError)
        if engine.dialect.name == "sqlite":     # sqlite3's word for a closed connection
            self.disconnected += (dbapi.ProgrammingError,)
        self._routes: dict[tuple[str, bool, str, str], Route] = {}
        self._local = threading.local()
        self._held: list[tuple[threading.Thread, Any]] = []
        self._held_lock = threading.Lock()
        self._pid = os.getpid()

    def connection(self) -> Any:
        """This thread's DBAPI connection, kept from call to call.

        Kept, not checked out per call: a pool checkout costs a round trip on
        PostgreSQL (the engine pings before handing a connection out). A kept
        connection that has died is noticed by the call's first read, which the
        gateway retries once on a new connection. Connections of threads that
        have ended go back to the pool when the next one is opened.
        """
        held = getattr(self._local, "connection", None)
        if held is None or self._pid != os.getpid():
            held = self._open()
        return held

    def _open(self) -> Any:
        if self._pid != os.getpid():            # a forked child: the parent's are not ours
            self._held, self._local, self._pid = [], threading.local(), os.getpid()
        connection = self._local.connection = self.engine.raw_connection()
        if self.postgres:           # reads end at once; writes run in GroupCommit's transaction
            connection.driver_connection.autocommit = True
        with self._held_lock:
            ended = [pair for pair in self._held if not pair[0].is_alive()]
            self._held = [pair for pair in self._held if pair[0].is_alive()]
            self._held.append((threading.current_thread(), connection))
        for _, old in ended:
            self._give_back(old)
        return connection

    def discard(self, connection: Any) -> None:
        """Drop a connection that failed (the next call of this thread opens a new one)."""
        if getattr(self._local, "connection", None) is connection:
            del self._local.connection
        with self._held_lock:
            self._held = [pair for pair in self._held if pair[1] is not connection]
        try:
            connection.invalidate()
        except Exception:  # noqa: BLE001 - it is broken already; only forget it
            pass

    def release(self, connection: Any) -> None:
        """End whatever transaction a call left open (a read, or an error's) on its connection."""
        if getattr(self._local, "connection", None) is not connection:
            return                                  # discarded
        try:
            connection.rollback()
        except self.disconnected:
            self.discard(connection)

    def close(self) -> None:
        """Give every kept connection back to the pool (tests, app shutdown)."""
        with self._held_lock:
            held, self._held = self._held, []
        for _, connection in held:
            self._give_back(connection)
        self._local = threading.local()

    def _give_back(self, connection: Any) -> None:
        try:
            if self.postgres:
                connection.driver_connection.autocommit = False    # as the pool lent it
            connection.close()
        except Exception:  # noqa: BLE001 - returning is best effort
            pass

    def resolve(self, cursor: Any, code: str, name: str, operation: str, by_interface: bool,
                confirm: Callable[[int | None], None] = lambda generation: None,
                ) -> tuple[Route, int | None, int | None]:
        """(route, counter minute, counter calls) of a call; NotFound when there is no route.

        ``confirm(generation)`` is called with the route generation read, before any
        outcome (None: there was no row to read it from), to confirm the caller's token.
        """
        key = (code, by_interface, name, operation)
        route = self._routes.get(key)
        if route is not None and route.generation is not None:
            generation, minute, calls = self.sql.check.first(cursor, {"iid": route.id})
            confirm(generation)
            if generation == route.generation:
                return route, minute, calls
        lookup = self.sql.by_interface if by_interface else self.sql.by_module
        rows = lookup.all(cursor, {"code": code, "name": name, "op": operation})
        confirm(rows[0][_GENERATION_AT] if rows else None)
        what = f"interface {name}" if by_interface else f"module {name}"
        if not rows:
            self._routes.pop(key, None)
            raise NotFound("not_installed", f"{what} is not installed for {code}; "
                           "install it with POST /api/v1/installations")
        if len(rows) > 1:                   # never pick one of two implementations silently
            self._routes.pop(key, None)
            raise ambiguous_interface(name, code)
        [row] = rows
        (iid, version_id, config, quota, module, version, sha256, entry, op_id, units,
         jurisdiction_name, minute, calls, generation, budget) = row
        if op_id is None:
            self._routes.pop(key, None)
            raise NotFound("unknown_operation", f"{what} ({module} {version}) has no operation "
                           f"{operation!r}")
        check_input, check_output = validators_for(      # a miss: the operation's schemas
            lambda: self.sql.operation_schemas.first(cursor, {"op": op_id}), sha256, operation)
        if len(self._routes) >= MAX_ROUTES:
            self._routes.clear()
        route = self._routes[key] = Route(iid, version_id, config, quota, module, version, sha256,
                                          entry, op_id, units, jurisdiction_name, generation,
                                          check_input, check_output, None, budget)
        return route, minute, calls

    def manager(self, route: Route, cursor: Any) -> Any:
        """The route's module manager, loaded from the verified bundle on first use.

        Reads on the call's own ``cursor``: a call never waits for a second pooled
        connection while holding one (with every thread doing so, the pool runs dry).
        Raises what loading raises (a bundle failing its sha256 check, say): the
        gateway answers that call 502 and meters it like any module failure.
        """
        if route.manager is None:
            route.manager = loader.manager_for(
                self.store(), route.id, route.version_id, route.sha256, route.entry,
                lambda: [name for (name,) in self.sql.operation_names.all(
                    cursor, {"version": route.version_id})])
        return route.manager
