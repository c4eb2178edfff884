"""Login throttling per (account, address) and per address; strangers cannot lock a user out."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace import clock, db
from marketplace.accounts.logins import ADDRESS_MAX_FAILURES, PAIR_MAX_ATTEMPTS
from marketplace.accounts.models import AuditEntry, LoginThrottle

PASSWORD = "correct horse battery"


@pytest.fixture
def login(app):
    """POST /login from a given client address (CSRF tested elsewhere)."""
    app.config["WTF_CSRF_ENABLED"] = False

    def post(email: str, password: str = PASSWORD, address: str = "203.0.113.7", headers=None):
        client = app.test_client()
        return client.post("/login", data={"email": email, "password": password},
                           environ_base={"REMOTE_ADDR": address}, headers=headers or {})
    return post


@pytest.fixture
def fixed_clock():
    """Let a test move the platform clock; restored afterwards."""
    yield lambda stamp: clock.clock.configure(stamp, "Asia/Shanghai")
    clock.clock.configure("", "Asia/Shanghai")


def test_a_stranger_guessing_does_not_lock_the_owner_out(app, login, factory):
    email = factory.user("adopter")
    for who in (email, "nobody@gov.example.cn"):        # known and unknown accounts alike
        for _ in range(PAIR_MAX_ATTEMPTS):
            assert login(who, "wrong password!", address="198.51.100.66").status_code == 401
        assert login(who, "wrong password!", address="198.51.100.66").status_code == 429
    assert login(email, address="198.51.100.66").status_code == 429     # the right one too: no oracle
    assert login(email, address="203.0.113.7").status_code == 302      # the owner, from elsewhere
    with app.app_context():                              # refused attempts checked no password
        failed = db.session().scalar(sa.select(sa.func.count()).where(
            AuditEntry.action == "login.failed"))
    assert failed == 2 * PAIR_MAX_ATTEMPTS


def test_one_address_cannot_spray_passwords_over_many_accounts(login, factory):
    emails = [factory.user("adopter") for _ in range(ADDRESS_MAX_FAILURES + 3)]
    statuses = [login(e, "wrong password!", address="198.51.100.9").status_code for e in emails]
    assert statuses == [401] * ADDRESS_MAX_FAILURES + [429] * 3
    assert login(emails[-1], address="198.51.100.9").status_code == 429
    assert login(emails[-1], address="198.51.100.10").status_code == 302


def test_a_successful_login_clears_its_own_failures(login, factory):
    email = factory.user("adopter")
    for _ in range(PAIR_MAX_ATTEMPTS - 1):
        assert login(email, "wrong password!").status_code == 401
    assert login(email).status_code == 302
    for _ in range(PAIR_MAX_ATTEMPTS - 1):
        assert login(email, "wrong password!").status_code == 401
    assert login(email).status_code == 302


def test_the_window_ends_after_15_minutes(login, factory, fixed_clock):
    email = factory.user("adopter")
    fixed_clock("2026-10-05T08:00:00+08:00")
    for _ in range(PAIR_MAX_ATTEMPTS):
        login(email, "wrong password!")
    fixed_clock("2026-10-05T08:14:59+08:00")
    assert login(email).status_code == 429
    assert login(email, address="198.51.100.3").status_code == 302
    fixed_clock("2026-10-05T08:15:01+08:00")
    assert login(email).status_code == 302


def test_the_throttle_table_holds_no_email_or_address(app, login, factory):
    email = factory.user("adopter")
    login(email, "wrong password!", address="198.51.100.23")
    with app.app_context():
        keys = list(db.session().scalars(sa.select(LoginThrottle.key)))
    # keys of the address, the (account, address) pair and the account
    assert len(keys) == 3 and all(len(k) == 64 and "198.51" not in k and "@" not in k for k in keys)


def test_behind_a_trusted_proxy_the_forwarded_address_counts(database_url, tmp_path, factory):
    from marketplace import create_app

    proxied = create_app({"TESTING": True, "SECRET_KEY": "s", "DATABASE_URL": database_url,
                          "ARTIFACT_DIR": str(tmp_path / "a"), "TRUSTED_PROXY_HOPS": 1,
                          "WTF_CSRF_ENABLED": False})
    email = factory.user("adopter")
    client = proxied.test_client()

    def post(password: str, forwarded: str):
        return client.post("/login", data={"email": email, "password": password},
                           headers={"X-Forwarded-For": forwarded},
                           environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code
    assert [post("wrong password!", "192.0.2.1") for _ in range(6)] == [401] * 5 + [429]
    assert post(PASSWORD, "192.0.2.2") == 302          # same proxy, another client
    proxied.extensions["db"].engine.dispose()


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(login, factory):
    email = factory.user("adopter")
    for n in range(PAIR_MAX_ATTEMPTS):      # a client rotating a header it made up
        login(email, "wrong password!", headers={"X-Forwarded-For": f"192.0.2.{n}"})
    assert login(email, headers={"X-Forwarded-For": "192.0.2.200"}).status_code == 429
    assert login(email, address="198.51.100.4").status_code == 302     # a real other address
