"""Token scopes: a route accepts any one of several scopes, and ``admin`` counts as ``read``.

An admin token reads what its user may already see; it never publishes, installs, invokes
or reports usage on its own, and a read-only token never writes where ``publish`` is due.
"""
from __future__ import annotations

import pytest

from marketplace.accounts.auth import require, satisfying


def test_satisfying_adds_admin_only_where_read_is_accepted():
    assert satisfying(("read",)) == {"read", "admin"}
    assert satisfying(("read", "publish")) == {"read", "publish", "admin"}
    assert satisfying(("publish",)) == {"publish"}
    for scope in ("install", "invoke", "usage"):
        assert satisfying((scope,)) == {scope}
    assert satisfying(("admin",)) == {"admin"}


def test_require_keeps_the_first_scope_and_lists_every_accepted_one():
    one = require("read")(lambda: None)
    several = require("publish", "read")(lambda: None)
    assert (one.required_scope, one.accepted_scopes) == ("read", ("read",))
    assert (several.required_scope, several.accepted_scopes) == ("publish", ("publish", "read"))
    with pytest.raises(TypeError):
        require()


def test_an_admin_only_token_reads_what_read_guards(client, factory):
    admin = factory.headers("admin", "110000", "admin")
    me = client.get("/api/v1/me", headers=admin)
    assert me.status_code == 200 and me.get_json()["scopes"] == ["admin"]   # its own, as issued
    for path in ("/api/v1/tokens", "/api/v1/installations", "/api/v1/usage", "/api/v1/monitoring",
                 "/api/v1/disputes", "/api/v1/proposals?state=open", "/api/v1/ledger/balances"):
        assert client.get(path, headers=admin).status_code == 200, path


def test_an_admin_only_token_still_cannot_invoke_install_publish_or_report(client, factory):
    admin = factory.headers("admin", "110000", "admin")
    refusals = [
        client.post("/api/v1/invoke/toy-echo/echo", json={"text": "hi"}, headers=admin),
        client.post("/api/v1/installations", json={"module": "toy-echo", "accept_terms": True},
                    headers=admin),
        client.post("/api/v1/modules", data={}, headers=admin),
        client.post("/api/v1/usage", json={"events": []}, headers=admin),
    ]
    for answer, scope in zip(refusals, ("invoke", "install", "publish", "usage")):
        assert answer.status_code == 403, answer.get_json()
        assert answer.get_json() == {
            "error": "missing_scope",
            "message": f"the token lacks scope '{scope}'; issue one with --scopes {scope}"}


def test_a_refusal_names_every_accepted_scope_and_the_one_to_issue(client, factory):
    invoke_only = factory.headers("publisher", "440000", "invoke")
    answer = client.get("/api/v1/proposals?state=open", headers=invoke_only)
    assert answer.status_code == 403
    assert answer.get_json()["message"] == ("the token lacks scope 'read' or 'publish'; "
                                            "issue one with --scopes read")
    answer = client.post("/api/v1/disputes/1/answer", json={"answer": "x"}, headers=invoke_only)
    assert answer.status_code == 403
    assert answer.get_json()["message"] == ("the token lacks scope 'publish' or 'read'; "
                                            "issue one with --scopes publish")


def test_a_read_only_token_cannot_publish_propose_or_vote(client, factory):
    read_only = factory.headers("publisher", "440000", "read")
    for answer in (client.post("/api/v1/modules", data={}, headers=read_only),
                   client.post("/api/v1/modules/toy-echo/proposals", json={"kind": "terms"},
                               headers=read_only),
                   client.post("/api/v1/proposals/1/approve", headers=read_only)):
        assert answer.status_code == 403, answer.get_json()
        assert answer.get_json()["error"] == "missing_scope"
        assert "'publish'" in answer.get_json()["message"]


def test_a_clerk_token_reads_what_it_writes(client, factory):
    """An install-only token lists installations and webhooks; a usage-only token reads the
    usage series and its disputes; neither reads statements (scope read)."""
    install = factory.headers("adopter", "440300", "install")
    usage = factory.headers("adopter", "440300", "usage")
    for path in ("/api/v1/installations", "/api/v1/webhooks/deliveries"):
        assert client.get(path, headers=install).status_code == 200, path
    for path in ("/api/v1/usage", "/api/v1/disputes"):
        assert client.get(path, headers=usage).status_code == 200, path
    for headers in (install, usage):
        answer = client.get("/api/v1/statements/2026-10", headers=headers)
        assert answer.status_code == 403 and answer.get_json()["error"] == "missing_scope"
