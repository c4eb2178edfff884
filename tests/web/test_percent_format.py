"""Translated text and flask-babel's ``%`` formatting: no page can 500 on a translated ``%``.

How the text is formatted decides what a ``%`` must look like:
- in templates (Jinja i18n, ``newstyle``) every ``_()``/``gettext``/``ngettext`` string is
  ``%``-formatted, variables or not, so a literal percent sign is ``%%``;
- in Python, flask-babel's ``gettext``/``lazy_gettext``/``pgettext`` format only when keyword
  variables are passed (then ``%%``; without them a ``%%`` would be shown doubled), and
  ``ngettext`` always formats (it adds ``num``);
- a catalogue's msgstr is formatted like its msgid, so it takes the same shape and the same names.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from babel.messages.pofile import read_po
from jinja2 import nodes

from tests.governance.proposals_support import PAID, SH, ZJ, fixed_now, world  # noqa: F401
from tests.web.conftest import login, page_text

REPO = Path(__file__).resolve().parents[2]
# what Python's `%` with a mapping accepts: `%%` or `%(name)<flags><width><.precision><type>`
TOKEN = re.compile(r"%(?:%|\((?P<name>[A-Za-z_]\w*)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa])")
# flask-babel function -> (positions of the message arguments, always formatted)
PY_FUNCS = {"gettext": ((0,), False), "lazy_gettext": ((0,), False), "pgettext": ((1,), False),
            "lazy_pgettext": ((1,), False), "ngettext": ((0, 1), True),
            "lazy_ngettext": ((0, 1), True), "npgettext": ((1, 2), True)}
TEMPLATE_FUNCS = {"_": (0,), "gettext": (0,), "pgettext": (1,), "ngettext": (0, 1), "npgettext": (1, 2)}


def format_problem(text: str, given: set[str] | None) -> str | None:
    """Why ``text % variables`` would fail or show wrong (None: it is fine); ``given`` None: any names."""
    if "%" in TOKEN.sub("", text):
        return "a bare % (write %% for a percent sign)"
    used = {m.group("name") for m in TOKEN.finditer(text) if m.group("name")}
    if given is not None and used - given:
        return f"names {sorted(used - given)} not passed"
    return None


def literal_problem(text: str) -> str | None:
    """Why ``text`` shown as is (never formatted) would read wrong."""
    if TOKEN.search(text):
        return "%% or %(name)s in a string that is never formatted (it would show as typed)"
    return None


def python_messages(path: Path):
    """(line, message, formatted, variable names or None) of flask-babel calls with literal messages."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    alias = {a.asname or a.name: a.name for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.module == "flask_babel"
             for a in node.names if a.name in PY_FUNCS}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = (alias.get(func.id) if isinstance(func, ast.Name) else
                func.attr if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id == "flask_babel" and func.attr in PY_FUNCS else None)
        if not name:
            continue
        positions, always = PY_FUNCS[name]
        given = {k.arg for k in node.keywords}
        names = None if None in given else given | ({"num"} if always else set())
        for position in positions:
            if position < len(node.args):
                arg = node.args[position]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield node.lineno, arg.value, always or bool(given), names


def template_messages(app):
    """(template, line, message, variable names) of every literal message in every template."""
    env = app.jinja_env
    for name in sorted(env.list_templates()):
        source = env.loader.get_source(env, name)[0]
        for call in env.parse(source, name).find_all(nodes.Call):
            if not (isinstance(call.node, nodes.Name) and call.node.name in TEMPLATE_FUNCS):
                continue
            given = None if call.dyn_kwargs else {k.key for k in call.kwargs}
            if given is not None and call.node.name in ("ngettext", "npgettext"):
                given |= {"num"}
            for position in TEMPLATE_FUNCS[call.node.name]:
                if position < len(call.args):
                    arg = call.args[position]
                    if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                        yield name, call.lineno, arg.value, given


