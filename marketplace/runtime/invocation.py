"""Gateway building blocks: the one lookup query, cached validators, the quota reservation."""
from __future__ import annotations

import threading
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from marketplace.accounts.models import Jurisdiction
from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace import schemas
from marketplace.catalog.manifest import schema_path
from marketplace.clock import now
from marketplace.runtime.models import Installation, QuotaCounter, RouteGeneration
from marketplace.settlement.budget_models import Budget

MAX_DETAILS = 20
Check = Callable[[Any], list]

_I, _M, _V = Installation.__table__, Module.__table__, ModuleVersion.__table__
_O, _J, _Q = Operation.__table__, Jurisdiction.__table__, QuotaCounter.__table__
_G, _B = RouteGeneration.__table__, Budget.__table__
GENERATION = sa.select(_G.c.n).where(_G.c.id == 1).scalar_subquery()


def _lookup(by_interface: bool) -> sa.Select:
    """Active installation of the tenant + its version + the operation + the quota counter.

    Then the route generation, read in the same snapshot, and the budget (NULL: none).
    """
    match = _M.c.implements if by_interface else _M.c.name
    return (sa.select(_I.c.id, _I.c.version_id, _I.c.config, _I.c.quota_per_minute,
                      _M.c.name.label("module"), _V.c.version, _V.c.sha256, _V.c.entry,
                      _O.c.id.label("op_id"), _O.c.units, _J.c.name.label("jurisdiction_name"),
                      _Q.c.minute, _Q.c.calls, GENERATION.label("generation"),
                      _B.c.amount.label("budget"))
            .select_from(_I.join(_M, _M.c.id == _I.c.module_id)
                         .join(_V, _V.c.id == _I.c.version_id)
                         .join(_J, _J.c.code == _I.c.jurisdiction_code)
                         .outerjoin(_O, sa.and_(_O.c.version_id == _I.c.version_id,
                                                _O.c.name == sa.bindparam("op")))
                         .outerjoin(_Q, _Q.c.installation_id == _I.c.id)
                         .outerjoin(_B, _B.c.installation_id == _I.c.id))
            .where(_I.c.jurisdiction_code == sa.bindparam("code"), _I.c.state == "active",
                   match == sa.bindparam("name"))
            .order_by(_I.c.id.desc()).limit(2 if by_interface else 1))   # two: ambiguous


_LOOKUPS = {False: _lookup(False), True: _lookup(True)}


def lookup_query(by_interface: bool) -> sa.Select:
    """The gateway's read on a route cache miss (by module name, or by interface name)."""
    return _LOOKUPS[by_interface]


# A cache hit's one read: the route generation and the installation's quota counter.
CHECK = (sa.select(GENERATION.label("generation"), _Q.c.minute, _Q.c.calls)
         .select_from(sa.select(sa.literal(1).label("one")).subquery())
         .outerjoin(_Q, _Q.c.installation_id == sa.bindparam("iid")))


OPERATION_NAMES = sa.select(_O.c.name).where(_O.c.version_id == sa.bindparam("version"))
OPERATION_SCHEMAS = sa.select(_O.c.input_schema, _O.c.output_schema, _O.c.schema_links).where(
    _O.c.id == sa.bindparam("op"))


def operation_names(session: Connection | Session, version_id: int) -> list[str]:
    """The declared operations of a version (used when building its PluginManager)."""
    return list(session.scalars(OPERATION_NAMES, {"version": version_id}))


def _checker(schema: dict, links: dict | None) -> Check:
    """A reusable validator returning located problems (empty when valid).

    Built and run by :mod:`marketplace.schemas`: refs stay inside the stored bundle
    files, patterns run on RE2 and ref expansions are budgeted, so a call never
    fetches, never backtracks and never raises.
    """
    validator = schemas.validator(schema, links)

    def check(value: Any) -> list:
        return [{"where": schema_path(e.absolute_path) or "(root)", "message": e.message}
                for e in schemas.errors(validator, value)[:MAX_DETAILS]]
    return check


_validators: dict[tuple[str, str], tuple[Check, Check]] = {}
_lock = threading.Lock()


def validators_for(schemas_of: Callable[[], Any], sha256: str, name: str) -> tuple[Check, Check]:
    """(input check, output check) of an operation, cached by (bundle sha256, operation name).

    ``schemas_of()`` reads the operation's (input schema, output schema, schema
    links) row on a miss. A bundle's bytes fix its schemas, so the cache never
    needs invalidating.
    """
    found = _validators.get((sha256, name))
    if found is None:
        input_schema, output_schema, links = schemas_of()
        links = links or {}
        found = (_checker(input_schema, links.get("input")),
                 _checker(output_schema, links.get("output")))
        with _lock:
            _validators[(sha256, name)] = found
    return found


def minute_now() -> int:
    """The quota's minute (Unix time // 60) by the platform clock (MARKETPLACE_NOW aware)."""
    return int(now().timestamp() // 60)


def _reserve(dialect: str) -> sa.Insert:
    """Take one call of installation ``iid``'s ``limit`` in ``minute``, atomically, or nothing.

    One conditional upsert: a row of an older minute restarts at 1, the current
    minute's counter grows only while below the limit. A row is returned (the new
    count) exactly when the call was granted, so concurrent callers in any number
    of processes and hosts never get more than ``limit`` grants between them. A
    clock behind the stored minute counts against the stored one.
    """
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_Q)
    stmt = insert.values(installation_id=sa.bindparam("iid"), minute=sa.bindparam("minute"),
                         calls=1)
    newer = _Q.c.minute < stmt.excluded.minute
    return stmt.on_conflict_do_update(
        index_elements=[_Q.c.installation_id],
        set_={"calls": sa.case((newer, 1), else_=_Q.c.calls + 1),
              "minute": sa.case((newer, stmt.excluded.minute), else_=_Q.c.minute)},
        where=sa.or_(newer, _Q.c.calls < sa.bindparam("limit", type_=sa.Integer)),
    ).returning(_Q.c.calls)


_RESERVES = {name: _reserve(name) for name in ("sqlite", "postgresql")}

# Give back a granted call that the contract does not count (refused before the module ran).
GIVE_BACK = (sa.update(_Q).where(_Q.c.installation_id == sa.bindparam("iid"),
                                 _Q.c.minute == sa.bindparam("m"), _Q.c.calls > 0)
             .values(calls=_Q.c.calls - 1))


def quota_reserve(dialect_name: str) -> sa.Insert:
    """The statement granting one call of the quota (see :func:`_reserve`)."""
    return _RESERVES[dialect_name]


def reserve_call(conn: Connection, iid: int, limit: int, minute: int) -> bool:
    """Grant one call of ``limit`` per minute to installation ``iid`` (the caller commits)."""
    if limit <= 0:
        return False
    found = conn.execute(quota_reserve(conn.dialect.name),
                         {"iid": iid, "minute": minute, "limit": limit}).first()
    return found is not None
