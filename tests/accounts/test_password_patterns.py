"""Guessable structure is refused as a class: keyboard rows, runs, repeats, padded common words."""
from __future__ import annotations

import pytest

from marketplace.accounts.passwords import check_password
from marketplace.errors import MarketplaceError

PREDICTABLE = ["qwertyuiopas", "abcdefghijkl", "passwordpassword", "123456789012",
               "zyxwvutsrqpo", "098765432109", "monkeymonkey", "pass word pass word",
               "password2026!!", "!!dragon2026!!", "asdfghjklzxc", "poiuytrewqlk",
               "abcdabcdabcdabcd", "123abc123abc"]
GOOD = ["correct horse battery", "demo-password-2026", "long enough 2026", "longhua-clerk-2026",
        "futian-clerk-2026", "browser-pass-2026", "bench password", "a new long phrase",
        "我的密码是很长很长的一句话", "Tr0ub4dor&3-extra"]


@pytest.mark.parametrize("password", PREDICTABLE)
def test_predictable_passwords_are_refused(password):
    with pytest.raises(MarketplaceError) as refused:
        check_password(password)
    assert refused.value.reason == "weak_password" and refused.value.status == 400


def test_passwords_in_use_stay_valid_while_their_patterns_are_refused():
    assert [check_password(p) for p in GOOD] == GOOD
    for password in PREDICTABLE:
        with pytest.raises(MarketplaceError):
            check_password(password)


@pytest.mark.parametrize("password", ["qwertyuiopas", "abcdefghijkl", "passwordpassword",
                                      "123456789012"])
def test_cli_user_add_refuses_them_in_one_line(runner, password):
    result = runner.invoke(["user", "add", "weak@gov.example.cn", "--jurisdiction", "440300",
                            "--role", "adopter", "--password", password])
    assert result.exit_code == 1 and result.stderr.startswith("error: password is ")
    assert len(result.stderr.strip().splitlines()) == 1
