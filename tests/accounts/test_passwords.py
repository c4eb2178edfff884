"""Password policy: ≥ 12 characters, not only whitespace, not common — everywhere a password is set."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.accounts import service
from marketplace.accounts.models import User
from marketplace.accounts.passwords import check_password, common_passwords
from marketplace.errors import MarketplaceError

WEAK = ["12345678", " " * 8, " " * 12, "\t" * 12, "\u3000" * 12, "short", "", "password1234",
        "  Password1234  ", "QWERTYUIOP[]", "1q2w3e4r5t6y", "aaaaaaaaaaaa", "abababababab",
        "x" * 1025, None, 12345678901234]
STRONG = ["correct horse battery", "demo-password-2026", "browser-pass-2026", "bench password",
          "我的密码是很长很长的一句话", "Tr0ub4dor&3-extra"]


@pytest.mark.parametrize("password", WEAK)
def test_weak_passwords_are_refused_with_a_located_reason(password):
    with pytest.raises(MarketplaceError) as refused:
        check_password(password)
    assert refused.value.status == 400 and refused.value.reason == "weak_password"
    assert refused.value.details == [{"where": "password", "message": refused.value.message}]


@pytest.mark.parametrize("password", STRONG)
def test_good_passwords_pass(password):
    assert check_password(password) == password


def test_the_email_is_not_a_password():
    with pytest.raises(MarketplaceError):
        check_password("someone.long@gov.example.cn", "Someone.Long@gov.example.cn")
    with pytest.raises(MarketplaceError):
        check_password("someone.long", "someone.long@gov.example.cn")


def test_the_common_list_ships_as_package_data():
    words = common_passwords()
    assert len(words) > 10_000 and "password" in words and "qwerty123456" in words


def test_the_demo_password_is_accepted():
    from marketplace import demo

    assert check_password(demo.PASSWORD) == demo.PASSWORD


@pytest.mark.parametrize("password", ["12345678", " " * 8, "password1234"])
def test_cli_user_add_refuses_weak_passwords_in_one_line(app, runner, password):
    result = runner.invoke(["user", "add", "weak@gov.example.cn", "--jurisdiction", "440300",
                            "--role", "adopter", "--password", password])
    assert result.exit_code == 1 and result.output.startswith("error: ")
    assert "password" in result.output and len(result.output.strip().splitlines()) == 1
    with app.app_context():
        assert db.session().scalar(sa.select(User).where(User.email == "weak@gov.example.cn")) is None


def test_cli_user_add_accepts_a_good_password(app, runner):
    result = runner.invoke(["user", "add", "good@gov.example.cn", "--jurisdiction", "440300",
                            "--role", "adopter", "--password", "correct horse battery"])
    assert result.exit_code == 0, result.output


def test_admin_console_refuses_weak_passwords(app, factory):
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    admin = factory.user("admin", "110000")
    assert client.post("/login", data={"email": admin,
                                       "password": "correct horse battery"}).status_code == 302
    answer = client.post("/admin/jurisdictions", data={
        "email": "new@gov.example.cn", "jurisdiction": "440300", "role": "adopter",
        "password": "12345678", "name": ""})
    assert answer.status_code == 400 and "12" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session().scalar(sa.select(User).where(User.email == "new@gov.example.cn")) is None


def test_service_add_user_applies_the_policy(app):
    with app.app_context():
        with pytest.raises(MarketplaceError) as refused:
            service.add_user(db.session(), "x@gov.example.cn", " " * 12, "440300", "adopter")
    assert refused.value.reason == "weak_password"


def test_cli_user_password_applies_the_policy_and_ends_open_sessions(app, runner, factory):
    app.config["WTF_CSRF_ENABLED"] = False
    email = factory.user("adopter")
    client = app.test_client()
    assert client.post("/login", data={"email": email,
                                       "password": "correct horse battery"}).status_code == 302
    weak = runner.invoke(["user", "password", email, "--password", "12345678"])
    assert weak.exit_code == 1 and weak.output.startswith("error: password must have at least 12")
    assert client.get("/adopter/").status_code == 200
    assert runner.invoke(["user", "password", email, "--password", "a new long phrase"]).exit_code == 0
    assert client.get("/adopter/").status_code == 302
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": email,
                                      "password": "a new long phrase"}).status_code == 302
