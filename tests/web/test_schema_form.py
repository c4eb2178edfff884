"""The form built from an input JSON Schema: kinds of fields, reading back, problems placed."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace import schemas
from marketplace.web import schema_form
from tests.web.conftest import REPO

SCHEMA = json.loads((REPO / "modules" / "cross-province-relocation" / "schemas" /
                     "relocate.input.json").read_text(encoding="utf-8"))


@pytest.fixture
def request_context(app):
    with app.test_request_context():
        yield


def _by_name(items):
    out = {}
    for item in items:
        out[item.name] = item
        for inner in getattr(item, "fields", []):
            out[inner.name] = inner
    return out


def test_kinds_titles_and_required_marks(request_context):
    fields = _by_name(schema_form.build(SCHEMA))
    assert fields["applicant"].group and fields["applicant"].required
    assert fields["applicant.id_number"].kind == "string" and fields["applicant.id_number"].required
    assert fields["applicant.id_number"].title == "公民身份号码"
    assert not fields["applicant.name"].required
    assert fields["contribution_history"].kind == "lines"
    assert fields["housing_fund.reason"].kind == "enum"
    assert fields["housing_fund.reason"].options[0] == "rent"
    assert fields["housing_fund.months"].kind == "integer"
    assert fields["housing_fund.owns_home_in_city"].kind == "boolean"
    assert not fields["housing_fund"].required


def test_reading_back_converts_and_leaves_empty_optional_parts_out(request_context):
    items = schema_form.build(SCHEMA)
    payload, ok = schema_form.read(items, {
        "applicant.id_number": "11010519491231002X", "from_region": "110105",
        "contribution_history": " 440300 2010-01 2015-12 8000.00 \r\n\n330100 2015-10 2020-06 1\n",
        "housing_fund.months": "", "housing_fund.owns_home_in_city": ""})
    assert ok
    assert payload == {"applicant": {"id_number": "11010519491231002X"}, "from_region": "110105",
                       "contribution_history": ["440300 2010-01 2015-12 8000.00",
                                                "330100 2015-10 2020-06 1"]}


def test_problems_are_placed_at_their_fields(request_context):
    items = schema_form.build(SCHEMA)
    payload, ok = schema_form.read(items, {"applicant.id_number": "123", "housing_fund.months": "0",
                                           "housing_fund.reason": "rent"})
    check = schemas.validator(SCHEMA)
    loose = schema_form.place(items, schemas.errors(check, payload))
    fields = _by_name(items)
    assert loose == []
    assert "格式不符合要求" in fields["applicant.id_number"].errors
    assert fields["housing_fund.months"].errors == ["太小"]
    assert fields["housing_fund.account_balance"].errors == ["必填"]
    assert fields["from_region"].errors == ["必填"] and fields["moved_on"].errors == ["必填"]
    assert fields["applicant.name"].errors == []


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])   # the app is only read
@given(st.dictionaries(st.sampled_from(["applicant.id_number", "housing_fund.months",
                                        "housing_fund.owns_home_in_city", "contribution_history",
                                        "from_region", "housing_fund.reason", "x.y"]),
                       st.text(max_size=40)))
def test_any_submitted_text_is_read_or_refused_at_its_field_never_raised(app, form):
    with app.test_request_context():
        items = schema_form.build(SCHEMA)
        payload, ok = schema_form.read(items, form)
        json.dumps(payload)
        refused = [f for f in _by_name(items).values() if f.errors]
        assert ok == (not refused)
        if ok:
            schema_form.place(items, schemas.errors(schemas.validator(SCHEMA), payload))
