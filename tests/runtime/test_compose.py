"""Composite calls (DESIGN §14): context.call through the host, each step metered on its own."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.runtime.models import Installation
from tests.support.concurrency import pool_one_larger_than
from tests.runtime.composites import flow_folder, step
from tests.runtime.conftest import PAY, usage_rows


@pytest.fixture
def flow(catalog, shenzhen):
    """toy-echo and toy-flow published and installed for Shenzhen: {module: installation id}."""
    catalog.toy("toy-echo", implements="gov.toy")
    catalog.publish_folder(flow_folder(catalog.tmp))
    return {m: shenzhen.install(m).json["id"] for m in ("toy-echo", "toy-flow")}


@pytest.fixture(params=["process", "thread"])
def sandbox_mode(app, request):
    """Both ways of running module code: sandbox processes and the in-process debugging mode."""
    app.config["SANDBOX"] = request.param
    return request.param


def test_sub_calls_run_under_the_adopters_installation_each_its_own_event(
        app, flow, shenzhen, sandbox_mode):
    reply = shenzhen.invoke("toy-flow", "run", {"steps": [
        step("toy-echo", "echo", {"text": "一"}), step("gov.toy", "echo", {"text": "二"})]})
    assert reply.status_code == 200, reply.json
    assert [r["text"] for r in reply.json["results"]] == ["一", "二"]
    assert {r["installation"] for r in reply.json["results"]} == {flow["toy-echo"]}
    assert {r["tenant"] for r in reply.json["results"]} == {"440300"}
    parent = reply.headers["X-Usage-Event"]
    steps = usage_rows(app, flow["toy-echo"])
    assert [(e.status, e.units, e.parent_event) for e in steps] == [("ok", 2, parent)] * 2
    [own] = usage_rows(app, flow["toy-flow"])
    assert (own.event_id, own.status, own.units, own.parent_event) == (parent, "ok", 1, None)


@pytest.mark.parametrize("operation,payload,reason,status", [
    ("refuse", {}, "not_eligible", "error"),
    ("crash", {}, "module_error", "error"),
    ("bad_output", {}, "module_error", "error"),
    ("echo", {"text": ""}, "invalid_input", "rejected"),
])
def test_a_failed_step_is_a_located_error_metered_as_the_targets_and_never_billed(
        app, flow, shenzhen, operation, payload, reason, status):
    """The composite lets the step's ModuleError through: it raised (DESIGN §5), so 502."""
    reply = shenzhen.invoke("toy-flow", "run", {"steps": [step("toy-echo", operation, payload)]})
    assert reply.status_code == 502, reply.json
    assert (reply.json["error"], reply.json["reason"]) == ("module_error", reason)
    assert reply.json["where"] == f"toy-echo/{operation}"
    assert f"toy-echo/{operation}" in reply.json["message"]
    [failed] = usage_rows(app, flow["toy-echo"])
    assert (failed.status, failed.units, failed.parent_event) == \
        (status, 0, reply.headers["X-Usage-Event"])
    [own] = usage_rows(app, flow["toy-flow"])
    assert (own.status, own.units) == ("error", 0)


def test_a_composite_may_catch_a_failed_step_and_go_on(app, flow, shenzhen):
    reply = shenzhen.invoke("toy-flow", "run", {"catch": True, "steps": [
        step("toy-echo", "refuse", {}), step("toy-echo", "echo", {"text": "ok"})]})
    assert reply.status_code == 200
    assert reply.json["results"][0] == {"failed": "not_eligible", "where": "toy-echo/refuse"}
    assert [(e.status, e.units) for e in usage_rows(app, flow["toy-echo"])] == \
        [("error", 0), ("ok", 2)]


def test_undeclared_target_or_operation_is_refused_without_calling(app, flow, shenzhen, catalog):
    catalog.toy("toy-other")
    shenzhen.install("toy-other")
    reply = shenzhen.invoke("toy-flow", "run", {"catch": True, "steps": [
        step("toy-other", "echo", {"text": "x"}), step("gov.toy", "crash", {}),
        step("toy-echo", "module_health", {})]})
    assert reply.status_code == 200
    assert [r["failed"] for r in reply.json["results"]] == ["undeclared_dependency"] * 3
    assert usage_rows(app, flow["toy-echo"]) == []


