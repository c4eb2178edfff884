"""Tokens never mint or widen scopes; managing them needs a session or the admin scope (DESIGN §12)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.accounts.models import ApiToken


def _bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("scopes", [["admin"], ["publish"], ["read"], ["read", "invoke"]])
def test_a_read_token_cannot_create_tokens_of_any_scope(client, factory, scopes):
    email = factory.user("publisher", "440000")
    answer = client.post("/api/v1/tokens", json={"scopes": scopes},
                         headers=_bearer(factory.token(email, "read")))
    assert answer.status_code == 403 and answer.json["error"] == "missing_scope"


def test_a_read_token_cannot_revoke_its_owners_other_tokens(app, client, factory):
    email = factory.user("adopter", "440300")
    reader, other = factory.token(email, "read"), factory.token(email, "invoke")
    with app.app_context():
        other_id = db.session().scalar(sa.select(ApiToken.id).order_by(ApiToken.id.desc()))
    answer = client.delete(f"/api/v1/tokens/{other_id}", headers=_bearer(reader))
    assert answer.status_code == 403 and answer.json["error"] == "missing_scope"
    with app.app_context():
        assert db.session().get(ApiToken, other_id).revoked_at is None
    assert client.get("/api/v1/me", headers=_bearer(other)).status_code == 403   # alive: scope 403


def test_an_admin_token_mints_only_scopes_it_holds(client, factory):
    email = factory.user("admin", "110000")
    narrow = _bearer(factory.token(email, "read admin"))
    wider = client.post("/api/v1/tokens", json={"scopes": ["read", "publish"]}, headers=narrow)
    assert wider.status_code == 403 and wider.json["error"] == "scope_not_held"
    assert "publish" in wider.json["message"]
    same = client.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=narrow)
    assert same.status_code == 201 and same.json["scopes"] == ["read"]


@pytest.mark.parametrize("scopes, where", [
    ([[]], "scopes[0]"), ([1], "scopes[0]"), (["read", None], "scopes[1]"), ({"read": 1}, "scopes"),
    (7, "scopes"), (None, "scopes"), (True, "scopes"), ([["read"]], "scopes[0]"), ([], "scopes"),
])
def test_scopes_of_a_wrong_type_are_a_located_400(client, factory, scopes, where):
    headers = _bearer(factory.token(factory.user("admin", "110000"), "read admin"))
    answer = client.post("/api/v1/tokens", json={"scopes": scopes}, headers=headers)
    assert answer.status_code == 400 and answer.json["error"] == "invalid_scope"
    assert answer.json["details"][0]["where"] == where and "choose from" in answer.json["message"]


@pytest.mark.parametrize("name", [7, ["x"], {"a": 1}, "n" * 101])
def test_token_names_of_a_wrong_type_are_a_400(client, factory, name):
    headers = _bearer(factory.token(factory.user("admin", "110000"), "read admin"))
    answer = client.post("/api/v1/tokens", json={"scopes": ["read"], "name": name}, headers=headers)
    assert answer.status_code == 400 and answer.json["error"] == "invalid_name"


def test_cli_refuses_unknown_scopes_in_one_error_line(runner, factory):
    email = factory.user("adopter", "440300")
    result = runner.invoke(["token", "issue", email, "--scopes", "read,fly"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: scopes: unknown scope 'fly'")
    assert len(result.output.strip().splitlines()) == 1