def python_sources():
    """Every Python source of the product (marketplace and platform plugins)."""
    return sorted([*(REPO / "marketplace").rglob("*.py"), *(REPO / "plugins").rglob("*.py")])


def test_python_translated_strings_format_as_flask_babel_formats_them():
    problems = []
    for path in python_sources():
        for line, text, formatted, names in python_messages(path):
            why = format_problem(text, names) if formatted else literal_problem(text)
            if why:
                problems.append(f"{path.relative_to(REPO)}:{line} {text!r}: {why}")
    assert not problems, "\n".join(problems)


def test_template_translated_strings_are_valid_format_strings(app):
    problems = [f"templates/{name}:{line} {text!r}: {why}"
                for name, line, text, given in template_messages(app)
                if (why := format_problem(text, given))]
    assert not problems, "\n".join(problems)


def test_the_scanners_see_the_product_messages(app):
    """The scans are not vacuous: they find messages, with and without variables, in both kinds of file."""
    in_templates = list(template_messages(app))
    in_python = [m for path in python_sources() for m in python_messages(path)]
    assert len(in_templates) > 300 and len(in_python) > 50
    assert any("%(" in text for _, _, text, _ in in_templates)
    assert any(formatted for _, _, formatted, _ in in_python)
    assert any(not formatted for _, _, formatted, _ in in_python)
    assert format_problem("超过 50% 即通过", set())
    assert not format_problem("超过 50%% 即通过", set())
    assert format_problem("%(n)s 个", set()) and not format_problem("%(n)s 个", {"n"})
    assert literal_problem("80%%") and not literal_problem("80%")


def po_messages():
    """(file, line, msgid, msgstr) of every translated entry of every catalogue."""
    for po in sorted((REPO / "marketplace" / "translations").glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as handle:
            catalog = read_po(handle)
        for message in catalog:
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
            strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
            for string in strings:
                if string:
                    yield po.relative_to(REPO), message.lineno, ids[0], string


def test_catalogue_msgstrs_are_formatted_like_their_msgids(app):
    """A msgid formatted in the product has a msgstr that formats too, with the same names;
    a msgid shown as is (Python, no variables) has a msgstr shown as is."""
    literal = {text for path in python_sources() for _, text, formatted, _ in python_messages(path)
               if not formatted}
    formatted = {text for _, _, text, _ in template_messages(app)}
    formatted |= {text for path in python_sources() for _, text, f, _ in python_messages(path) if f}
    problems = [f"{text!r} is both formatted and shown as is: one of them reads wrong"
                for text in literal & formatted if "%" in text]
    for po, line, msgid, msgstr in po_messages():
        if msgid in literal and msgid not in formatted:
            why = literal_problem(msgstr)
        else:
            why = format_problem(msgid, None) or format_problem(msgstr, None)
            names = [{m.group("name") for m in TOKEN.finditer(t) if m.group("name")} for t in (msgid, msgstr)]
            if not why and names[0] != names[1]:
                why = f"msgstr names {sorted(names[1])} differ from msgid names {sorted(names[0])}"
        if why:
            problems.append(f"{po}:{line} {msgid!r} -> {msgstr!r}: {why}")
    assert not problems, "\n".join(problems)


def test_a_terms_proposal_page_renders_its_percent_rule_in_chinese_and_english(world):
    pid = world.propose(ZJ, {"kind": "terms", "terms": PAID}).get_json()["id"]
    client = world.app.test_client()
    login(client, world.emails[SH])
    zh = client.get(f"/publisher/proposals/{pid}?lang=zh")
    assert zh.status_code == 200
    rule = "同意方份额超过 50% 即通过；反对方份额达到 50% 即否决。"
    assert rule in page_text(zh.get_data(as_text=True))
    en = client.get(f"/publisher/proposals/{pid}?lang=en")
    assert en.status_code == 200
    assert "more than 50 % of the shares" in page_text(en.get_data(as_text=True))
