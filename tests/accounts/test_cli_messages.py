"""CLI error lines: ids out of range say 'no such …', messages are not repeated, settings are named."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from marketplace import create_app
from marketplace.errors import MarketplaceError


def one_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["token", "revoke", "99999999999999999999999"],
    ["token", "revoke", "2147483648"],
    ["token", "revoke", "0"],
    ["uninstall", "99999999999999999999999", "--as", "EMAIL"],
    ["usage", "verify", "--installation", "99999999999999999999999"],
])
def test_an_id_no_column_holds_is_no_such_row(runner, factory, argv):
    email = factory.user("adopter", "440300")
    line = one_error(runner.invoke([email if a == "EMAIL" else a for a in argv]))
    assert "no such" in line and "Overflow" not in line and "unexpected" not in line


def test_an_id_that_is_not_a_number_says_so(runner):
    line = one_error(runner.invoke(["token", "revoke", "seven"]))
    assert "not a token id" in line


def test_an_error_is_printed_once_not_repeated_in_its_details(runner, factory, tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "catalog" / "fixtures"))
    from catalog_factory import manifest_data, module_entries, zip_bytes

    data = manifest_data()
    data["module"]["version"] = "1.2"
    bundle = tmp_path / "bad.zip"
    bundle.write_bytes(zip_bytes(module_entries(data)))
    line = one_error(runner.invoke(["module", "publish", str(bundle), "--as",
                                    factory.user("publisher", "440000")]))
    assert line.count("is not a semantic version") == 1 and " — " not in line, line
    for argv in (["user", "add", "a@gov.example.cn", "--jurisdiction", "440300", "--role",
                  "adopter", "--password", "short"],):
        assert " — " not in one_error(runner.invoke(argv))
    from marketplace.cli import _details          # details that add something are kept

    exc = MarketplaceError("invalid_bundle", "the bundle is invalid",
                           details=[{"where": "manifest.toml: module.name", "message": "bad"}])
    assert _details(exc) == " — manifest.toml: module.name: bad"


@pytest.mark.parametrize("name,value", [("PLATFORM_FEE_BPS", "abc"), ("QUOTA_PER_MINUTE", "1e3"),
                                        ("INVOKE_TIMEOUT", "soon"), ("INVOKE_TIMEOUT", "nan"),
                                        ("SANDBOX_PROCESSES", "0"), ("TRUSTED_PROXY_HOPS", "-1"),
                                        ("PLATFORM_FEE_BPS", "9" * 5000)])
def test_a_bad_numeric_setting_names_the_variable(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(f"MARKETPLACE_{name}", value)
    with pytest.raises(ValueError) as info:
        create_app()
    assert f"MARKETPLACE_{name}" in str(info.value) and "invalid literal" not in str(info.value)


def test_a_bad_numeric_setting_is_one_cli_line(monkeypatch):
    from click.testing import CliRunner

    from marketplace.cli import main

    monkeypatch.setenv("MARKETPLACE_PLATFORM_FEE_BPS", "abc")
    result = CliRunner().invoke(main, ["ledger", "balance"])
    assert "MARKETPLACE_PLATFORM_FEE_BPS" in one_error(result)


def test_ledger_balance_of_an_unknown_jurisdiction_is_an_error(runner):
    line = one_error(runner.invoke(["ledger", "balance", "999999"]))
    assert "999999" in line and "not registered" in line
