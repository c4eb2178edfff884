"""A revoked token or a disabled user stops working at once, on every worker (no cache window)."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace import db
from marketplace.accounts import auth
from marketplace.accounts.models import ApiToken, User


def test_a_token_revoked_by_the_cli_is_refused_at_the_next_call(app, client, runner, factory):
    email = factory.user("adopter", "440300")
    headers = {"Authorization": f"Bearer {factory.token(email)}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200     # now cached here
    with app.app_context():
        token_id = db.session().scalar(sa.select(ApiToken.id))
    # another process revokes it: nothing tells this worker's cache
    assert runner.invoke(["token", "revoke", str(token_id)]).exit_code == 0
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


def test_a_user_disabled_elsewhere_is_refused_at_the_next_call(app, client, factory):
    email = factory.user("adopter", "440300")
    headers = {"Authorization": f"Bearer {factory.token(email)}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with app.app_context():
        session = db.session()
        session.scalar(sa.select(User).where(User.email == email)).active = False
        session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_unrelated_changes_keep_the_cache_and_a_hit_reads_only_the_generation(app, client,
                                                                               factory):
    email = factory.user("adopter", "440300")
    headers = {"Authorization": f"Bearer {factory.token(email)}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    factory.user("adopter", "440300")                  # a new user: no credential changed
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)
    with app.app_context():
        engine = db.session().get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        with app.test_request_context("/api/v1/me", headers=headers):
            assert auth._authenticate().email == email
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "route_generation" in statements[0]