def end(app, installation_id: int) -> None:
    """End an installation behind the API's back (the API refuses: a composite needs it)."""
    with app.app_context():
        db.session().get(Installation, installation_id).state = "ended"
        db.session().commit()


def test_a_target_not_installed_is_a_located_error_and_nothing_is_metered(app, flow, shenzhen):
    end(app, flow["toy-echo"])
    reply = shenzhen.invoke("toy-flow", "run", {"steps": [step("toy-echo", "echo",
                                                                {"text": "x"})]})
    assert (reply.status_code, reply.json["reason"], reply.json["where"]) == \
        (502, "not_installed", "toy-echo/echo")
    assert [e.installation_id for e in usage_rows(app)] == [flow["toy-flow"]]


def test_a_step_over_its_quota_is_refused_and_metered_as_rejected(app, flow, shenzhen,
                                                                  fixed_clock):
    with app.app_context():
        db.session().get(Installation, flow["toy-echo"]).quota_per_minute = 1
        db.session().commit()
    reply = shenzhen.invoke("toy-flow", "run", {"catch": True, "steps": [
        step("toy-echo", "echo", {"text": "a"}), step("toy-echo", "echo", {"text": "b"})]})
    assert reply.status_code == 200
    assert reply.json["results"][1] == {"failed": "quota_exceeded", "where": "toy-echo/echo"}
    assert [(e.status, e.units) for e in usage_rows(app, flow["toy-echo"])] == \
        [("ok", 2), ("rejected", 0)]


def test_one_deadline_bounds_the_composite_and_all_its_steps(app, flow, shenzhen, sandbox_mode):
    app.config["INVOKE_TIMEOUT"] = 1.5
    shenzhen.invoke("toy-echo", "echo", {"text": "warm"})           # sandboxes started
    shenzhen.invoke("toy-flow", "run", {"steps": []})
    started = time.monotonic()
    reply = shenzhen.invoke("toy-flow", "run", {"catch": True, "steps": [
        {"sleep": 1.0}, step("toy-echo", "hang", {"seconds": 5})]})
    took = time.monotonic() - started
    assert took < 2.5, took                 # not 1.0 + a whole second time limit of its own
    assert reply.status_code in (200, 504), reply.json
    if reply.status_code == 200:            # the step timed out first, the composite answered
        assert reply.json["results"][0] == {"failed": "timeout", "where": "toy-echo/hang"}
    steps = usage_rows(app, flow["toy-echo"])
    assert [(e.status, e.units) for e in steps if e.parent_event] == [("error", 0)]


