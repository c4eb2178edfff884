"""Module JSON Schemas: the one place that checks them and builds their validators (DESIGN §12).

Schemas are data, never fetched. ``$ref`` resolves inside the bundle only: a
relative ref is read against the referring file's place in the bundle (an
inline manifest schema sits at the bundle root), so ``"common.json#/defs/x"``
in ``schemas/a.json`` is ``schemas/common.json``. At publish :func:`link`
loads those files and returns them with the schema (``Linked``, stored with
the operation); every validator is built by :func:`validator` on a registry
that holds just them and retrieves nothing. Regular expressions run on RE2 —
``pattern``, ``patternProperties`` and the property names
``additionalProperties`` / ``unevaluatedProperties`` test against them — so
matching is linear in the input whatever the pattern. The formats in
:data:`ASSERTED_FORMATS` are asserted (a value that breaks one is invalid); any
other ``format`` stays an annotation.
"""
from __future__ import annotations

import contextvars
import datetime
import functools
import ipaddress
import itertools
import re
import types
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import unquote

import jsonschema_rs
import re2
from jsonschema import (Draft202012Validator, FormatChecker, ValidationError, _keywords,
                        _utils, validators)
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from marketplace import jsonio

BUNDLE = "https://bundle.invalid/"     # a name for bundle files; .invalid never resolves
META = {"https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2020-12/schema#"}
MAX_PROBLEMS = 20
Linked = dict        # {"base": URI of the schema, "resources": {URI: contents}}; {} = self-contained


class Refused(LookupError):
    """A ref that would leave the bundle (or name a file it does not hold)."""


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False          # a refused pattern is reported, not logged to stderr
    options.max_mem = 8 << 20
    return options


_OPTIONS = _re2_options()


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (linear-time matching); ``re2.error`` if RE2 cannot run it."""
    return re2.compile(pattern, _OPTIONS)


class _LinearRe:
    """Stands in for the ``re`` module inside jsonschema's keyword functions."""

    @staticmethod
    def search(pattern: str, string: str) -> Any:
        """RE2 search; the pattern was compiled under RE2 at publish."""
        return compile_pattern(pattern).search(string)


def _copy(func: Callable, **names: Any) -> Callable:
    """jsonschema keyword code ``func`` with some of its globals replaced (``re`` by RE2).

    Copying keeps jsonschema's exact semantics; it fails at import if the names are
    no longer used, so a jsonschema upgrade cannot silently bring back ``re``.
    """
    if not set(names) <= set(func.__code__.co_names):
        raise RuntimeError(f"jsonschema's {func.__name__} changed: review marketplace/schemas.py")
    scope = {**func.__globals__, **names}
    copy = types.FunctionType(func.__code__, scope, func.__name__, func.__defaults__,
                              func.__closure__)
    scope[func.__name__] = copy          # its recursive calls reach the copy too
    return copy


def _keyword_table() -> dict[str, Callable]:
    """The four keywords that match regular expressions, on RE2."""
    helpers = {"find_additional_properties": _copy(_utils.find_additional_properties,
                                                   re=_LinearRe),
               "find_evaluated_property_keys_by_schema": _copy(
                   _utils.find_evaluated_property_keys_by_schema, re=_LinearRe)}
    return {"pattern": _copy(_keywords.pattern, re=_LinearRe),
            "patternProperties": _copy(_keywords.patternProperties, re=_LinearRe),
            "additionalProperties": _copy(_keywords.additionalProperties,
                                          find_additional_properties=helpers[
                                              "find_additional_properties"]),
            "unevaluatedProperties": _copy(_keywords.unevaluatedProperties,
                                           find_evaluated_property_keys_by_schema=helpers[
                                               "find_evaluated_property_keys_by_schema"])}


# $ref expansions one validation may make: jsonschema spends ~0.15 ms on each, and refs
# shared in a DAG multiply (2 refs a level, 30 levels: 10⁹), so a call stays ≲ 0.2 s
MAX_REFS = 1_000
_BUDGET: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("refs", default=None)


class TooCostly(Exception):
    """A validation went over its budget of ref expansions."""


