"""Helpers shared by every JSON blueprint."""
from __future__ import annotations

from flask import request

from marketplace.errors import MarketplaceError


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what to send."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise MarketplaceError("invalid_json",
                               "send a JSON object with Content-Type: application/json")
    return body
