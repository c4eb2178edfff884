"""Helpers shared by every JSON blueprint."""
from __future__ import annotations

from typing import Any

from flask import request

from marketplace import jsonio
from marketplace.errors import MarketplaceError


def json_value(surrogates: bool = False) -> Any:
    """The request's JSON value, strictly parsed (:mod:`marketplace.jsonio`), or a located 400."""
    if not request.is_json:
        raise MarketplaceError("invalid_json",
                               "send a JSON object with Content-Type: application/json")
    return jsonio.loads(request.get_data(cache=True), surrogates=surrogates)


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what to send."""
    body = json_value()
    if not isinstance(body, dict):
        raise MarketplaceError("invalid_json",
                               "send a JSON object with Content-Type: application/json")
    return body
