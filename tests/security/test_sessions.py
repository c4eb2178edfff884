"""Secrets and sessions: cookie flags, fixation, login rate limit, hashed tokens, webhook replays."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import sqlalchemy as sa

from marketplace import create_app
from tests.security.conftest import CSRF_RE, PASSWORD


def _login(client, email: str, password: str = PASSWORD):
    token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def _cookie_header(response, name: str = "session") -> str:
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert found, f"no {name} cookie set"
    return found[-1]


def test_secure_cookies_flag_sets_secure_httponly_samesite_lax(monkeypatch, database_url, tmp_path,
                                                                 factory):
    monkeypatch.setenv("MARKETPLACE_SECURE_COOKIES", "1")
    app = create_app({"TESTING": True, "SECRET_KEY": "s", "DATABASE_URL": database_url,
                      "ARTIFACT_DIR": str(tmp_path / "a")})
    email = factory.user("adopter", "440300")
    response = _login(app.test_client(), email)
    assert response.status_code == 302
    flags = [part.strip().lower() for part in _cookie_header(response).split(";")]
    assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags
    app.extensions["db"].engine.dispose()


def test_cookies_are_httponly_and_lax_even_without_https(client, factory):
    flags = _cookie_header(_login(client, factory.user("adopter", "440300"))).lower()
    assert "httponly" in flags and "samesite=lax" in flags and "secure" not in flags


def test_login_starts_a_fresh_session_so_a_planted_one_is_worthless(client, factory):
    email = factory.user("adopter", "440300")
    client.get("/login")
    with client.session_transaction() as planted:
        planted["planted_by_attacker"] = "x"
    before = client.get_cookie("session").value
    assert _login(client, email).status_code == 302
    with client.session_transaction() as fresh:
        assert "planted_by_attacker" not in fresh
        assert fresh.get("_user_id")
    assert client.get_cookie("session").value != before
    replay = client.application.test_client()
    replay.set_cookie("session", before)
    assert replay.get("/adopter/").status_code == 302       # the pre-login cookie is not logged in


def test_login_is_locked_after_five_failures_even_with_the_right_password(client, factory):
    email = factory.user("adopter", "440300")
    for _ in range(5):
        assert _login(client, email, "wrong password").status_code == 401
    assert _login(client, email).status_code == 429
    other = factory.user("adopter", "440300")
    assert _login(client.application.test_client(), other).status_code == 302  # per account


def test_console_forms_refuse_posts_without_csrf_token(client, factory):
    email = factory.user("adopter", "440300")
    assert _login(client, email).status_code == 302
    assert client.post("/adopter/tokens", data={"name": "x", "scopes": "read"}).status_code == 400


def _dump(app) -> str:
    """Every row of every table as text."""
    from marketplace import db

    with app.app_context():
        session = db.session()
        tables = sa.inspect(session.get_bind()).get_table_names()
        rows = [repr(tuple(r)) for t in tables
                for r in session.execute(sa.text(f'SELECT * FROM "{t}"'))]
    return "\n".join(rows)


def test_only_token_hashes_are_stored(app, client, factory):
    email = factory.user("admin", "110000")
    secret = factory.token(email, "read invoke admin")
    created = client.post("/api/v1/tokens", json={"scopes": ["read"]},
                          headers={"Authorization": f"Bearer {secret}"}).get_json()["token"]
    dump = _dump(app)
    for token in (secret, created):
        assert token not in dump and token[len("gm_"):] not in dump
        assert hashlib.sha256(token.encode()).hexdigest() in dump
    listed = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {secret}"})
    assert secret not in listed.get_data(as_text=True)


def test_passwords_are_stored_as_argon2_hashes_only(app, factory):
    factory.user("adopter", "440300")
    dump = _dump(app)
    assert PASSWORD not in dump and "$argon2id$" in dump


WEBHOOK_SECRET = "whsec_replay_test"


def _signed(payload: bytes, timestamp: int, secret: str = WEBHOOK_SECRET) -> dict:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={mac}", "Content-Type": "application/json"}


@pytest.fixture
def stripe_app(app):
    app.config.update(STRIPE_API_KEY="sk_test_replay", STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return app


EVENT = json.dumps({"id": "evt_replay", "object": "event", "type": "customer.created",
                    "data": {"object": {"id": "cus_1", "object": "customer"}}}).encode()


def test_stripe_webhook_accepts_a_fresh_signed_event(stripe_app):
    answer = stripe_app.test_client().post("/api/v1/webhooks/stripe", data=EVENT,
                                           headers=_signed(EVENT, int(time.time())))
    assert answer.status_code == 200 and answer.get_json()["received"] is True


@pytest.mark.parametrize("age", [301, 3600])
def test_stripe_webhook_refuses_events_signed_more_than_300_s_ago(stripe_app, age):
    answer = stripe_app.test_client().post("/api/v1/webhooks/stripe", data=EVENT,
                                           headers=_signed(EVENT, int(time.time()) - age))
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_signature"


def test_stripe_webhook_refuses_a_wrong_secret_or_a_changed_body(stripe_app):
    client = stripe_app.test_client()
    stamp = int(time.time())
    assert client.post("/api/v1/webhooks/stripe", data=EVENT,
                       headers=_signed(EVENT, stamp, "whsec_other")).status_code == 400
    assert client.post("/api/v1/webhooks/stripe", data=EVENT.replace(b"cus_1", b"cus_2"),
                       headers=_signed(EVENT, stamp)).status_code == 400


def _logout(client):
    page = client.get("/adopter/").get_data(as_text=True)
    token = CSRF_RE.search(page)
    return client.post("/logout", data={"csrf_token": token.group(1)} if token else {})


def test_logout_kills_the_session_on_the_server_so_a_copied_cookie_opens_nothing(client, factory):
    email = factory.user("adopter", "440300")
    assert _login(client, email).status_code == 302
    stolen = client.get_cookie("session").value
    assert client.get("/adopter/").status_code == 200
    assert _logout(client).status_code == 302
    replay = client.application.test_client()
    replay.set_cookie("session", stolen)
    answer = replay.get("/adopter/")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_logout_ends_only_that_session_and_disabling_ends_all(app, factory):
    from marketplace import db
    from marketplace.accounts.models import User

    email = factory.user("adopter", "440300")
    office, home = app.test_client(), app.test_client()
    assert _login(office, email).status_code == 302 and _login(home, email).status_code == 302
    stolen = office.get_cookie("session").value
    assert _logout(office).status_code == 302
    office.set_cookie("session", stolen)
    assert office.get("/adopter/").status_code == 302
    assert home.get("/adopter/").status_code == 200
    with app.app_context():
        db.session().execute(sa.update(User).where(User.email == email).values(active=False))
        db.session().commit()
    assert home.get("/adopter/").status_code == 302


def test_session_rows_hold_digests_not_the_cookie_secret(app, client, factory):
    assert _login(client, factory.user("adopter", "440300")).status_code == 302
    with client.session_transaction() as sess:
        secret = sess["_sid"]
    dump = _dump(app)
    assert secret not in dump and hashlib.sha256(secret.encode()).hexdigest() not in dump


BOUNDARY = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
            "referrer-policy": "same-origin"}


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/", None), ("GET", "/login", None), ("POST", "/login", {"email": "a@b.cn"}),
    ("GET", "/no/such/page", None), ("GET", "/api/v1/openapi.json", None),
    ("GET", "/api/v1/me", None), ("GET", "/api/v1/nowhere", None), ("POST", "/api/v1/tokens", None),
    ("GET", "/static/site.css", None), ("GET", "/adopter/", None),
])
def test_every_response_carries_the_security_headers(client, method, path, body):
    answer = client.open(path, method=method, data=body)
    for name, value in BOUNDARY.items():
        assert answer.headers.get(name) == value, (path, name)
    csp = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_pages_allow_scripts_and_styles_from_the_site_only(client):
    csp = dict(part.strip().split(" ", 1) for part in
               client.get("/login").headers["Content-Security-Policy"].split(";"))
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["default-src"] == "'self'"


def test_templates_have_no_inline_script_style_or_handlers():
    """What the strict CSP would block: inline <script>/<style>, style= and on…= attributes."""
    import re
    from pathlib import Path

    import marketplace

    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:",
                        re.IGNORECASE)
    root = Path(marketplace.__file__).parent / "templates"
    found = {str(p.relative_to(root)): inline.findall(p.read_text("utf-8"))
             for p in root.rglob("*.html")}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_cookies_are_secure_when_served_over_https_even_without_the_flag(client, factory):
    email = factory.user("adopter", "440300")
    page = client.get("/login", base_url="https://market.example")
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    answer = client.post("/login", base_url="https://market.example",   # CSRF checks the Referer
                         headers={"Referer": "https://market.example/login"},  # on HTTPS: same-origin
                         data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302
    flags = [part.strip().lower() for part in _cookie_header(answer).split(";")]
    assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_console_session_ends_after_its_lifetime_even_with_a_live_cookie(app, client, factory):
    from datetime import timedelta

    from marketplace import db
    from marketplace.accounts.models import LoginSession
    from marketplace.clock import now

    assert _login(client, factory.user("adopter", "440300")).status_code == 302
    assert client.get("/adopter/").status_code == 200
    hours = app.config["LOGIN_SESSION_HOURS"]
    with app.app_context():
        db.session().execute(sa.update(LoginSession).values(
            created_at=now() - timedelta(hours=hours) + timedelta(minutes=1)))
        db.session().commit()
    assert client.get("/adopter/").status_code == 200          # a minute of life left
    with app.app_context():
        db.session().execute(sa.update(LoginSession).values(
            created_at=now() - timedelta(hours=hours, minutes=1)))
        db.session().commit()
    answer = client.get("/adopter/")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_logging_in_prunes_sessions_older_than_the_known_address_window(app, client, factory):
    from datetime import timedelta

    from marketplace import db
    from marketplace.accounts.logins import KNOWN_ADDRESS_FOR
    from marketplace.accounts.models import LoginSession
    from marketplace.clock import now

    email = factory.user("adopter", "440300")
    for _ in range(3):
        assert _login(app.test_client(), email).status_code == 302
    with app.app_context():
        ids = db.session().scalars(sa.select(LoginSession.id).order_by(LoginSession.id)).all()
        db.session().execute(sa.update(LoginSession).where(LoginSession.id.in_(ids[:2])).values(
            created_at=now() - KNOWN_ADDRESS_FOR - timedelta(minutes=1)))
        db.session().execute(sa.update(LoginSession).where(LoginSession.id == ids[2]).values(
            created_at=now() - KNOWN_ADDRESS_FOR + timedelta(days=1)))
        db.session().commit()
    assert _login(client, email).status_code == 302
    with app.app_context():
        left = set(db.session().scalars(sa.select(LoginSession.id)).all())
    assert not left & set(ids[:2]) and ids[2] in left and len(left) == 2
