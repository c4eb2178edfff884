"""The host side of ``context.call``: a composite module's sub-calls (DESIGN §14, 办好一件事).

A composite's code never imports another module: its sandbox sends a call
frame and the host answers it here, on the composite call's own thread and
database connection (a call never waits for a second pooled connection). A
sub-call is a gateway call in all but its entry: it is resolved under the
**same adopter's own active installation** of the target (the composite
call's jurisdiction; nothing the module sends can name another), then runs
through the gateway's one call path (:class:`~marketplace.runtime.gateway._Call`:
input schema, quota, the module under a time limit, output schema, one usage
event) with ``parent_event`` = the composite call's event id and a time limit
that is what is left of the composite's one deadline. Its event is billed
under the target installation's own terms; a failed step (refused input,
quota, timeout, module error, bad output) is metered as the target's failure,
never billed, and reaches the composite as a :class:`ModuleError` located at
the step (``where``). A target that is not installed meters nothing.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import current_app

from marketplace import jsonio
from marketplace.catalog.manifest import Requirement, requirements_of
from marketplace.catalog.models import ModuleVersion
from marketplace.errors import MarketplaceError
from marketplace.rawsql import RawStatement
from marketplace.sdk import ModuleError

if TYPE_CHECKING:
    from marketplace.runtime.gateway import _Call

MAX_DEPTH = 4                   # composite calls inside one another (as checked at publish)
_requires: dict[tuple[int, str], tuple[Requirement, ...]] = {}
_statements: dict[str, RawStatement] = {}
_lock = threading.Lock()


def _manifest_statement(dialect: Any) -> RawStatement:
    found = _statements.get(dialect.name)
    if found is None:
        with _lock:
            found = _statements[dialect.name] = RawStatement(
                sa.select(ModuleVersion.manifest).where(ModuleVersion.id == sa.bindparam("v")),
                dialect)
    return found


def requirements(call: "_Call") -> tuple[Requirement, ...]:
    """The ``[[requires]]`` of the version a call runs (read on its connection, then cached)."""
    route = call.route
    key = (route.version_id, route.sha256)
    found = _requires.get(key)
    if found is None:
        row = _manifest_statement(call.routes.engine.dialect).first(
            call.connection.cursor(), {"v": route.version_id})
        found = requirements_of((row[0] or {}).get("requires")) if row else ()
        if len(_requires) > 10_000:
            _requires.clear()
        _requires[key] = found
    return found


def _declared(requires: tuple[Requirement, ...], target: str,
              operation: str) -> Requirement | None:
    return next((r for r in requires if r.target == target and operation in r.operations), None)


class Host:
    """Answers the ``context.call`` of one call (``subcall`` of :func:`loader.call_with_limit`)."""

    __slots__ = ("call",)

    def __init__(self, call: "_Call") -> None:
        self.call = call

    def __call__(self, target: str, operation: str, payload: Any, deadline: float) -> Any:
        """The target's output, or ModuleError located at the step."""
        parent = self.call
        where = f"{target}/{operation}"
        requirement = _declared(requirements(parent), target, operation)
        if requirement is None:
            raise ModuleError("undeclared_dependency", f"{parent.route.module} "
                              f"{parent.route.version} does not declare {operation} of {target} "
                              "in its [[requires]]", where)
        if parent.depth + 1 > MAX_DEPTH:
            raise ModuleError("too_deep", f"composite calls nest at most {MAX_DEPTH} deep", where)
        left = deadline - time.monotonic()
        if left <= 0.01:
            raise ModuleError("timeout", "the composite call's time limit was used up before "
                              "this step", where)
        status, body = self._run(requirement, operation, payload, left, where)
        if status == 200:
            parent.billed_steps += 1
            return jsonio.loads(body, "the sub-call's output")
        answer = jsonio.loads(body, "the sub-call's answer")
        reason = answer.get("reason") if answer.get("error") == "module_error" else None
        inner = answer.get("where")             # a nested composite's own failed step
        raise ModuleError(reason or answer.get("error", "sub_call_failed"),
                          f"step {where} failed ({status}): {answer.get('message', '')}",
                          f"{where} > {inner}" if inner else where)

    def _run(self, requirement: Requirement, operation: str, payload: Any, left: float,
             where: str) -> tuple[int, str]:
        parent = self.call
        routes = parent.routes
        try:            # the composite's own jurisdiction: never anything the module sent
            route, minute, calls = routes.resolve(
                parent.connection.cursor(), parent.code, requirement.target, operation,
                requirement.interface is not None)
        except MarketplaceError as exc:
            raise ModuleError(exc.reason, f"step {where}: {exc.message}", where) from None
        step = _Step(routes, parent.connection, route, operation, parent.code, None)
        step.parent, step.depth = parent.event_id, parent.depth + 1
        step.timeout = min(current_app.config["INVOKE_TIMEOUT"], left)
        return step.run(payload, minute, calls)


def _step_class():
    from marketplace.runtime.gateway import _Call

    class Step(_Call):
        """A sub-call: the gateway's call path, answering (status, body) instead of a response."""

        def finish(self, status: int, body: dict | str, event_status: str, units: int = 0,
                   counted: bool = False, extra: dict | None = None) -> tuple[int, str]:
            text, _headers = self.commit(status, body, event_status, units, counted)
            return status, text
    return Step


class _LazyStep:
    """The Step class, made on first use (the gateway imports this module)."""

    cls = None

    def __call__(self, *args: Any) -> Any:
        if _LazyStep.cls is None:
            _LazyStep.cls = _step_class()
        return _LazyStep.cls(*args)


_Step = _LazyStep()