def _budgeted(keyword: Callable) -> Callable:
    """``$ref`` / ``$dynamicRef`` that count against the running validation's budget."""
    def counted(validator: Any, ref: Any, instance: Any, schema: Any) -> Iterator[Any]:
        budget = _BUDGET.get()
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                raise TooCostly()
        yield from keyword(validator, ref, instance, schema)
    return counted


# --- formats: asserted by the platform, strictly (whole ASCII strings, real calendar) ----
# 2020-12 makes "format" an annotation unless the validator asserts it; a module that
# declares "date" relies on getting one, so these are checked like "type". The checks
# are the platform's own (stdlib only): RFC 3339 date/time with real month lengths and
# leap seconds only at 23:59:60 UTC, RFC 5321 mailboxes, RFC 4122 text UUIDs, dotted
# IPv4 without leading zeros, IPv6 without a zone. re's "$" would accept a trailing
# newline and "\d" other scripts' digits: fullmatch on ASCII classes instead.

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
                   r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MAILBOX = re.compile(rf'(?P<local>{_ATOM}(?:\.{_ATOM})*|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|'
                      rf'\\[\x20-\x7e])*")@(?:(?P<host>{_LABEL}(?:\.{_LABEL})*)|'
                      r"\[(?P<literal>[^\[\]]+)\])")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def _is_date(value: str) -> bool:
    """RFC 3339 full-date ``YYYY-MM-DD`` of a day that exists (years 0001-9999)."""
    found = _DATE.fullmatch(value)
    try:
        return bool(found) and bool(datetime.date(*map(int, found.groups())))  # type: ignore
    except ValueError:              # month 13, 30 February, year 0
        return False


def _is_time(value: str) -> bool:
    """RFC 3339 full-time ``HH:MM:SS[.frac](Z|±HH:MM)``; second 60 only at 23:59 UTC."""
    found = _TIME.fullmatch(value)
    if not found:
        return False
    hour, minute, second = (int(found.group(i)) for i in (1, 2, 3))
    sign, off_h, off_m = found.group(4), int(found.group(5) or 0), int(found.group(6) or 0)
    if hour > 23 or minute > 59 or second > 60 or off_h > 23 or off_m > 59:
        return False
    if second == 60:                # a leap second: the last second of a UTC day
        shift = (off_h * 60 + off_m) * (-1 if sign == "-" else 1)
        return (hour * 60 + minute - shift) % (24 * 60) == 23 * 60 + 59
    return True


def _is_date_time(value: str) -> bool:
    """RFC 3339 date-time: full-date ``T`` full-time (``t`` too)."""
    return len(value) > 11 and value[10] in "Tt" and _is_date(value[:10]) and \
        _is_time(value[11:])


def _is_email(value: str) -> bool:
    """An RFC 5321 mailbox: dot-atom or quoted local part @ host name or [address literal]."""
    found = len(value) <= 254 and _MAILBOX.fullmatch(value)
    if not found or len(found.group("local")) > 64:
        return False
    literal = found.group("literal")
    if literal is None:
        return all(len(label) <= 63 for label in found.group("host").split("."))
    return _is_ipv6(literal[5:]) if literal.startswith("IPv6:") else _is_ipv4(literal)


def _is_ipv4(value: str) -> bool:
    """Dotted-quad IPv4 (no leading zeros)."""
    try:
        return bool(ipaddress.IPv4Address(value))
    except ValueError:
        return False


def _is_ipv6(value: str) -> bool:
    """RFC 4291 IPv6 text (embedded IPv4 allowed), without a zone id."""
    try:
        return not ipaddress.IPv6Address(value).scope_id
    except ValueError:
        return False


_FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "date": _is_date, "date-time": _is_date_time, "time": _is_time, "email": _is_email,
    "uuid": lambda value: bool(_UUID.fullmatch(value)), "ipv4": _is_ipv4, "ipv6": _is_ipv6}
ASSERTED_FORMATS = tuple(_FORMAT_CHECKS)


def _format_checker() -> FormatChecker:
    """The one checker every module validator shares: only these formats, strings only."""
    checker = FormatChecker(formats=())
    for name, check in _FORMAT_CHECKS.items():
        checker.checks(name)(lambda value, check=check: not isinstance(value, str) or check(value))
    return checker


FORMATS = _format_checker()


