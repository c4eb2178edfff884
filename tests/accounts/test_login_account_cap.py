"""A per-account cap over all addresses: N addresses do not buy 5N guesses, and the owner still gets in."""
from __future__ import annotations

import pytest

from marketplace import clock
from marketplace.accounts.logins import ACCOUNT_MAX_ATTEMPTS, PAIR_MAX_ATTEMPTS

PASSWORD = "correct horse battery"
HOME = "203.0.113.7"


@pytest.fixture
def login(app):
    """POST /login from a given client address (CSRF tested elsewhere)."""
    app.config["WTF_CSRF_ENABLED"] = False

    def post(email: str, password: str = PASSWORD, address: str = HOME):
        return app.test_client().post("/login", data={"email": email, "password": password},
                                      environ_base={"REMOTE_ADDR": address})
    return post


def strangers(login, email: str) -> int:
    """Guess from fresh addresses, 5 each, until the account refuses; the guesses checked."""
    checked = 0
    for n in range(1, 40):
        for _ in range(PAIR_MAX_ATTEMPTS):
            status = login(email, "wrong password!", address=f"198.51.100.{n}").status_code
            if status == 429:
                return checked
            assert status == 401
            checked += 1
    raise AssertionError("the account never cooled down")


def test_many_addresses_get_at_most_the_account_cap(login, factory):
    email = factory.user("adopter")
    assert login(email).status_code == 302                       # the owner's address is known
    assert strangers(login, email) == ACCOUNT_MAX_ATTEMPTS
    fresh = login(email, address="192.0.2.200")                   # right password, new address
    assert fresh.status_code == 429 and "冷却" in fresh.get_data(as_text=True)
    assert login(email, address=HOME).status_code == 302          # the owner is not locked out


def test_unknown_accounts_cool_down_alike(login):
    assert strangers(login, "nobody@gov.example.cn") == ACCOUNT_MAX_ATTEMPTS


def test_the_cooling_ends_with_the_window(login, factory):
    email = factory.user("adopter")
    clock.clock.configure("2026-03-02T10:00:00+08:00", "Asia/Shanghai")
    try:
        assert strangers(login, email) == ACCOUNT_MAX_ATTEMPTS
        assert login(email, address="192.0.2.201").status_code == 429
        clock.clock.configure("2026-03-02T10:16:00+08:00", "Asia/Shanghai")
        assert login(email, address="192.0.2.201").status_code == 302
    finally:
        clock.clock.configure("", "Asia/Shanghai")
