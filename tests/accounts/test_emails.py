"""E-mails are compared in one normal form: look-alike addresses are the same account or refused."""
from __future__ import annotations

import pytest

from marketplace.accounts import service
from marketplace.accounts.emails import normal_email
from marketplace.errors import MarketplaceError

PASSWORD = "correct horse battery"


def test_nfkc_and_casefold_make_look_alikes_one_address():
    assert normal_email("ａｄｏｐｔｅｒ@ｓｚ.gov.cn") == "adopter@sz.gov.cn"
    assert normal_email(" Adopter@SZ.Gov.CN ") == "adopter@sz.gov.cn"


def test_a_full_width_copy_of_an_existing_address_is_taken(db_session):
    service.add_user(db_session, "adopter@sz.gov.cn", PASSWORD, "440300", "adopter")
    with pytest.raises(MarketplaceError) as info:
        service.add_user(db_session, "ａｄｏｐｔｅｒ@sz.gov.cn", PASSWORD, "440300", "admin")
    assert info.value.reason == "email_taken"


@pytest.mark.parametrize("email", ["аdopter@sz.gov.cn",          # Cyrillic а
                                   "adopter@sz.gоv.cn",          # Cyrillic о
                                   "ᴀdopter@sz.gov.cn"])          # small capital, NFKC keeps it
def test_confusables_nfkc_cannot_fold_are_refused(db_session, email):
    with pytest.raises(MarketplaceError) as info:
        service.add_user(db_session, email, PASSWORD, "440300", "adopter")
    assert info.value.reason == "invalid_email" and info.value.status == 400
    assert "ASCII" in info.value.message


def test_lookups_use_the_normal_form(db_session):
    service.add_user(db_session, "adopter@sz.gov.cn", PASSWORD, "440300", "adopter")
    assert service.find_user(db_session, "ＡＤＯＰＴＥＲ@sz.gov.cn").email == "adopter@sz.gov.cn"


def test_cli_user_add_of_a_look_alike_is_refused(runner, factory):
    email = factory.user("adopter", "440300")
    look_alike = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in email.split("@")[0])
    result = runner.invoke(["user", "add", f"{look_alike}@{email.split('@')[1]}", "--jurisdiction",
                            "440300", "--role", "admin", "--password", PASSWORD])
    assert result.exit_code == 1 and "already exists" in result.stderr


def test_login_with_the_full_width_spelling_is_the_same_account(app, factory):
    app.config["WTF_CSRF_ENABLED"] = False
    email = factory.user("adopter", "440300")
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in email.split("@")[0])
    response = app.test_client().post("/login", data={
        "email": f"{wide}@{email.split('@')[1]}", "password": PASSWORD})
    assert response.status_code == 302