ModuleValidator = validators.extend(Draft202012Validator, {
    **_keyword_table(), "$ref": _budgeted(_keywords.ref),
    "$dynamicRef": _budgeted(_keywords.dynamicRef)})


def _refuse(uri: str) -> Resource:
    raise Refused(f"{uri} is not part of the bundle")


EMPTY = Registry(retrieve=_refuse)      # type: ignore[call-arg]
_META = Draft202012Validator(Draft202012Validator.META_SCHEMA, registry=EMPTY)
# the Python metaschema check costs ~2 ms per subschema (a 1 MB schema: 30 s in a web
# worker); the Rust one answers valid/invalid in microseconds, Python then words the errors
_FAST_META = jsonschema_rs.Draft202012Validator(Draft202012Validator.META_SCHEMA)


def validator(schema: Any, linked: Linked | None = None) -> ModuleValidator:
    """The validator of a module schema; ``linked`` is what :func:`link` returned for it.

    Nothing is ever retrieved: a ref outside ``linked`` fails (``Unresolvable``).
    """
    if not linked:
        return ModuleValidator(schema, registry=EMPTY, format_checker=FORMATS)
    base = linked["base"]
    registry = EMPTY.with_resources(
        [(base, DRAFT202012.create_resource(schema))] +
        [(uri, DRAFT202012.create_resource(c)) for uri, c in linked["resources"].items()])
    # the root is reached by its bundle name, so its relative refs resolve as at publish
    return ModuleValidator({"$ref": base}, registry=registry, format_checker=FORMATS)


MAX_MESSAGE = 300      # characters of one error message (they quote the value checked)


def errors(check: Any, value: Any) -> list[ValidationError]:
    """Validation errors of ``value`` (``check`` from :func:`validator`), by place; [] if valid.

    The one way to run a module validator: within a budget of MAX_REFS ref
    expansions (both passes together), never raising: a value nested too deeply,
    or a stored ref or pattern from before these rules, is an error like any other.
    """
    token = _BUDGET.set([MAX_REFS])
    try:
        if check.is_valid(value):
            return []
        found = sorted(check.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        for error in found:         # "'…3 MiB of the caller's text…' is too long": not echoed
            if len(error.message) > MAX_MESSAGE:   # keep both ends: the verdict is at the end
                head = MAX_MESSAGE // 2
                error.message = (error.message[:head] + " … "
                                 + error.message[-(MAX_MESSAGE - head - 3):])
        return found
    except TooCostly:
        return [ValidationError(f"checking this value needs more than {MAX_REFS:,} $ref "
                                "expansions of the schema")]
    except RecursionError:
        return [ValidationError("nested too deeply to check against the schema")]
    except Unresolvable:        # stored before refs were checked: nothing is fetched now
        return [ValidationError("the schema refers outside its bundle")]
    except re2.error:           # likewise: a pattern stored before RE2 was the rule
        return [ValidationError("a pattern of the schema cannot run in linear time")]
    finally:
        _BUDGET.reset(token)


def meta_errors(schema: Any) -> list[Any]:
    """How ``schema`` breaks the 2020-12 metaschema, sorted by place (at most 100 errors)."""
    try:
        if _FAST_META.is_valid(schema):
            return []
        if len(jsonio.dumps(schema)) > 64 << 10:      # big: words from Rust, not 30 s of Python
            return [ValidationError(e.message, instance=e.instance, path=e.instance_path)
                    for e in itertools.islice(_FAST_META.iter_errors(schema), 100)]
    except (ValueError, OverflowError, RecursionError):    # numbers Rust cannot hold
        pass
    return sorted(_META.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path)))


# --- publish: resolve every ref inside the bundle, check every pattern ---------------------

_IN_PLACE = {"allOf": "many", "anyOf": "many", "oneOf": "many", "not": "one", "if": "one",
             "then": "one", "else": "one", "dependentSchemas": "map"}
_OTHERS = {"properties": "map", "patternProperties": "map", "additionalProperties": "one",
           "propertyNames": "one", "items": "one", "prefixItems": "many", "contains": "one",
           "unevaluatedItems": "one", "unevaluatedProperties": "one", "contentSchema": "one",
           "$defs": "map", "definitions": "map"}


