"""跨省迁居一件事: one matter over four departments' modules, each step called through the platform.

The steps run in the order the manifest's ``[[requires]]`` declares them:

1. 居民身份核验 (``resident-id-verification.verify_id``): the applicant's number
   must be valid, else the matter stops at step 1;
2. 社保关系转移 (``social-insurance-transfer.compute_transfer``) over the
   contribution history, one line a segment;
3. 公积金提取 (``housing-fund-withdrawal.assess_withdrawal``), skipped when
   the applicant does not ask for it;
4. 异地就医备案 (``medical-filing-cross-region.file_record``) from the day of
   the move.

Every step goes through ``context.call``: the platform runs it under the
adopter's own installation of that module, meters and bills it there. A step
that fails stops the matter with a ``ModuleError`` naming the step.
"""
from __future__ import annotations

from marketplace.sdk import ModuleError, hookimpl

MATTER = "跨省迁居一件事"
STEPS = (
    ("居民身份核验", "resident-id-verification", "verify_id"),
    ("社保关系转移", "social-insurance-transfer", "compute_transfer"),
    ("公积金提取", "housing-fund-withdrawal", "assess_withdrawal"),
    ("异地就医备案", "medical-filing-cross-region", "file_record"),
)
HOUSING_FIELDS = ("reason", "account_balance", "house_price", "loan_monthly_payment",
                  "monthly_rent", "months", "owns_home_in_city", "consecutive_months")
BASE_DOCUMENTS = ["居民身份证", "参保缴费凭证"]


def segments(lines: list[str]) -> list[dict]:
    """Contribution history lines ``"440300 2010-01 2015-12 8000.00"`` as transfer segments."""
    out = []
    for line in lines:
        region, start, end, wage = line.split(" ")
        out.append({"region": region, "from": start, "to": end, "monthly_wage": wage})
    return out


class _Matter:
    """One run of the matter: calls the steps in order and keeps each one's answer."""

    def __init__(self, context) -> None:
        self.context, self.steps = context, []

    def run(self, index: int, payload: dict | None) -> dict | None:
        """Call step ``index`` (skipped when ``payload`` is None); a failure names the step."""
        title, target, operation = STEPS[index]
        step = {"step": index + 1, "title": title, "target": target, "operation": operation}
        if payload is None:
            self.steps.append(step | {"status": "skipped"})
            return None
        try:
            output = self.context.call(target, operation, payload)
        except ModuleError as exc:
            raise ModuleError("step_failed", f"step {index + 1} ({title}, {target} {operation}) "
                              f"failed: {exc.reason}: {exc.message}",
                              where=f"step {index + 1}: {exc.where or f'{target}/{operation}'}"
                              ) from exc
        self.steps.append(step | {"status": "done", "output": output})
        return output


def _housing_payload(payload: dict) -> dict | None:
    """The withdrawal request, when the applicant asks for one."""
    housing = payload.get("housing_fund")
    if housing is None:
        return None
    return {key: housing[key] for key in HOUSING_FIELDS if key in housing}


@hookimpl
def relocate(payload, context):
    """Run the four steps and gather their answers into one result."""
    if payload["from_region"][:2] == payload["to_region"][:2]:
        raise ModuleError("same_province", "from_region and to_region are in one province "
                          f"({payload['from_region'][:2]}); this matter is for moving to another "
                          "province")
    matter = _Matter(context)
    applicant = payload["applicant"]
    identity = matter.run(0, {"id_number": applicant["id_number"].upper(),
                              "as_of": payload["applied_on"]})
    if identity.get("valid") is not True:
        raise ModuleError("identity_invalid", f"step 1 ({STEPS[0][0]}, {STEPS[0][1]} "
                          f"{STEPS[0][2]}): the identity number is not valid "
                          f"({identity.get('reason', 'invalid')}); check applicant.id_number",
                          where="step 1: applicant.id_number")
    transfer_request = {"segments": segments(payload["contribution_history"])}
    for key in ("personal_account_balance", "hukou_region"):
        if key in payload:
            transfer_request[key] = payload[key]
    transfer = matter.run(1, transfer_request)
    housing = matter.run(2, _housing_payload(payload))
    filing = matter.run(3, {"insured_id": applicant["id_number"].upper(),
                            "insured_region": payload["from_region"],
                            "destination_region": payload["to_region"],
                            "filing_type": payload.get("medical_filing_type", "异地长期居住"),
                            "start_date": payload["moved_on"]})
    documents = list(BASE_DOCUMENTS)
    for extra in (housing or {}).get("documents", []) + filing.get("documents", []):
        if extra not in documents:
            documents.append(extra)
    person = {"id_masked": identity.get("id_masked", "")}
    if "name" in applicant:
        person["name"] = applicant["name"]
    if "province" in identity:
        person["birth_province"] = identity["province"]
    return {
        "matter": MATTER, "status": "completed", "applicant": person, "steps": matter.steps,
        "summary": {
            "identity_valid": True,
            "pension_total_transfer": transfer.get("total_transfer"),
            "benefit_region": transfer.get("benefit_region"),
            "housing_fund_max_amount": housing.get("max_amount") if housing else None,
            "medical_filing_id": filing.get("filing_id"),
            "medical_filing_scope": filing.get("scope"),
            "documents": documents,
        },
    }
