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


#: What to send instead when a route's body is too large, by endpoint; other routes: "send less".
TOO_LARGE_ADVICE = {
    "metering_api.report_usage": "a usage batch holds at most 1,000 events; send more batches",
    "corrections_api.open_dispute": (
        "evidence_ids hold at most 100,000 event ids of the disputed module and period; for more "
        "ids upload them as a records CSV (multipart file part or text/csv body, at most "
        "4,194,304 bytes)"),
    "catalog_api.publish": "a bundle zip holds at most 10 MiB",
}


def too_large_message(limit: int, what: str = "a JSON request body") -> str:
    """The 413 text of this request's route: its own limit and what to send instead."""
    advice = TOO_LARGE_ADVICE.get(request.endpoint or "", "send less")
    return f"{what} holds at most {limit:,} bytes here; {advice}"


def _too_large() -> MarketplaceError:
    return MarketplaceError("too_large", too_large_message(MAX_JSON_BYTES), status=413)


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


def query_args(allowed: Iterable[str] = ()) -> dict[str, str]:
    """The query parameters of the request, or a located 400: each one of ``allowed``, given
    once and not empty (a misspelt, repeated or empty parameter must not be silently ignored
    or answer something else than was asked). ``format`` where ``allowed`` lacks it is a 400
    ``invalid_format`` unless it is ``json``; ``lang`` (the UI's language switch) is passed over.
    """
    allowed = frozenset(allowed)
    args = {}
    for key, values in request.args.lists():
        if key == "lang" or (key == "format" and "format" not in allowed):
            if key == "format":
                answer_format(("json",))
            continue
        if key not in allowed:
            known = (f"use only {', '.join(sorted(allowed))}" if allowed else
                     "this route takes no query parameters")
            raise MarketplaceError("unknown_field", f"query: parameter {shown(key, 80)} is not "
                                   f"accepted here; {known}",
                                   details=[{"where": f"query.{key[:80]}", "message": "unknown"}])
        if len(values) > 1:
            raise MarketplaceError("duplicate_field", f"query: parameter {shown(key, 80)} is given "
                                   f"{len(values)} times; give it once",
                                   details=[{"where": f"query.{key[:80]}", "message": "repeated"}])
        if values[0] == "":
            raise MarketplaceError("empty_field", f"query: parameter {shown(key, 80)} is empty; "
                                   "give a value or leave the parameter out",
                                   details=[{"where": f"query.{key[:80]}", "message": "empty"}])
        args[key] = values[0]
    return args
