"""Helpers shared by every JSON blueprint."""
from __future__ import annotations

from typing import Any, Iterable

from flask import request

from marketplace import jsonio
from marketplace.errors import MarketplaceError
from marketplace.jsonio import shown


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


def json_body(allowed: Iterable[str]) -> dict:
    """The request's JSON object holding only ``allowed`` fields, or a 400 that says what to send.

    A field the route does not know is refused rather than ignored: a misspelt or
    unsupported field (``expires_at``, ``user``) must not look as if it had been applied.
    """
    body = json_value()
    if not isinstance(body, dict):
        raise MarketplaceError("invalid_json",
                               "send a JSON object with Content-Type: application/json")
    return only_fields(body, allowed, "body")


def only_fields(body: dict, allowed: Iterable[str], where: str) -> dict:
    """``body`` itself, or a located 400 ``unknown_field`` naming the first field not ``allowed``."""
    allowed = frozenset(allowed)
    unknown = [key for key in body if key not in allowed]
    if unknown:
        known = (f"send only {', '.join(sorted(allowed))}" if allowed else
                 f"this request takes no fields: send an empty {where} ({{}}) or none")
        raise MarketplaceError("unknown_field", f"{where}: field {shown(unknown[0], 80)} is not "
                               f"accepted here; {known}",
                               details=[{"where": f"{where}.{key[:80]}", "message": "unknown field"}
                                        for key in unknown[:20]])
    return body


#: Longest free text (a yank or review reason) a route stores.
MAX_REASON = 1000


def text_field(body: dict, key: str, limit: int = MAX_REASON) -> str:
    """Optional free-text field ``key`` ("" when absent), or a located 400 when it is not a
    string or longer than ``limit`` characters (it is stored and shown to every adopter)."""
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MarketplaceError("invalid_value", f"body.{key} must be a string",
                               details=[{"where": f"body.{key}", "message": "not a string"}])
    if len(value) > limit:
        raise MarketplaceError("too_long", f"body.{key} holds {len(value):,} characters; "
                               f"at most {limit:,} are accepted: shorten it",
                               details=[{"where": f"body.{key}",
                                         "message": f"longer than {limit:,} characters"}])
    return value


def answer_format(allowed: tuple[str, ...] = ("json", "csv")) -> str:
    """The ``?format=`` asked for (``json`` when absent), or a 400 ``invalid_format`` naming
    the allowed ones: an unknown format must not silently answer JSON."""
    asked = request.args.get("format", "json")
    if asked not in allowed:
        raise MarketplaceError("invalid_format", f"format {asked[:40]!r} is not offered here; "
                               f"use one of: {', '.join(allowed)}",
                               details=[{"where": "query.format", "message": "unknown format"}])
    return asked
