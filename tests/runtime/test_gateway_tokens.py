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