def test_an_idempotent_composite_replays_without_running_its_steps_again(app, flow, shenzhen):
    body = {"steps": [step("toy-echo", "echo", {"text": "once"})]}
    first = shenzhen.invoke("toy-flow", "run", body, headers={"Idempotency-Key": "k-1"})
    again = shenzhen.invoke("toy-flow", "run", body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert len(usage_rows(app, flow["toy-echo"])) == 1
    assert len(usage_rows(app, flow["toy-flow"])) == 1


def test_a_timed_out_composite_whose_steps_were_billed_replays_too(app, flow, shenzhen):
    """A 504 is normally retried for real; not once a step was billed (it would bill again)."""
    app.config["INVOKE_TIMEOUT"] = 1.0
    shenzhen.invoke("toy-flow", "run", {"steps": []})
    body = {"steps": [step("toy-echo", "echo", {"text": "once"}), {"sleep": 3}]}
    first = shenzhen.invoke("toy-flow", "run", body, headers={"Idempotency-Key": "k-2"})
    assert first.status_code == 504
    again = shenzhen.invoke("toy-flow", "run", body, headers={"Idempotency-Key": "k-2"})
    assert again.status_code == 504 and again.headers["Idempotent-Replayed"] == "true"
    assert [e.status for e in usage_rows(app, flow["toy-echo"])] == ["ok"]


def test_sub_calls_never_run_under_another_jurisdictions_installation(
        app, flow, shenzhen, hangzhou):
    """Hangzhou has the target, Shenzhen's has ended: Shenzhen's steps find nothing."""
    theirs = hangzhou.install("toy-echo").json["id"]
    end(app, flow["toy-echo"])
    reply = shenzhen.invoke("toy-flow", "run", {"catch": True, "steps": [
        step("toy-echo", "echo", {"text": "x"}), step("gov.toy", "echo", {"text": "x"})]})
    assert reply.status_code == 200
    assert [r["failed"] for r in reply.json["results"]] == ["not_installed"] * 2
    assert usage_rows(app, theirs) == []


FORGING_CODE = '''
"""A composite that tries to call as another tenant."""
import dataclasses

from marketplace.sdk import JurisdictionRef, ModuleError, hookimpl


@hookimpl
def run(payload, context):
    forged = dataclasses.replace(context, jurisdiction=JurisdictionRef("330100", "杭州市"),
                                 installation_id=payload["theirs"], config={"code": "330100"})
    results = []
    for target in ("toy-echo", "330100/toy-echo", "toy-echo@330100", "gov.toy"):
        try:
            results.append(forged.call(target, "echo", {"text": "x"}))
        except ModuleError as exc:
            results.append({"failed": exc.reason})
    return {"text": "done", "results": results}
'''


def test_a_forged_context_still_calls_only_under_the_callers_own_installations(
        app, catalog, shenzhen, hangzhou, sandbox_mode):
    catalog.toy("toy-echo", implements="gov.toy")
    catalog.publish_folder(flow_folder(catalog.tmp, code=FORGING_CODE))
    theirs = hangzhou.install("toy-echo").json["id"]
    ours = shenzhen.install("toy-flow", install_dependencies=True).json["dependencies"][0]["id"]
    reply = shenzhen.invoke("toy-flow", "run", {"theirs": theirs})
    assert reply.status_code == 200, reply.json
    results = reply.json["results"]
    assert [r.get("failed") for r in results] == [None, "undeclared_dependency",
                                                  "undeclared_dependency", None]
    assert {(r["tenant"], r["installation"]) for r in results if "failed" not in r} == \
        {("440300", ours)}
    assert usage_rows(app, theirs) == []
    assert len(usage_rows(app, ours)) == 2


PRINTING_CODE = '''
"""A composite that reports its failed sub-calls as text (str and args of the ModuleError)."""
from marketplace.sdk import ModuleError, hookimpl


@hookimpl
def run(payload, context):
    results = []
    for target, operation in (("toy-other", "echo"), ("toy-echo", "refuse")):
        try:
            context.call(target, operation, {})
        except ModuleError as exc:
            results.append({"str": str(exc), "first": exc.args[0], "reason": exc.reason,
                            "message": exc.message, "where": exc.where})
    return {"text": "done", "results": results}
'''


def test_a_sub_calls_module_error_names_its_reason_in_str_and_args(app, catalog, shenzhen,
                                                                  sandbox_mode):
    """DESIGN §14 ``ModuleError("undeclared_dependency")``: the reason is args[0] and in str()."""
    catalog.toy("toy-echo", implements="gov.toy")
    catalog.publish_folder(flow_folder(catalog.tmp, code=PRINTING_CODE))
    shenzhen.install("toy-flow", install_dependencies=True)
    reply = shenzhen.invoke("toy-flow", "run", {})
    assert reply.status_code == 200, reply.json
    undeclared, refused = reply.json["results"]
    assert (undeclared["first"], undeclared["reason"], undeclared["where"]) == \
        ("undeclared_dependency", "undeclared_dependency", "toy-other/echo")
    assert undeclared["str"] == f"undeclared_dependency: {undeclared['message']}"
    assert "does not declare echo of toy-other" in undeclared["message"]
    assert (refused["first"], refused["where"]) == ("not_eligible", "toy-echo/refuse")
    assert refused["str"].startswith("not_eligible: step toy-echo/refuse failed (502)")


TIERED = ('kind = "pay_per_use"\ncurrency = "CNY"\nmodel = "graduated"\n'
          'tiers = [ { up_to = 3, unit_price = "1.00" }, { unit_price = "0.10" } ]')
SHARED = 'kind = "cost_share"\ncurrency = "CNY"\nperiod_cost = "30.00"\nbasis = "usage"'
BILLED_REQUIRES = "".join(f'\n[[requires]]\nmodule = "{m}"\noperations = ["echo", "refuse"]\n'
                          for m in ("toy-tiered", "toy-shared", "toy-free"))


def test_each_step_is_billed_under_its_own_agreement_when_the_period_is_settled(
        app, catalog, shenzhen, hangzhou, fixed_clock):
    from marketplace.plugins import get_provider
    from marketplace.settlement import service as settlement
    from marketplace.settlement.models import Charge

    catalog.toy("toy-tiered", terms=TIERED)
    catalog.toy("toy-shared", terms=SHARED)
    catalog.toy("toy-free")
    catalog.publish_folder(flow_folder(catalog.tmp, terms=PAY, requires=BILLED_REQUIRES))
    made = shenzhen.install("toy-flow", install_dependencies=True).json
    ids = {d["module"]: d["id"] for d in made["dependencies"]} | {"toy-flow": made["id"]}
    theirs = hangzhou.install("toy-shared").json["id"]
    steps = [step(m, "echo", {"text": "x"}) for m in ("toy-tiered", "toy-shared", "toy-free")]
    for _ in range(3):                          # each step ok: 2 units under each agreement
        assert shenzhen.invoke("toy-flow", "run", {"steps": steps}).status_code == 200
    failing = shenzhen.invoke("toy-flow", "run", {"steps": [
        step("toy-tiered", "echo", {"text": "x"}), step("toy-shared", "refuse", {})]})
    assert (failing.status_code, failing.json["where"]) == (502, "toy-shared/refuse")
    assert hangzhou.invoke("toy-shared", "echo", {"text": "y"}).status_code == 200
    fixed_clock("2026-12-02T10:00:00+08:00")
    with app.app_context():
        settlement.settle(db.session(), "2026-11", get_provider(app.config), "admin@test")
        charges = {c.installation_id: (c.kind, c.units, c.amount_minor)
                   for c in db.session().scalars(sa.select(Charge))}
    # graduated: 8 units (3 composites' steps + the failing composite's first, ok step):
    # 3 × ¥1.00 + 5 × ¥0.10; the refused step and the failed composite are not billed
    assert charges[ids["toy-tiered"]] == ("pay_per_use", 8, 350)
    # the ¥30.00 pool split by usage: Shenzhen's 6 units of steps, Hangzhou's 2 direct
    assert charges[ids["toy-shared"]] == ("cost_share", 6, 2250)
    assert charges[theirs] == ("cost_share", 2, 750)
    assert charges[ids["toy-free"]] == ("free", 6, 0)
    assert charges[ids["toy-flow"]] == ("pay_per_use", 3, 3)       # its own unit per call, ¥0.01


def test_composites_filling_the_sandbox_pool_still_get_their_steps_run(
        app, catalog, shenzhen, hangzhou):
    """Two tenants' composites hold both sandboxes and wait on sub-calls: the pool lends one
    more rather than letting them wait on each other until their deadline."""
    from concurrent.futures import ThreadPoolExecutor

    app.config.update(SANDBOX_PROCESSES=2, INVOKE_TIMEOUT=5.0)
    catalog.toy("toy-echo", implements="gov.toy")
    catalog.publish_folder(flow_folder(catalog.tmp))
    for city in (shenzhen, hangzhou):
        assert city.install("toy-flow", install_dependencies=True).status_code == 201
    body = {"steps": [{"sleep": 0.5}, step("toy-echo", "echo", {"text": "x"})]}
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda city: app.test_client().post(
            "/api/v1/invoke/toy-flow/run", json=body, headers=city.headers), (shenzhen, hangzhou)))
    assert [r.status_code for r in replies] == [200, 200], [r.get_json() for r in replies]
    assert time.monotonic() - started < 4.5


