"""A form generated from an operation's input JSON Schema, read back into a payload.

Fields: strings, numbers, integers, booleans, enums, arrays of strings (one a
line), nested objects one level deep (a fieldset); anything else is a JSON text
area. Field names are dotted paths (``applicant.id_number``). The payload is
checked by the operation's own validator (:mod:`marketplace.schemas`) and each
problem is put next to the field it is about.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from marketplace import jsonio

INTEGER = re.compile(r"-?[0-9]{1,18}")
NUMBER = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,12})?")
# digits however many: a number typed right but too long is out of range, not "not a number"
ANY_INTEGER = re.compile(r"-?[0-9]+")
ANY_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
MAX_TEXT = 20_000
MAX_DEPTH = 16                  # a JSON field's nesting (the whole payload stays far below 64)
PROBLEMS = {
    "required": _l("必填"), "pattern": _l("格式不符合要求"), "enum": _l("请从列表中选择"),
    "type": _l("类型不对"), "minLength": _l("太短"), "maxLength": _l("太长"),
    "minimum": _l("太小"), "maximum": _l("太大"), "minItems": _l("至少填写一项"),
    "maxItems": _l("项数太多"), "format": _l("格式不符合要求"), "const": _l("取值不对"),
    "additionalProperties": _l("不接受的字段"),
}


@dataclass
class Field:
    """One input of the form."""

    name: str                   # dotted path, the HTML name
    kind: str                   # string | number | integer | boolean | enum | lines | json
    title: str
    description: str = ""
    required: bool = False
    options: list[str] = field(default_factory=list)
    value: str = ""
    errors: list[str] = field(default_factory=list)
    group: bool = False

    @property
    def html_id(self) -> str:
        """An id safe for HTML and CSS selectors."""
        return "f-" + self.name.replace(".", "-")


@dataclass
class Group:
    """A nested object: a fieldset of fields."""

    name: str
    title: str
    description: str = ""
    required: bool = False
    fields: list[Field] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    group: bool = True


def _kind(spec: Mapping[str, Any]) -> str:
    """The input kind for one property's schema."""
    if isinstance(spec.get("enum"), list) and all(isinstance(v, str) for v in spec["enum"]):
        return "enum"
    kind = spec.get("type")
    if kind in ("string", "number", "integer", "boolean"):
        return kind
    items = spec.get("items")
    if kind == "array" and isinstance(items, Mapping) and items.get("type") == "string":
        return "lines"
    return "json"


def _field(name: str, spec: Any, required: bool) -> Field:
    spec = spec if isinstance(spec, Mapping) else {}
    kind = _kind(spec)
    return Field(name=name, kind=kind, title=str(spec.get("title") or ""),
                 description=str(spec.get("description") or ""), required=required,
                 options=[str(v) for v in spec.get("enum", [])] if kind == "enum" else [])


def _properties(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], set[str]]:
    props = schema.get("properties")
    required = schema.get("required")
    return (props if isinstance(props, Mapping) else {},
            set(required) if isinstance(required, list) else set())


def build(schema: Any) -> list[Field | Group]:
    """The form's items, in the schema's property order."""
    if not isinstance(schema, Mapping):
        return []
    props, required = _properties(schema)
    items: list[Field | Group] = []
    for name, spec in props.items():
        if isinstance(spec, Mapping) and spec.get("type") == "object" and "properties" in spec:
            inner, inner_required = _properties(spec)
            items.append(Group(name=name, title=str(spec.get("title") or ""),
                               description=str(spec.get("description") or ""),
                               required=name in required,
                               fields=[_field(f"{name}.{key}", sub, key in inner_required)
                                       for key, sub in inner.items()]))
        else:
            items.append(_field(name, spec, name in required))
    return items


def _convert(item: Field, text: str) -> tuple[bool, Any]:
    """(given, value) from the submitted text; a text that is not of its kind is an error."""
    if item.kind == "lines":
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return bool(lines), lines
    text = text.strip() if item.kind != "string" else text
    if text == "":
        return False, None
    if item.kind == "integer":
        if not INTEGER.fullmatch(text):
            raise ValueError(_("超出范围：整数最多 18 位") if ANY_INTEGER.fullmatch(text)
                             else _("请输入整数"))
        return True, int(text)
    if item.kind == "number":
        if not NUMBER.fullmatch(text):
            raise ValueError(_("超出范围：整数部分最多 18 位，小数最多 12 位")
                             if ANY_NUMBER.fullmatch(text) else _("请输入数字"))
        return True, int(text) if INTEGER.fullmatch(text) else float(text)
    if item.kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError(_("请选择是或否"))
        return True, text == "true"
    if item.kind == "json":
        try:
            return True, jsonio.loads(text, item.name, max_depth=MAX_DEPTH)
        except jsonio.JSONRefused:
            raise ValueError(_("请输入有效的 JSON")) from None
    return True, text


def read(items: list[Field | Group], form: Mapping[str, str]) -> tuple[dict, bool]:
    """The payload from submitted form data; False when some text could not be read."""
    payload: dict[str, Any] = {}
    ok = True
    for item in items:
        fields, target = (item.fields, {}) if isinstance(item, Group) else ([item], payload)
        for one in fields:
            one.value = str(form.get(one.name, ""))[:MAX_TEXT]
            try:
                given, value = _convert(one, one.value)
            except ValueError as exc:
                one.errors.append(str(exc))
                ok = False
                continue
            if given:
                target[one.name.split(".")[-1]] = value
        if isinstance(item, Group) and (target or item.required):
            payload[item.name] = target
    return payload, ok


def _where(error: Any) -> list[str]:
    """Dotted field names a validation error is about (array items count as their field)."""
    path = []
    for part in error.absolute_path:
        if isinstance(part, int):
            break
        path.append(str(part))
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [p for p in error.validator_value if p not in error.instance]
        return [".".join([*path, p]) for p in missing]
    return [".".join(path)]


def place(items: list[Field | Group], errors: list[Any]) -> list[str]:
    """Put schema problems next to their fields; returns those about no field (form level)."""
    by_name: dict[str, Field | Group] = {}
    for item in items:
        by_name[item.name] = item
        for one in getattr(item, "fields", []):
            by_name[one.name] = one
    loose = []
    for error in errors:
        text = str(PROBLEMS.get(error.validator, "")) or error.message
        for name in _where(error):
            target = by_name.get(name)
            if target is None:
                loose.append(f"{name or '(root)'}: {error.message}")
            elif text not in target.errors:
                target.errors.append(text)
    return loose
