"""The module developer's test kit answers context.call (marketplace.testing, DESIGN §14)."""
from __future__ import annotations

import pytest

from marketplace import testing
from marketplace.sdk import Context, JurisdictionRef, ModuleError
from tests.runtime.conftest import SAMPLES

REQUIRES = [{"module": "toy-echo", "operations": ["echo", "refuse"]},
            {"interface": "gov.toy", "operations": ["echo"]}]


def test_answers_are_outputs_functions_or_errors_and_every_call_is_recorded():
    calls = []
    ctx = testing.composite_context({
        ("toy-echo", "echo"): lambda payload: {"text": payload["text"] * 2},
        ("gov.toy", "echo"): {"text": "fixed"},
        ("toy-echo", "refuse"): ModuleError("not_eligible", "no")}, REQUIRES, "toy-flow", calls)
    assert ctx.call("toy-echo", "echo", {"text": "ab"}) == {"text": "abab"}
    assert ctx.call("gov.toy", "echo", {"text": "x"}) == {"text": "fixed"}
    with pytest.raises(ModuleError) as refused:
        ctx.call("toy-echo", "refuse", {})
    assert refused.value.reason == "not_eligible"
    assert [c[:2] for c in calls] == [("toy-echo", "echo"), ("gov.toy", "echo"),
                                      ("toy-echo", "refuse")]


def test_an_undeclared_sub_call_is_refused_as_on_the_platform():
    ctx = testing.composite_context({("toy-other", "echo"): {"text": "x"}}, REQUIRES, "toy-flow")
    for target, operation in [("toy-other", "echo"), ("gov.toy", "refuse")]:
        with pytest.raises(ModuleError) as refused:
            ctx.call(target, operation, {})
        assert (refused.value.reason, refused.value.where) == \
            ("undeclared_dependency", f"{target}/{operation}")


def test_a_context_without_a_caller_refuses_sub_calls():
    with pytest.raises(ModuleError) as refused:
        Context(jurisdiction=JurisdictionRef("440300", "深圳市")).call("toy-echo", "echo", {})
    assert refused.value.reason == "calls_unavailable"


def test_answers_from_the_sample_modules_own_examples():
    answers = testing.example_answers_of(sorted(SAMPLES.iterdir()))
    verify = answers[("resident-id-verification", "verify_id")]
    assert verify({"no": "such example"}) == verify({"also": "not one"})    # the first example
    assert isinstance(verify({}), dict)


def test_a_module_error_carries_its_reason_in_args_and_str_and_survives_pickling():
    import pickle

    raised = ModuleError("undeclared_dependency", "toy-flow does not declare echo", "x/echo")
    assert raised.args[0] == "undeclared_dependency"
    assert str(raised) == "undeclared_dependency: toy-flow does not declare echo"
    assert (raised.reason, raised.message, raised.where) == \
        ("undeclared_dependency", "toy-flow does not declare echo", "x/echo")
    copy = pickle.loads(pickle.dumps(raised))
    assert (copy.args, str(copy), copy.reason, copy.message, copy.where) == \
        (raised.args, str(raised), raised.reason, raised.message, raised.where)
    bare = ModuleError("not_eligible")
    assert (bare.args, str(bare), bare.message) == (("not_eligible",), "not_eligible",
                                                    "not_eligible")
