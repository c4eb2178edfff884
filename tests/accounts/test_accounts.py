"""Accounts: passwords, tokens and scopes, revocation, JSON errors, CSRF."""
from __future__ import annotations

import re

import sqlalchemy as sa

from marketplace import db
from marketplace.accounts.models import ApiToken, User


def test_password_is_stored_as_argon2id_hash_never_in_clear(app, factory):
    email = factory.user("adopter")
    with app.app_context():
        user = db.session().scalar(sa.select(User).where(User.email == email))
        assert "correct horse battery" not in user.password_hash
        assert user.password_hash.startswith("$argon2id$")


def test_token_is_stored_hashed_and_works_once_issued(app, client, factory):
    email = factory.user("adopter", "440300")
    secret = factory.token(email, "read")
    with app.app_context():
        row = db.session().scalar(sa.select(ApiToken))
        assert secret not in (row.token_hash, row.prefix) and len(row.token_hash) == 64
        assert row.last_used_at is None
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.json["jurisdiction"] == {"code": "440300", "name": "深圳市", "level": "city"}
    with app.app_context():
        assert db.session().scalar(sa.select(ApiToken)).last_used_at is not None


def test_missing_scope_is_403_and_no_token_is_401(client, factory):
    headers = factory.headers("adopter", scopes="invoke")
    assert client.get("/api/v1/me", headers=headers).json["error"] == "missing_scope"
    assert client.get("/api/v1/me", headers=headers).status_code == 403
    anonymous = client.get("/api/v1/me")
    assert anonymous.status_code == 401 and anonymous.json["error"] == "unauthorized"
    bogus = client.get("/api/v1/me", headers={"Authorization": "Bearer gm_nope"})
    assert bogus.status_code == 401 and bogus.json["error"] == "invalid_token"


def test_revoked_token_is_refused(client, factory):
    headers = factory.headers("admin", "110000", scopes="read admin")
    made = client.post("/api/v1/tokens", json={"scopes": ["read"], "name": "ci"}, headers=headers)
    assert made.status_code == 201 and made.json["token"].startswith("gm_")
    new = {"Authorization": f"Bearer {made.json['token']}"}
    assert client.get("/api/v1/me", headers=new).status_code == 200
    assert client.delete(f"/api/v1/tokens/{made.json['id']}", headers=headers).status_code == 200
    refused = client.get("/api/v1/me", headers=new)
    assert refused.status_code == 401 and refused.json["error"] == "invalid_token"


def test_role_limits_token_scopes(app, factory):
    from marketplace.accounts import service
    from marketplace.errors import MarketplaceError

    email = factory.user("adopter")
    with app.app_context():
        session = db.session()
        try:
            service.issue_token(session, service.find_user(session, email), "admin")
        except MarketplaceError as exc:
            assert (exc.status, exc.reason) == (400, "scope_not_allowed")
        else:
            raise AssertionError("an adopter got an admin token")


def test_unknown_scope_is_refused_with_the_choices(client, factory):
    headers = factory.headers("admin", "110000", scopes="read admin")
    unknown = client.post("/api/v1/tokens", json={"scopes": ["fly"]}, headers=headers)
    assert unknown.json["error"] == "invalid_scope" and "choose from" in unknown.json["message"]


def test_api_errors_are_json_never_html(client, factory):
    for response, status in [(client.get("/api/v1/nowhere"), 404),
                              (client.put("/api/v1/me"), 405)]:
        assert response.status_code == status
        assert response.is_json and set(response.json) >= {"error", "message"}
    headers = factory.headers("admin", "110000", scopes="admin")
    bad = client.post("/api/v1/tokens", data="not json", headers=headers)
    assert bad.status_code == 400 and bad.json["error"] == "invalid_json"


def test_login_form_requires_csrf_token(app, factory):
    app.config["WTF_CSRF_ENABLED"] = True
    email = factory.user("adopter")
    client = app.test_client()
    refused = client.post("/login", data={"email": email, "password": "correct horse battery"})
    assert refused.status_code == 400
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    ok = client.post("/login", data={"email": email, "password": "correct horse battery",
                                     "csrf_token": token})
    assert ok.status_code == 302
    wrong = app.test_client()
    page = wrong.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    denied = wrong.post("/login", data={"email": email, "password": "nope", "csrf_token": token})
    assert denied.status_code == 401 and "邮箱或密码不正确" in denied.text


def test_login_starts_a_new_session(app, factory):
    app.config["WTF_CSRF_ENABLED"] = False
    email = factory.user("adopter")
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["planted"] = "by-attacker"
    client.post("/login", data={"email": email, "password": "correct horse battery"})
    with client.session_transaction() as sess:
        assert "planted" not in sess and "_user_id" in sess


def test_login_is_rate_limited_per_account(app, factory):
    app.config["WTF_CSRF_ENABLED"] = False
    email = factory.user("adopter")
    client = app.test_client()
    for _ in range(5):
        assert client.post("/login", data={"email": email, "password": "wrong"}).status_code == 401
    locked = client.post("/login", data={"email": email, "password": "correct horse battery"})
    assert locked.status_code == 429 and "15" in locked.text


def test_session_cookie_is_httponly_and_samesite(app, factory):
    app.config["WTF_CSRF_ENABLED"] = False
    email = factory.user("adopter")
    response = app.test_client().post("/login", data={"email": email,
                                                      "password": "correct horse battery"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
