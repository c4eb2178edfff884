"""Everything a module author imports: the hook marker, the call context and the error type.

A module is a Python package whose functions are marked with :data:`hookimpl`.
Each declared operation is a function ``name(payload, context)`` returning a
JSON-serialisable dict; lifecycle hooks take ``context`` only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pluggy

PROJECT = "govmarket"

hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)


@dataclass(frozen=True)
class JurisdictionRef:
    """The calling tenant: 6-digit GB/T 2260 code and its name."""

    code: str
    name: str


@dataclass(frozen=True)
class Context:
    """What a module knows about the call it is serving."""

    jurisdiction: JurisdictionRef
    installation_id: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    request_id: str = ""
    module: str = ""
    version: str = ""
    caller: Callable[[str, str, Any], dict] | None = field(default=None, repr=False,
                                                         compare=False)

    def call(self, target: str, operation: str, payload: Any) -> dict:
        """Call ``operation`` of a module this composite declares in ``[[requires]]``.

        ``target`` is the required module's name or interface. The platform makes
        the call under the same adopter's own installation of the target, metered
        and billed under that installation's terms, within this call's deadline.
        Returns the target's output; raises :class:`ModuleError` with the sub-call's
        error (``undeclared_dependency``, ``not_installed``, ``invalid_input``,
        ``quota_exceeded``, ``timeout``, the target's own reason, …).
        """
        if not isinstance(target, str) or not isinstance(operation, str):
            raise ModuleError("invalid_call", "context.call(target, operation, payload): "
                              "target and operation are strings")
        if self.caller is None:
            raise ModuleError("calls_unavailable", "sub-calls are made only while serving an "
                              "operation call")
        return self.caller(target, operation, payload)


class ModuleError(Exception):
    """Raised by a module to stop a request with a reason the caller can act on.

    The gateway answers 502 ``{"error": "module_error", "reason": reason, "message": message}``
    (with ``where`` when set), records the call's usage event as ``error`` and does not
    bill it (DESIGN §5: the module raised). ``args[0]`` is the reason and ``str()`` reads
    ``"reason: message"``, so ``ModuleError("undeclared_dependency", "…")`` shows its reason
    however it is caught or printed.
    """

    def __init__(self, reason: str, message: str = "", where: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message or reason
        self.where = where          # the failed step of a composite's sub-call, if any

    def __str__(self) -> str:
        """``reason: message`` (the reason alone when there is no other message)."""
        reason, message = str(self.reason), str(self.message)
        return reason if message == reason else f"{reason}: {message}"