def test_steps_on_extra_sandboxes_stay_warm_while_composites_wait_then_the_pool_shrinks(
        app, catalog, shenzhen, hangzhou, monkeypatch):
    """Both sandboxes held by composites waiting on their steps: the extras the steps run on
    are kept while a composite waits (not one cold start per step), and ended after."""
    from concurrent.futures import ThreadPoolExecutor

    from marketplace.runtime import loader, sandbox

    app.config.update(SANDBOX_PROCESSES=2, INVOKE_TIMEOUT=10.0)
    catalog.toy("toy-echo", implements="gov.toy")
    catalog.publish_folder(flow_folder(catalog.tmp))
    for city in (shenzhen, hangzhou):
        assert city.install("toy-flow", install_dependencies=True).status_code == 201
    echo = step("toy-echo", "echo", {"text": "x"})
    body = {"steps": [{"sleep": 0.3}] + [echo, {"sleep": 0.1}] * 6}
    started = []
    original = sandbox.sandbox_event
    monkeypatch.setattr(sandbox, "sandbox_event",
                        lambda event: (started.append(event) if event == "start" else None,
                                       original(event)))
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda city: app.test_client().post(
            "/api/v1/invoke/toy-flow/run", json=body, headers=city.headers), (shenzhen, hangzhou)))
    assert [r.status_code for r in replies] == [200, 200], [r.get_json() for r in replies]
    # two flow sandboxes (the pool's own, maybe restarted for the version) + at most two extras,
    # where killing each extra on release started one per step: 12 steps
    assert len(started) <= 4, started
    with app.app_context():
        live = loader.sandbox_pool()
    assert (live._live, len(live._idle), live._parked) == (2, 2, 0)


