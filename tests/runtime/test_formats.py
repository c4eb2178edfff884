"""Asserted formats at the gateway (DESIGN §5, §14): a value breaking its declared format is
refused before any module code runs (422, nothing billed); an output breaking one is a 502."""
from __future__ import annotations


import pytest

from tests.runtime.composites import DEFAULT_REQUIRES, flow_folder, module_folder, step
from tests.runtime.conftest import PAY, TEXT_OUT, usage_rows

DATED_CODE = '''
"""Toy module that trusts its declared formats, as the sample modules do."""
import datetime

from marketplace.sdk import hookimpl


@hookimpl
def file(payload, context):
    start = datetime.date.fromisoformat(payload["start_date"])     # 2026-02-30 would raise
    return {"text": start.isoformat(), "on": start.isoformat()}


@hookimpl
def bad_date_out(payload, context):
    return {"text": "x", "on": "2026-02-30"}
'''

DATED_IN = ('{ type = "object", required = ["start_date"], properties = { start_date = '
            '{ type = "string", format = "date", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" }, '
            'client_ip = { type = "string", format = "ipv4" }, '
            'reference = { type = "string", format = "x-gov-reference" } } }')
DATED_OUT = ('{ type = "object", required = ["text", "on"], properties = { text = '
             '{ type = "string" }, on = { type = "string", format = "date" } } }')


def dated_folder(tmp):
    """A paid toy module whose operations declare format "date" (and one unknown format)."""
    return module_folder(tmp, "toy-dated", "1.0.0", f'''
[[operations]]
name = "file"
units = 1
input = {DATED_IN}
output = {DATED_OUT}

[[operations]]
name = "bad_date_out"
units = 1
input = {{ type = "object" }}
output = {DATED_OUT}

[terms]
{PAY}
''', DATED_CODE, title="玩具日期", summary="Toy module with dated input.")


@pytest.fixture
def dated(catalog, shenzhen):
    """toy-dated published and installed for Shenzhen: its installation id."""
    catalog.publish_folder(dated_folder(catalog.tmp))
    reply = shenzhen.install("toy-dated")
    assert reply.status_code == 201, reply.json
    return reply.json["id"]


@pytest.mark.parametrize("payload,where", [
    ({"start_date": "2026-02-30"}, "start_date"),
    ({"start_date": "9999-12-31", "client_ip": "10.0.0.256"}, "client_ip"),
    ({"start_date": "2026-00-10"}, "start_date"),
])
def test_a_value_breaking_its_format_is_422_located_not_run_not_billed(
        app, dated, shenzhen, payload, where):
    reply = shenzhen.invoke("toy-dated", "file", payload)
    assert reply.status_code == 422, reply.json
    assert reply.json["error"] == "invalid_input"
    assert [d["where"] for d in reply.json["details"]] == [where]
    assert "is not a" in reply.json["details"][0]["message"]
    [event] = usage_rows(app, dated)
    assert (event.status, event.units) == ("rejected", 0)


def test_valid_formats_and_unknown_formats_pass(app, dated, shenzhen):
    reply = shenzhen.invoke("toy-dated", "file", {"start_date": "2024-02-29",
                                                  "client_ip": "192.168.0.1",
                                                  "reference": "not checked: unknown format"})
    assert reply.status_code == 200, reply.json
    assert reply.json["on"] == "2024-02-29"
    [event] = usage_rows(app, dated)
    assert (event.status, event.units) == ("ok", 1)


def test_an_output_breaking_its_format_is_502_not_billed(app, dated, shenzhen):
    reply = shenzhen.invoke("toy-dated", "bad_date_out", {})
    assert reply.status_code == 502, reply.json
    assert reply.json["error"] == "module_error"
    [event] = usage_rows(app, dated)
    assert (event.status, event.units) == ("error", 0)


DATED_FLOW_IN = ('{ type = "object", required = ["moved_on"], properties = { moved_on = '
                 '{ type = "string", format = "date" } } }')


@pytest.fixture
def dated_flow(catalog, shenzhen):
    """A paid composite whose own input declares format "date" and whose steps are paid too."""
    catalog.toy("toy-echo", terms=PAY, implements="gov.toy")
    requires = DEFAULT_REQUIRES + '\n[[requires]]\nmodule = "toy-dated"\noperations = ["file"]\n'
    folder = flow_folder(catalog.tmp, "toy-dated-flow", terms=PAY, requires=requires)
    manifest = folder / "manifest.toml"
    text = manifest.read_text("utf-8").replace('input = { type = "object" }',
                                               f"input = {DATED_FLOW_IN}")
    manifest.write_text(text, "utf-8")
    catalog.publish_folder(folder)
    catalog.publish_folder(dated_folder(catalog.tmp))
    return {m: shenzhen.install(m).json["id"] for m in ("toy-echo", "toy-dated", "toy-dated-flow")}


def test_a_composite_input_breaking_its_format_is_refused_before_any_step(
        app, dated_flow, shenzhen):
    reply = shenzhen.invoke("toy-dated-flow", "run", {"moved_on": "2026-02-30", "steps": [
        step("toy-echo", "echo", {"text": "一"})]})
    assert reply.status_code == 422, reply.json
    assert reply.json["error"] == "invalid_input"
    assert [d["where"] for d in reply.json["details"]] == ["moved_on"]
    assert usage_rows(app, dated_flow["toy-echo"]) == []
    [own] = usage_rows(app, dated_flow["toy-dated-flow"])
    assert (own.status, own.units) == ("rejected", 0)


def test_a_step_breaking_its_targets_format_is_refused_by_the_same_check(
        app, dated_flow, shenzhen):
    reply = shenzhen.invoke("toy-dated-flow", "run", {"moved_on": "2026-02-28", "steps": [
        step("toy-dated", "file", {"start_date": "2026-02-30"})]})
    assert reply.status_code == 502, reply.json
    assert (reply.json["reason"], reply.json["where"]) == ("invalid_input", "toy-dated/file")
    [failed] = usage_rows(app, dated_flow["toy-dated"])
    assert (failed.status, failed.units) == ("rejected", 0)
    [own] = usage_rows(app, dated_flow["toy-dated-flow"])
    assert (own.status, own.units) == ("error", 0)
