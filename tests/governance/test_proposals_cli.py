"""``marketplace proposal …``: the same rules as the API, one readable line on every error."""
from __future__ import annotations

import json

import pytest

from tests.governance.proposals_support import (GD, JS, PAID, SH, ZJ, fixed_now,  # noqa: F401
                                                world)
from tests.support.concurrency import live_server  # noqa: F401


def run(runner, *args: str, code: int = 0):
    result = runner.invoke(list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_owners_proposal_voted_through_on_the_command_line(world, runner):
    made = run(runner, "proposal", "create", "delta-permit", "--kind", "owners",
               "--owner", f"{ZJ}:4000", "--owner", f"{SH}:3000", "--owner", f"{JS}:3000",
               "--build-cost", "1200000.00", "--note", "联合建设", "--as", world.emails[ZJ])
    pid, module, kind, state = made.output.split("\t")[:4]
    assert (module, kind, state) == ("delta-permit", "owners", "open")
    listed = run(runner, "proposal", "list", "--as", world.emails[SH]).output
    assert listed.startswith(f"{pid}\tdelta-permit\towners\topen")
    for code in (ZJ, SH):
        run(runner, "proposal", "approve", pid, "--as", world.emails[code])
    last = run(runner, "proposal", "approve", pid, "--as", world.emails[JS]).output
    assert "\taccepted\t" in last
    shown = json.loads(run(runner, "proposal", "show", pid, "--as", world.emails[SH]).output)
    assert shown["effective_period"] == "2026-12" and shown["build_cost"] == "1200000.00"
    assert world.owners_in_force(world.module_id, "2026-12") == [(SH, 3000), (JS, 3000), (ZJ, 4000)]


def test_terms_proposal_from_a_manifest_file(world, runner, tmp_path):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text('[module]\nname = "x"\n\n[terms]\nkind = "pay_per_use"\ncurrency = "CNY"\n'
                        'model = "per_unit"\nunit_price = "0.05"\n', encoding="utf-8")
    made = run(runner, "proposal", "create", "delta-permit", "--kind", "terms", "--terms-file",
               str(manifest), "--as", world.emails[SH])
    pid = made.output.split("\t")[0]
    assert "\taccepted\t" in run(runner, "proposal", "approve", pid, "--as",
                                 world.emails[ZJ]).output
    shown = json.loads(run(runner, "proposal", "show", pid).output)   # the operator sees all
    assert shown["terms"] == PAID


@pytest.mark.parametrize("args,says", [
    (("create", "no-such", "--kind", "owners", "--owner", f"{ZJ}:10000"), "no module"),
    (("create", "delta-permit", "--kind", "owners", "--owner", f"{ZJ}:6000", "--owner",
      f"{SH}:3000"), "sum to 10,000"),
    (("create", "delta-permit", "--kind", "owners", "--owner", "330000=10000"), "CODE:BASIS_POINTS"),
    (("create", "delta-permit", "--kind", "owners", "--owner", f"{ZJ}:10000",
      "--build-cost", "1.005"), "2 decimal"),
    (("create", "delta-permit", "--kind", "terms"), "--terms-file"),
    (("create", "delta-permit", "--kind", "owners", "--owner", f"{GD}:10000"), "only a publisher"),
    (("approve", "999999"), "no proposal 999999"),
    (("approve", "abc"), "not a proposal id"),
    (("show", "1", "--as", "nobody@gov.example.cn"), "no user"),
])
def test_errors_are_one_line(world, runner, args, says):
    email = world.emails[GD] if "--kind" in args and f"{GD}:10000" in args else world.emails[ZJ]
    extra = () if "--as" in args else ("--as", email)
    result = run(runner, "proposal", *args, *extra, code=1)
    assert says in one_error_line(result)


def test_second_vote_and_non_party_vote_are_one_line_errors(world, runner):
    made = run(runner, "proposal", "create", "delta-permit", "--kind", "owners", "--owner",
               f"{ZJ}:10000", "--as", world.emails[ZJ])
    pid = made.output.split("\t")[0]
    run(runner, "proposal", "approve", pid, "--as", world.emails[SH])
    assert "already voted" in one_error_line(run(runner, "proposal", "reject", pid, "--as",
                                                 world.emails[SH], code=1))
    assert f"no proposal {pid}" in one_error_line(run(runner, "proposal", "approve", pid, "--as",
                                                      world.emails[GD], code=1))
    assert "say who acts" in one_error_line(run(runner, "proposal", "approve", pid, code=1))
    run(runner, "proposal", "reject", pid, "--as", world.emails[ZJ])
    assert "is rejected" in one_error_line(run(runner, "proposal", "approve", pid, "--as",
                                               world.emails[ZJ], code=1))


def test_the_verbs_work_against_a_remote_marketplace(world, runner, live_server):
    server = live_server(1, MARKETPLACE_NOW="2026-11-10T10:00:00+08:00")
    token = {code: world.tokens[code]["Authorization"].split()[1] for code in (ZJ, SH)}
    remote = ("--url", server.url)
    made = run(runner, "proposal", "create", "delta-permit", "--kind", "owners", "--owner",
               f"{ZJ}:5000", "--owner", f"{SH}:5000", *remote, "--token", token[ZJ]).output
    pid = made.split("\t")[0]
    assert made.split("\t")[1:4] == ["delta-permit", "owners", "open"]
    listed = run(runner, "proposal", "list", *remote, "--token", token[SH]).output
    assert listed.startswith(f"{pid}\tdelta-permit")
    run(runner, "proposal", "approve", pid, *remote, "--token", token[SH])
    again = run(runner, "proposal", "reject", pid, *remote, "--token", token[SH], code=1)
    assert "already voted approve" in one_error_line(again)
    shown = json.loads(run(runner, "proposal", "show", pid, *remote, "--token", token[ZJ]).output)
    assert shown["approvals"] == [SH] and shown["needed"] == [ZJ]