def _children(schema: dict) -> Iterator[tuple[str, tuple, Any]]:
    """(keyword, path, subschema) of every subschema a keyword holds."""
    for keyword, shape in (*_IN_PLACE.items(), *_OTHERS.items()):
        value = schema.get(keyword)
        if shape == "one":
            found = [((keyword,), value)]
        elif shape == "many" and isinstance(value, list):
            found = [((keyword, i), v) for i, v in enumerate(value)]
        elif shape == "map" and isinstance(value, dict):
            found = [((keyword, k), v) for k, v in value.items()]
        else:
            continue
        yield from ((keyword, path, v) for path, v in found if isinstance(v, (dict, bool)))


def _place(label: str, path: tuple) -> str:
    """``label`` then ``path`` as ``.properties.x[0]``; a file's label ends in ``:``."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"{label} {text[1:]}" if label.endswith(":") and text.startswith(".") else label + text


class _Linker:
    """Walks a schema and everything its refs reach, loading bundle files as it goes."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files, self.loaded, self.resources = files, {}, {}
        self.problems: list[tuple[str, str]] = []
        self.edges: dict[int, list[tuple[int, str]]] = {}
        self.seen: set[int] = set()
        self.local: dict[int, int] = {}        # subschemas evaluated in place of a ref target
        self.keep: list[Any] = []       # ids of walked contents stay valid while we walk
        self.external = False

    def retrieve(self, uri: str) -> Resource:
        """A schema file of the bundle, by its bundle name; anything else is refused."""
        if uri in self.resources:
            return self.resources[uri]
        if ":" not in uri:
            raise Refused("a relative $ref under a $id that is not a URL has no folder to be "
                          "read from: drop the $id, or refer by #/ pointer")
        if not uri.startswith(BUNDLE):
            raise Refused(f"{uri!r} is outside the bundle: a $ref may name only the bundle's "
                          "own schema files (by relative path) and #/ pointers")
        name = unquote(uri[len(BUNDLE):])
        if name not in self.files or not name.endswith(".json"):
            raise Refused(f"no schema file {name!r} in the bundle (a relative $ref is read "
                          "from the referring file's folder; inline schemas from the root)")
        try:
            contents = jsonio.loads(self.files[name], where=name)
        except jsonio.JSONRefused as exc:
            raise Refused(exc.message) from None
        bad = meta_errors(contents) if isinstance(contents, (dict, bool)) else [None]
        if bad:
            raise Refused(f"{name} is not a JSON Schema (2020-12)" +
                          (f": {bad[0].message}" if bad[0] is not None else ""))
        self.loaded[uri] = contents
        self.resources[uri] = DRAFT202012.create_resource(contents)
        return self.resources[uri]

    def node(self, resolver: Any, schema: Any, key: int | None, where: str,
             enter: bool = True) -> None:
        """Check one (sub)schema; ``key`` names the ref target it is evaluated in place of."""
        if not isinstance(schema, dict):
            return
        if key is not None:
            self.local[key] = self.local.get(key, 0) + 1
        if enter:
            try:
                resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
            except Exception:      # noqa: BLE001 - urljoin refuses some $id values (ValueError)
                self.problems.append((_place(where, ("$id",)), f"{schema.get('$id')!r} is not a URI"))
                return
        if "$schema" in schema and schema["$schema"] not in META:
            self.problems.append((_place(where, ("$schema",)), "only JSON Schema 2020-12 is supported "
                                  f"({sorted(META)[0]}); remove $schema or use it"))
        patterns = [(("pattern",), schema["pattern"])] if isinstance(schema.get("pattern"), str) \
            else []
        if isinstance(schema.get("patternProperties"), dict):
            keys = list(schema["patternProperties"])
            patterns += [(("patternProperties", k), k) for k in keys]
            if len(keys) > 1:           # additionalProperties matches them joined by "|"
                patterns.append((("patternProperties",), "|".join(keys)))
        for at, pattern in patterns:
            self.pattern(pattern, _place(where, at))
        for keyword in ("$ref", "$dynamicRef"):
            if isinstance(schema.get(keyword), str):
                self.follow(resolver, schema[keyword], key, _place(where, (keyword,)))
        for keyword, path, sub in _children(schema):
            self.node(resolver, sub, key if keyword in _IN_PLACE else None, _place(where, path))

    def pattern(self, pattern: str, where: str) -> None:
        try:
            compile_pattern(pattern)
        except re2.error as exc:
            why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(
                exc.args[0], bytes) else str(exc)
            self.problems.append((where, f"{pattern[:80]!r} cannot run in linear time (RE2): "
                                  f"{why}; backreferences and lookaround are not supported"))

    def follow(self, resolver: Any, ref: str, key: int | None, where: str) -> None:
        """Resolve one ref (loading bundle files) and walk its target once."""
        if not ref.startswith("#"):
            self.external = True
        try:
            resolved = resolver.lookup(ref)
        except RecursionError:
            raise
        except Exception as exc:   # noqa: BLE001 - referencing raises several kinds
            self.problems.append((where, _why(ref, exc)))
            return
        target = id(resolved.contents)
        self.keep.append(resolved.contents)
        if key is not None:
            self.edges.setdefault(key, []).append((target, where))
        if target not in self.seen:
            self.seen.add(target)
            origin = where.split(" → ")[0]      # where the chain of refs started
            self.node(resolved.resolver, resolved.contents, target, f"{origin} → {ref}",
                      enter=False)

    def expansion(self, node: int, memo: dict[int, int]) -> int:
        """Subschemas evaluated against one value when ``node`` is (refs inlined; no cycles)."""
        if node not in memo:
            memo[node] = 0              # (a DAG here: cycles were refused first)
            memo[node] = min(self.local.get(node, 1) + sum(
                self.expansion(target, memo) for target, _ in self.edges.get(node, ())),
                10 ** 9)
        return memo[node]

    def cycle(self, root: int) -> tuple[str, str] | None:
        """A ref loop that consumes no input (validation would never end), if any."""
        state: dict[int, int] = {}           # 1 on the path, 2 done

        def visit(node: int) -> tuple[str, str] | None:
            state[node] = 1
            for target, where in self.edges.get(node, ()):
                if state.get(target) == 1:
                    return where, "this $ref leads back to itself without reading any " \
                        "input: validation would never end"
                if target not in state and (found := visit(target)):
                    return found
            state[node] = 2
            return None
        for start in [root, *self.edges]:
            if start not in state and (found := visit(start)):
                return found
        return None