def test_steps_run_on_the_composite_calls_connection_so_a_full_pool_never_deadlocks(
        app, flow, shenzhen, sandbox_mode):
    """As a plain call (tests/runtime/test_group_commit.py): each thread holds one connection
    and its composite's steps use that one, never a second, even with every thread calling."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    app.config.update(QUOTA_PER_MINUTE=10 ** 6, SANDBOX_PROCESSES=6)
    threads = 3
    pool_one_larger_than(app, threads)
    start = threading.Barrier(threads)
    body = {"steps": [step("toy-echo", "echo", {"text": "a"}), step("gov.toy", "echo",
                                                                     {"text": "b"})]}

    def calls(n: int) -> list[int]:
        client = app.test_client()
        start.wait()
        return [client.post("/api/v1/invoke/toy-flow/run", json=body,
                            headers=shenzhen.headers).status_code for _ in range(4)]

    with ThreadPoolExecutor(threads) as pool:
        answered = [status for each in pool.map(calls, range(threads)) for status in each]
    assert answered == [200] * (threads * 4)
    assert len(usage_rows(app, flow["toy-echo"])) == threads * 4 * 2


def test_in_process_mode_steps_never_queue_behind_the_composites_waiting_for_them(
        app, catalog, shenzhen, hangzhou, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from marketplace.runtime import loader

    app.config.update(SANDBOX="thread", INVOKE_TIMEOUT=5.0)
    monkeypatch.setattr(loader, "POOL_SIZE", 2)
    monkeypatch.setattr(loader, "_pool", None)          # a pool of 2, both taken by composites
    catalog.toy("toy-echo", implements="gov.toy")
    catalog.publish_folder(flow_folder(catalog.tmp))
    for city in (shenzhen, hangzhou):
        assert city.install("toy-flow", install_dependencies=True).status_code == 201
    body = {"steps": [{"sleep": 0.5}, step("toy-echo", "echo", {"text": "x"})]}
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda city: app.test_client().post(
            "/api/v1/invoke/toy-flow/run", json=body, headers=city.headers), (shenzhen, hangzhou)))
    assert [r.status_code for r in replies] == [200, 200], [r.get_json() for r in replies]
    assert time.monotonic() - started < 4.5
    monkeypatch.setattr(loader, "_pool", None)
