"""Strict JSON at every edge: request bodies, module answers, reported usage (DESIGN §12).

Python's ``json`` accepts what no other party would: ``NaN`` and ``Infinity``,
the same key twice in one object (the last silently wins), numbers that overflow
to infinity, lone UTF-16 surrogates (``"\\ud800"``) that cannot be written back
as UTF-8, and nesting deep enough to exhaust the stack.
:func:`loads` refuses each of them with a located :class:`JSONRefused` (400
``invalid_json``); :func:`dumps` refuses to produce them. Both are cheap on
the common case: the depth scan and the surrogate check run only when the raw
text could hold the fault at all.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from marketplace.errors import MarketplaceError

MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)     # linear: the alternatives are disjoint
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


class JSONRefused(MarketplaceError):
    """The text is not JSON this platform accepts."""

    status = 400


def _refuse(where: str, message: str) -> JSONRefused:
    return JSONRefused("invalid_json", f"{where} is not acceptable JSON: {message}",
                       details=[{"where": where, "message": message}])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def _whole(text: str) -> int:
    if len(text.lstrip("-")) > 4000:   # Python refuses > 4300 digits, naming a sys setting
        raise ValueError(f"the integer {text[:20]}… has {len(text)} digits; "
                         "no accepted value is that long")
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict:
    # the same key twice is ambiguous (parsers differ on which wins): refuse it
    value = dict(pairs)
    if len(value) != len(pairs):                    # the common case costs one len()
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key[:80]!r} appears twice in one object")
            seen.add(key)
    return value


_decoder = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_no_constant,
                            parse_float=_finite, parse_int=_whole)
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in ``raw`` nest deeper than ``limit`` (brackets in strings
    don't count). Fast when ``raw`` has too few brackets to be that deep at all."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    level = 0
    for byte in _STRING.sub(b'""', raw).translate(None, _NOT_BRACKET):
        if byte in b"[{":
            level += 1
            if level > limit:
                return True
        else:
            level -= 1
    return False


def loads(raw: bytes | str, where: str = "body", max_depth: int = MAX_DEPTH,
          surrogates: bool = False) -> Any:
    """Parse ``raw`` (UTF-8) strictly; :class:`JSONRefused` says what is wrong and where.

    ``surrogates=True`` lets escaped lone surrogates through, for callers that check
    each item and refuse just the items holding one (reported usage events).
    """
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError:
            raise _refuse(where, "it holds a lone UTF-16 surrogate") from None
    if too_deep(raw, max_depth):
        raise _refuse(where, f"it is nested deeper than {max_depth} levels")
    try:
        text = raw.decode("utf-8")
        value = _decoder.decode(text)
    except UnicodeDecodeError as exc:
        raise _refuse(where, f"it is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise _refuse(where, "it is nested too deeply") from None
    except ValueError as exc:
        raise _refuse(where, str(exc)) from None
    if not surrogates and ("\\u" in text or "\\U" in text):  # escapes may spell a lone surrogate
        try:
            _encoder.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            raise _refuse(where, "a string holds a lone UTF-16 surrogate "
                          "(\\ud800-\\udfff without its pair)") from None
    return value


def dumps(value: Any) -> str:
    """Compact JSON of ``value`` that is also valid UTF-8; ValueError when it cannot be.

    Refuses NaN and infinities, lone surrogates, and values JSON has no form for.
    """
    try:
        text = _encoder.encode(value)
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone UTF-16 surrogate") from None
    except (TypeError, RecursionError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return text


def shown(value: Any, limit: int = 40) -> str:
    """A value a client sent, written as JSON for an error message (``null``, ``true``, ``310000``,
    ``"abc"``, never Python's ``None``/``True``/``'310000'``), clipped: a long text or number is cut
    at ``limit`` characters with ``…``, a whole number beyond 15 digits at 12 of them (saying how
    many digits it has)."""
    if isinstance(value, int) and not isinstance(value, bool):
        digits = str(abs(value)) if abs(value) < 10 ** 4000 else None   # int→str is capped at 4300 digits
        if digits is None or len(digits) > min(limit, 15):
            count = f"{len(digits):,}" if digits else "over 4,000"
            head = digits[:12] if digits else ""
            return f"{'-' if value < 0 else ''}{head}… (a number of {count} digits)"
        return str(value)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except (ValueError, TypeError, RecursionError):
        text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
