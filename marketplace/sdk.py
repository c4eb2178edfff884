"""Everything a module author imports: the hook marker, the call context and the error type.

A module is a Python package whose functions are marked with :data:`hookimpl`.
Each declared operation is a function ``name(payload, context)`` returning a
JSON-serialisable dict; lifecycle hooks take ``context`` only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

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


class ModuleError(Exception):
    """Raised by a module to refuse a request with a reason the caller can act on.

    The gateway answers 422 ``{"error": "module_error", "reason": reason, "message": message}``
    and does not bill the call.
    """

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason
