"""Error messages say what was sent in the client's terms (JSON: null, true, 310000, "-1.001"),
clipped when huge, and say what to fix: never a Python repr, never an empty "send only"."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, strategies as st

from marketplace.jsonio import shown
from tests.governance.proposals_support import PAID, SH, ZJ, fixed_now, world  # noqa: F401

PYTHON = re.compile(r"\b(None|True|False)\b|'[^']*'")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=60),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@given(JSON_VALUES)
def test_a_sent_value_is_shown_as_json_and_clipped(value):
    text = shown(value)
    assert len(text) <= 60
    full = json.dumps(value, ensure_ascii=False)
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > 15:
        assert text.endswith(f"(a number of {len(str(abs(value)))} digits)")
        assert text.startswith(str(value)[:12])
    else:
        assert text == full or (text.endswith("…") and full.startswith(text[:-1]))


@pytest.mark.parametrize("value, text", [
    (None, "null"), (True, "true"), (False, "false"), (310000, "310000"), ("310000", '"310000"'),
    ("-1.001", '"-1.001"'), (10**26, "100000000000… (a number of 27 digits)"),
    (-10**26, "-100000000000… (a number of 27 digits)"),
    pytest.param(10**5000, "… (a number of over 4,000 digits)", id="10**5000"),
])
def test_shown_examples(value, text):
    assert shown(value) == text


def _message(answer) -> str:
    body = answer.get_json()
    return body["message"] + " " + " ".join(d["message"] for d in body.get("details", []))


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_vote_with_a_field_says_the_body_must_be_empty(world, decision):
    pid = world.propose(ZJ, {"kind": "terms", "terms": PAID}).get_json()["id"]
    answer = world.client.post(f"/api/v1/proposals/{pid}/{decision}", json={"why": "x"},
                               headers=world.tokens[SH])
    assert answer.status_code == 400 and answer.get_json()["error"] == "unknown_field"
    message = answer.get_json()["message"]
    assert "takes no fields" in message and "{}" in message and "send only" not in message
    assert '"why"' in message


@pytest.mark.parametrize("owner, said", [
    ({"code": None, "share_bps": 5000}, "got null"),
    ({"code": 310000, "share_bps": 5000}, "got 310000"),
    ({"code": "310000", "share_bps": True}, "got true"),
    ({"code": "310000", "share_bps": None}, "got null"),
    ({"code": "310000", "share_bps": 10**26}, "got 100000000000… (a number of 27 digits)"),
    ({"code": "310000", "share_bps": -5}, "got -5"),
])
def test_owner_problems_quote_the_value_as_json(world, owner, said):
    body = {"kind": "owners", "owners": [{"code": ZJ, "share_bps": 5000}, owner]}
    answer = world.propose(ZJ, body)
    assert answer.status_code == 400
    message = _message(answer)
    assert said in message, message
    assert not PYTHON.search(message.replace("don't", "")), message
    assert "0" * 20 not in message


@pytest.mark.parametrize("body, said", [
    ({"kind": None}, "got null"),
    ({"kind": True}, "got true"),
    ({"kind": "terms", "terms": {**PAID, "free_units": True}}, "got true"),
    ({"kind": "terms", "terms": {**PAID, "free_units": 10**30}}, "(a number of 31 digits)"),
    ({"kind": "terms", "terms": {"kind": None}}, "unknown kind null"),
    ({"kind": "terms", "terms": {**PAID, "model": False}}, "unknown model false"),
    ({"kind": "terms", "terms": {**PAID, "currency": 156}}, "got 156"),
    ({"kind": "owners", "owners": [{"code": ZJ, "share_bps": 10000}], "build_cost": "-1.5"},
     'got "-1.5"'),
])
def test_proposal_problems_quote_the_value_as_json(world, body, said):
    answer = world.propose(ZJ, body)
    assert answer.status_code == 400
    message = _message(answer)
    assert said in message, message
    assert not PYTHON.search(message), message


@pytest.fixture
def admin(factory):
    return factory.headers("admin", "110000", "read,admin")


@pytest.mark.parametrize("amount, said", [
    ("-1.001", 'at most 2 decimal places in CNY, got "-1.001"'),
    ("-12,34.5", '"-12,34.5" is not an amount'),
    ("-" + "9" * 30, '"-' + "9" * 30 + '" is too large'),
    (None, "write the amount as a string"),
    ("-" + "9" * 60, "is not an amount"),
])
def test_adjustment_amount_problems_keep_the_sign(client, admin, amount, said):
    answer = client.post("/api/v1/adjustments", headers=admin,
                         json={"period": "2026-10", "installation": 1, "amount": amount, "reason": "x"})
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_amount"
    message = answer.get_json()["message"]
    assert said in message, message
    assert "None" not in message and len(message) < 300


@pytest.mark.parametrize("amount", ["0", "0.00", "-0.00", "-0"])
def test_a_zero_adjustment_is_refused_as_zero_not_as_not_positive(client, admin, amount):
    answer = client.post("/api/v1/adjustments", headers=admin,
                         json={"period": "2026-10", "installation": 1, "amount": amount, "reason": "x"})
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_amount"
    message = answer.get_json()["message"]
    assert "must not be zero" in message and "greater than 0" not in message
    assert '"-12.34"' in message                      # it says how to send a credit


def test_a_null_period_is_named_null(client, admin):
    answer = client.post("/api/v1/adjustments", headers=admin,
                         json={"period": None, "installation": 1, "amount": "-1.00", "reason": "x"})
    assert answer.status_code == 400
    message = _message(answer)
    assert "period null is not a month" in message and "None" not in message


def test_the_signed_parser_keeps_credits_and_debits():
    from marketplace.money import parse_money
    from marketplace.settlement.adjustments import parse_signed

    assert parse_signed("-12.34") == -1234 and parse_signed("5") == 500
    assert parse_signed("-1,234.50") == -123450
    with pytest.raises(ValueError, match="is not an amount"):
        parse_money("-12.34")                          # a payment is never negative


@pytest.mark.parametrize("kind, typed, said", [
    ("integer", "1" * 26, "超出范围：整数最多 18 位"),
    ("integer", "-" + "1" * 19, "超出范围：整数最多 18 位"),
    ("integer", "12a", "请输入整数"),
    ("integer", "1.5", "请输入整数"),
    ("number", "1" * 26, "超出范围：整数部分最多 18 位，小数最多 12 位"),
    ("number", "1." + "1" * 13, "超出范围：整数部分最多 18 位，小数最多 12 位"),
    ("number", "1e5", "请输入数字"),
])
def test_a_form_number_too_long_is_out_of_range_not_of_the_wrong_kind(app, kind, typed, said):
    from marketplace.web.schema_form import Field, _convert

    with app.test_request_context("/?lang=zh"):
        with pytest.raises(ValueError) as refused:
            _convert(Field(name="n", kind=kind, title="n"), typed)
    assert str(refused.value) == said


def test_a_form_number_too_long_is_out_of_range_in_english_too(app):
    from marketplace.web.schema_form import Field, _convert

    with app.test_request_context("/?lang=en"):
        with pytest.raises(ValueError, match="Out of range: a whole number has at most 18 digits"):
            _convert(Field(name="n", kind="integer", title="n"), "1" * 26)
        assert _convert(Field(name="n", kind="integer", title="n"), "-" + "9" * 18) == (True, -int("9" * 18))