def _why(ref: str, exc: BaseException) -> str:
    """Words for a ref that did not resolve."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, Refused):
            return f"$ref {ref!r}: {cause}"
        cause = cause.__cause__
    if isinstance(exc, Unresolvable) and str(exc):
        return f"$ref {ref!r} does not resolve: {exc}"
    return f"$ref {ref!r} does not resolve inside the bundle"


def link(schema: Any, files: Mapping[str, bytes], path: str | None,
         where: str) -> tuple[Linked, list[tuple[str, str]]]:
    """Resolve ``schema``'s refs in the bundle and check its patterns, before it is stored.

    ``path`` is the schema's bundle file (None: inline in manifest.toml); ``where``
    locates problems. Returns the files its refs reach (``Linked``, for
    :func:`validator`) and every problem as ``(where, message)``.
    """
    walk = _Linker(files)
    base = BUNDLE + (path or "manifest.toml")
    registry = Registry(retrieve=walk.retrieve).with_resource(  # type: ignore[call-arg]
        base, DRAFT202012.create_resource(schema))
    walk.keep.append(schema)
    try:
        walk.node(registry.resolver(base), schema, id(schema), where)
        if not walk.problems and (loop := walk.cycle(id(schema))):
            walk.problems.append(loop)
        elif not walk.problems and (size := walk.expansion(id(schema), {})) > MAX_REFS:
            walk.problems.append((where, f"its refs expand to {size:,} subschemas checked "
                                  f"against one value (at most {MAX_REFS:,}): refer to shared "
                                  "definitions fewer times"))
    except RecursionError:          # refs chained through thousands of definitions
        walk.problems.append((where, "its refs chain too deeply to be checked"))
    linked = {"base": base, "resources": walk.loaded} if walk.external else {}
    return linked, walk.problems[:MAX_PROBLEMS]
