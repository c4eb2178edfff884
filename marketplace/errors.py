"""One error type for the whole domain, turned into JSON by one handler.

Every area raises :class:`MarketplaceError` (or a subclass) carrying a machine
``reason`` (``version_exists``, ``period_closed``), a human ``message`` that says
what to fix, the HTTP ``status`` and optional ``details``.
"""
from __future__ import annotations

from typing import Any


class MarketplaceError(Exception):
    """A refusal with a machine reason, a human message and an HTTP status."""

    status = 400

    def __init__(self, reason: str, message: str, status: int | None = None,
                 details: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        if status is not None:
            self.status = status
        self.details = details
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of this error."""
        body: dict[str, Any] = {"error": self.reason, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        body.update(self.extra)
        return body


class NotFound(MarketplaceError):
    """A named thing does not exist (or is not visible to the caller)."""

    status = 404


class Conflict(MarketplaceError):
    """The request clashes with the current state."""

    status = 409


class Forbidden(MarketplaceError):
    """The caller is known but may not do this."""

    status = 403


class Unauthorized(MarketplaceError):
    """No valid credentials."""

    status = 401


class Invalid(MarketplaceError):
    """The request is well-formed JSON but its content is wrong."""

    status = 422
