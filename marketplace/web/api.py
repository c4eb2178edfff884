"""Helpers shared by every JSON blueprint."""
from __future__ import annotations

from typing import Any

from flask import request

from marketplace import jsonio
from marketplace.errors import MarketplaceError


#: Largest JSON request body of any route (a full usage batch of 1,000 events is ~250 KB).
MAX_JSON_BYTES = 2 * 1024 * 1024


def json_value(surrogates: bool = False) -> Any:
    """The request's JSON value, strictly parsed (:mod:`marketplace.jsonio`), or a located 400.

    Bodies over MAX_JSON_BYTES are a 413 ``too_large`` before any of it is parsed.
    """
    if not request.is_json:
        raise MarketplaceError("invalid_json",
                               "send a JSON object with Content-Type: application/json")
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise _too_large()
    request.max_content_length = MAX_JSON_BYTES   # a chunked body is cut off at the limit too
    raw = request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise _too_large()
    return jsonio.loads(raw, surrogates=surrogates)


def _too_large() -> MarketplaceError:
    return MarketplaceError("too_large", f"a JSON request body holds at most {MAX_JSON_BYTES:,} "
                            "bytes; send less (usage: at most 1,000 events a batch)", status=413)


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what to send."""
    body = json_value()
    if not isinstance(body, dict):
        raise MarketplaceError("invalid_json",
                               "send a JSON object with Content-Type: application/json")
    return body
