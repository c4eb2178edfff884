"""Free text given to the CLI is bounded at its parser: names by their columns (100 characters),
reasons 1,000."""
from __future__ import annotations

import pytest


def _one_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("argv,limit", [
    (["jurisdiction", "add", "990000", "名" * 1000, "--level", "province"], 100),
    (["user", "add", "x@gov.example.cn", "--jurisdiction", "440300", "--role", "adopter",
      "--name", "n" * 101], 100),
    (["module", "yank", "toy-echo", "1.0.0", "--reason", "r" * 100_000], 1000),
    (["module", "review", "toy-echo", "1.0.0", "--reject", "--reason", "r" * 1001], 1000),
])
def test_overlong_free_text_is_one_located_error_and_stores_nothing(runner, argv, limit):
    line = _one_error(runner.invoke(argv))
    assert f"at most {limit:,} are accepted" in line, line


def test_a_name_of_100_characters_is_accepted(runner):
    result = runner.invoke(["jurisdiction", "add", "990000", "名" * 100, "--level", "province"])
    assert result.exit_code == 0, result.output
