"""Behaviour of 跨省迁居一件事: four steps through context.call, one result, located failures."""
from __future__ import annotations

import copy
import importlib
import sys
from pathlib import Path

import pytest

import cross_province_relocation as relocation
from marketplace.sdk import ModuleError
from marketplace.testing import composite_context

MODULES = Path(__file__).resolve().parents[2]
STEPS = [("resident-id-verification", "verify_id"), ("social-insurance-transfer", "compute_transfer"),
         ("housing-fund-withdrawal", "assess_withdrawal"), ("medical-filing-cross-region", "file_record")]


@pytest.fixture
def application(manifest) -> dict:
    """The manifest's example application (a copy to change)."""
    return copy.deepcopy(manifest["operations"][0]["examples"][0]["input"])


@pytest.fixture
def real(manifest, ctx):
    """(context, calls): sub-calls answered by the four real modules' code, as installed."""
    answers = {}
    for target, operation in STEPS:
        folder = str(MODULES / target)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        package = importlib.import_module(target.replace("-", "_"))
        answers[(target, operation)] = (
            lambda payload, hook=getattr(package, operation): hook(payload=payload, context=ctx))
    calls: list = []
    return composite_context(answers, manifest["requires"], "cross-province-relocation",
                             calls), calls


def test_manifest_example_runs_with_subcalls_answered_from_the_modules_examples(check_contract):
    assert check_contract(relocation) == 1


def test_requires_declares_the_steps_in_the_order_they_run(manifest, real, application):
    assert [(r["module"], r["operations"][0]) for r in manifest["requires"]] == STEPS
    context, calls = real
    relocation.relocate(payload=application, context=context)
    assert [(target, operation) for target, operation, _payload in calls] == STEPS


def test_each_step_answer_is_gathered_into_one_result(real, application):
    context, calls = real
    out = relocation.relocate(payload=application, context=context)
    assert [s["step"] for s in out["steps"]] == [1, 2, 3, 4]
    assert all(s["status"] == "done" for s in out["steps"])
    assert out["steps"][1]["output"]["total_transfer"] == "218920.00"
    assert out["summary"]["pension_total_transfer"] == "218920.00"
    assert out["summary"]["housing_fund_max_amount"] == "24000.00"
    assert out["summary"]["medical_filing_id"].startswith("YDBA-110105-")
    assert out["applicant"] == {"id_masked": "110105********002X", "name": "王秀英",
                                "birth_province": "北京市"}
    assert "住房租赁合同或租赁备案" in out["summary"]["documents"]


def test_payloads_follow_each_target_schema(real, application):
    context, calls = real
    relocation.relocate(payload=application, context=context)
    payloads = {target: payload for target, _op, payload in calls}
    assert payloads["resident-id-verification"] == {"id_number": "11010519491231002X",
                                                    "as_of": "2026-10-01"}
    assert payloads["social-insurance-transfer"]["segments"][0] == {
        "region": "440300", "from": "2010-01", "to": "2015-12", "monthly_wage": "8000.00"}
    assert payloads["medical-filing-cross-region"] == {
        "insured_id": "11010519491231002X", "insured_region": "110105",
        "destination_region": "440305", "filing_type": "异地长期居住", "start_date": "2026-03-01"}


def test_housing_fund_step_is_skipped_when_not_asked_for(real, application):
    context, calls = real
    del application["housing_fund"]
    out = relocation.relocate(payload=application, context=context)
    assert out["steps"][2] == {"step": 3, "title": "公积金提取", "target": "housing-fund-withdrawal",
                               "operation": "assess_withdrawal", "status": "skipped"}
    assert out["summary"]["housing_fund_max_amount"] is None
    assert "housing-fund-withdrawal" not in [target for target, _op, _p in calls]


def test_a_failing_step_stops_the_matter_with_a_located_error(manifest, application):
    calls: list = []
    answers = {("resident-id-verification", "verify_id"): {"valid": True, "id_masked": "x"},
               ("social-insurance-transfer", "compute_transfer"):
                   ModuleError("quota_exceeded", "quota used up", "social-insurance-transfer")}
    context = composite_context(answers, manifest["requires"], "cross-province-relocation", calls)
    with pytest.raises(ModuleError) as err:
        relocation.relocate(payload=application, context=context)
    assert err.value.reason == "step_failed"
    assert "step 2" in err.value.message and "social-insurance-transfer" in err.value.message
    assert "quota_exceeded" in err.value.message
    assert err.value.where == "step 2: social-insurance-transfer"
    assert len(calls) == 2                      # steps 3 and 4 never ran


def test_an_invalid_identity_stops_at_step_one(real, application):
    context, calls = real
    application["applicant"]["id_number"] = "110105194912310021"     # wrong check digit
    with pytest.raises(ModuleError) as err:
        relocation.relocate(payload=application, context=context)
    assert err.value.reason == "identity_invalid" and "checksum_mismatch" in err.value.message
    assert err.value.where == "step 1: applicant.id_number"
    assert len(calls) == 1


def test_moving_within_one_province_is_refused_before_any_step(real, application):
    context, calls = real
    application["to_region"] = "110108"
    with pytest.raises(ModuleError) as err:
        relocation.relocate(payload=application, context=context)
    assert err.value.reason == "same_province" and calls == []


def test_a_target_refusal_is_passed_on_with_its_step(real, application):
    context, _calls = real
    del application["housing_fund"]["monthly_rent"]          # rent withdrawal without the rent
    with pytest.raises(ModuleError) as err:
        relocation.relocate(payload=application, context=context)
    assert err.value.reason == "step_failed" and "missing_field" in err.value.message
    assert err.value.where.startswith("step 3:")
