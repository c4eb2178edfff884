"""CLI verbs of corrections: adjustment create/list, dispute open/list/show/answer/resolve."""
from __future__ import annotations

import json

from tests.settlement.test_disputes import world  # noqa: F401 - the fixture


def one_error_line(result) -> str:
    """The single ``error:`` line of a failed command."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_operator_runs_a_dispute_from_the_command_line(runner, world, tmp_path):
    records = tmp_path / "log.csv"
    records.write_text("id\na1\na2\nz9\n")
    opened = runner.invoke(args=["dispute", "open", "2026-10", "meter", "--jurisdiction", "440300",
                                 "--records", str(records), "--reason", "our log"])
    assert opened.exit_code == 0, opened.output
    assert opened.output.strip() == ("dispute 1 open: matched 2, only platform 6, only adopter 1, "
                                     "duplicates 0")
    listed = runner.invoke(args=["dispute", "list", "--state", "open"])
    assert listed.output.startswith("1\topen\t2026-10\tmeter\t440300\tmatched 2")
    shown = json.loads(runner.invoke(args=["dispute", "show", "1"]).output)
    assert shown["reconciliation"]["only_adopter"] == 1
    assert runner.invoke(args=["dispute", "answer", "1", "see the digest"]).output.strip() == \
        "dispute 1 answered"
    resolved = runner.invoke(args=["dispute", "resolve", "1", "adjust", "--amount", "-0.10"])
    assert resolved.output.strip() == "dispute 1 resolved: adjust", resolved.output
    listed = runner.invoke(args=["adjustment", "list"]).output.strip().split("\t")
    assert listed[:5] == ["1", "2026-10", f"installation {world['installation']}", "-0.10 CNY",
                          "pending"]
    assert "wrong_state" not in one_error_line(runner.invoke(args=["dispute", "resolve", "1", "uphold"]))


def test_cli_errors_are_one_line(runner, world, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("event\nx\n")
    assert "columns" in one_error_line(runner.invoke(args=[
        "dispute", "open", "2026-10", "meter", "--jurisdiction", "440300", "--records", str(bad),
        "--reason", "x"]))
    assert "no dispute" in one_error_line(runner.invoke(args=["dispute", "show", "99"]))
    one_error_line(runner.invoke(args=["dispute", "show", "0"]))
    iid = str(world["installation"])
    assert "at most" in one_error_line(runner.invoke(args=[
        "adjustment", "create", "2026-10", iid, "-9.99", "--reason", "too much"]))
    assert "not settled" in one_error_line(runner.invoke(args=[
        "adjustment", "create", "2026-11", iid, "-0.10", "--reason", "x"]))
    one_error_line(runner.invoke(args=["adjustment", "create", "2026-10", iid, "abc", "--reason", "x"]))
    one_error_line(runner.invoke(args=["adjustment", "create", "2026-13", iid, "1.00", "--reason", "x"]))
    created = runner.invoke(args=["adjustment", "create", "2026-10", iid, "-0.80", "--reason", "all"])
    assert created.exit_code == 0 and "\t-0.80 CNY\tpending\tall" in created.output
    assert "at most" in one_error_line(runner.invoke(args=[
        "adjustment", "create", "2026-10", iid, "-0.01", "--reason", "beyond"]))
