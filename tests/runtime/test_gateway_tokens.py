"""The gateway confirms a remembered token on its own kept connection, and revocation still
works at once (the token cache's generation check, without a pooled session per call)."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.accounts.models import ApiToken, User
from tests.runtime.conftest import usage_rows


def test_a_token_revoked_elsewhere_is_refused_by_the_gateway_at_the_next_call(app, catalog,
                                                                             shenzhen, runner):
    catalog.toy()
    iid = shenzhen.install("toy-echo").json["id"]
    assert shenzhen.invoke("toy-echo", "echo", {"text": "a"}).status_code == 200   # remembered
    with app.app_context():
        token_id = db.session().scalar(sa.select(ApiToken.id).where(
            ApiToken.scopes.contains("invoke")))
    assert runner.invoke(["token", "revoke", str(token_id)]).exit_code == 0   # "another process"
    reply = shenzhen.invoke("toy-echo", "echo", {"text": "b"})
    assert (reply.status_code, reply.json["error"]) == (401, "invalid_token")
    assert len(usage_rows(app, iid)) == 1                  # the refused call was never metered


def test_a_user_disabled_elsewhere_cannot_call_the_gateway(app, catalog, shenzhen):
    catalog.toy()
    shenzhen.install("toy-echo")
    assert shenzhen.invoke("toy-echo", "echo", {"text": "a"}).status_code == 200
    with app.app_context():
        session = db.session()
        session.scalar(sa.select(User).where(User.email == shenzhen.email)).active = False
        session.commit()
    assert shenzhen.invoke("toy-echo", "echo", {"text": "b"}).status_code == 401


def test_a_remembered_token_costs_the_gateway_no_pooled_connection(app, catalog, shenzhen):
    catalog.toy()
    shenzhen.install("toy-echo")
    assert shenzhen.invoke("toy-echo", "echo", {"text": "a"}).status_code == 200   # warm
    checkouts = []

    def checked_out(*args):
        checkouts.append(args)
    with app.app_context():
        pool = db.session().get_bind().pool
    sa.event.listen(pool, "checkout", checked_out)
    try:
        for text in "bcd":
            assert shenzhen.invoke("toy-echo", "echo", {"text": text}).status_code == 200
    finally:
        sa.event.remove(pool, "checkout", checked_out)
    assert checkouts == []          # token, route and call all on the thread's kept connection


def _revoke_invoke_token(app, runner) -> None:
    with app.app_context():
        token_id = db.session().scalar(sa.select(ApiToken.id).where(
            ApiToken.scopes.contains("invoke")))
    assert runner.invoke(["token", "revoke", str(token_id)]).exit_code == 0


def test_a_revoked_token_gets_401_before_any_other_answer(app, catalog, shenzhen, runner):
    """Replays, unknown modules, bad bodies and bad keys all wait for the token's confirmation."""
    catalog.toy()
    iid = shenzhen.install("toy-echo").json["id"]
    first = shenzhen.invoke("toy-echo", "echo", {"text": "a"}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 200
    _revoke_invoke_token(app, runner)
    attempts = [
        shenzhen.invoke("toy-echo", "echo", {"text": "a"}, headers={"Idempotency-Key": "k1"}),
        shenzhen.invoke("no-such-module", "echo", {"text": "a"}),
        shenzhen.invoke("toy-echo", "no_such_operation", {"text": "a"}),
        shenzhen.invoke("toy-echo", "echo", {"text": "a"}, headers={"Idempotency-Key": ""}),
        shenzhen.client.post("/api/v1/invoke/toy-echo/echo", data=b"{not json",
                             headers={**shenzhen.headers, "Content-Type": "application/json"}),
        shenzhen.invoke("echo-interface", "echo", {"text": "a"}, interface=True),
    ]
    for reply in attempts:
        assert (reply.status_code, reply.json["error"]) == (401, "invalid_token"), reply.json
        assert "Idempotent-Replayed" not in reply.headers
    assert len(usage_rows(app, iid)) == 1


def test_an_unrelated_change_makes_the_gateway_check_the_token_again_and_the_call_goes_on(
        app, catalog, shenzhen, factory):
    catalog.toy()
    iid = shenzhen.install("toy-echo").json["id"]
    assert shenzhen.invoke("toy-echo", "echo", {"text": "a"}).status_code == 200
    factory.user("adopter", "330100")              # bumps the generation: a stale memory
    reply = shenzhen.invoke("toy-echo", "echo", {"text": "b"})
    assert reply.status_code == 200 and reply.json["text"] == "b"
    assert [e.status for e in usage_rows(app, iid)] == ["ok", "ok"]      # once, not twice


def test_a_revoked_token_without_the_invoke_scope_gets_401_not_403(app, client, factory, runner):
    email = factory.user("adopter", "440300")
    headers = {"Authorization": f"Bearer {factory.token(email, 'read')}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200        # remembered
    refused = client.post("/api/v1/invoke/toy-echo/echo", json={}, headers=headers)
    assert (refused.status_code, refused.json["error"]) == (403, "missing_scope")   # still valid
    with app.app_context():
        token_id = db.session().scalar(sa.select(ApiToken.id))
    assert runner.invoke(["token", "revoke", str(token_id)]).exit_code == 0
    for path in ("/api/v1/invoke/toy-echo/echo", "/api/v1/invoke/interface/any/echo"):
        reply = client.post(path, json={}, headers=headers)
        assert (reply.status_code, reply.json["error"]) == (401, "invalid_token"), path
