"""Who may see and decide a proposal: one rule for the API, the console and the CLI.

A non-party learns nothing: its answer is the one for a proposal that does not exist
(404), never a 403 naming who decides. 403 is left for what a visible caller may not do
(a token without the scope, an administrator or adopter voting) and names no party.
"""
from __future__ import annotations

import json

import pytest

from marketplace.accounts.models import ROLE_SCOPES
from tests.governance.proposals_support import GD, JS, PAID, SH, ZJ, fixed_now, world  # noqa: F401
from tests.web.conftest import login, page_text

OWNERS = (ZJ, SH)


def _terms(world) -> int:
    answer = world.propose(ZJ, {"kind": "terms", "terms": PAID})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def _names_no_party(text: str) -> None:
    for code in OWNERS:
        assert code not in text, text


def test_a_non_party_gets_the_answer_of_a_missing_proposal(world):
    pid = _terms(world)
    missing = world.get(GD, "/api/v1/proposals/999999")
    for answer, number in ((world.get(GD, f"/api/v1/proposals/{pid}"), pid),
                           (world.vote(GD, pid), pid), (world.vote(GD, pid, "reject"), pid),
                           (missing, 999999), (world.vote(GD, 999999), 999999)):
        assert answer.status_code == 404, answer.get_json()
        body = answer.get_json()
        assert body["error"] == missing.get_json()["error"] == "unknown_proposal"
        assert body["message"] == missing.get_json()["message"].replace("999999", str(number))
        _names_no_party(body["message"])


def test_refusals_to_visible_callers_name_no_party(world, factory):
    pid = _terms(world)
    admin = factory.headers("admin", "110000", "read publish admin")
    for answer in (world.client.post(f"/api/v1/proposals/{pid}/approve", headers=admin),
                   world.client.post(f"/api/v1/proposals/{pid}/approve",
                                     headers=factory.headers("adopter", ZJ, "read")),
                   world.propose(GD, {"kind": "terms", "terms": PAID})):
        assert answer.status_code == 403, answer.get_json()
        _names_no_party(answer.get_json()["message"])
    # the scope is still checked first, and said as such
    scope = world.client.post(f"/api/v1/proposals/{pid}/approve",
                              headers=factory.headers("adopter", "440300", "read"))
    assert scope.status_code == 403 and scope.get_json()["error"] == "missing_scope"


def test_the_console_answers_a_non_party_as_for_a_missing_proposal(world):
    pid = _terms(world)
    client = world.app.test_client()
    login(client, world.emails[GD])
    for path in (f"/publisher/proposals/{pid}", "/publisher/proposals/999999"):
        answer = client.get(path)
        assert answer.status_code == 404
        _names_no_party(page_text(answer.get_data(as_text=True)))


def _api(world, factory, email: str, role: str, method: str, path: str, body=None):
    """The API's answer to ``email`` holding every scope its role may hold."""
    from marketplace.accounts.models import SCOPES

    scopes = " ".join(s for s in SCOPES if s in ROLE_SCOPES[role])
    headers = {"Authorization": f"Bearer {factory.token(email, scopes)}"}
    return world.client.open(path, method=method, json=body, headers=headers)


def _cli(runner, *args: str):
    result = runner.invoke(list(args))
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("who", ["non_party_publisher", "non_party_adopter", "party_adopter",
                                 "admin", "party_publisher"])
def test_the_cli_authorizes_every_verb_as_the_api(world, factory, runner, who):
    role, code = {"non_party_publisher": ("publisher", GD),
                  "non_party_adopter": ("adopter", "440300"), "party_adopter": ("adopter", SH),
                  "admin": ("admin", "110000"), "party_publisher": ("publisher", SH)}[who]
    email = world.emails[code] if role == "publisher" else factory.user(role, code)
    pid = _terms(world)
    verbs = [
        (("show", str(pid)), "GET", f"/api/v1/proposals/{pid}", None),
        (("list", "--state", "all"), "GET", "/api/v1/proposals?state=all", None),
        (("create", "delta-permit", "--kind", "owners", "--owner", f"{ZJ}:10000"),
         "POST", "/api/v1/modules/delta-permit/proposals",
         {"kind": "owners", "owners": [{"code": ZJ, "share_bps": 10000}], "note": ""}),
        (("reject", str(pid)), "POST", f"/api/v1/proposals/{pid}/reject", None),
    ]
    for args, method, path, body in verbs:
        answer = _api(world, factory, email, role, method, path, body)
        if answer.status_code < 300:
            continue            # allowed: the CLI would do it twice (checked elsewhere)
        result = _cli(runner, "proposal", *args, "--as", email)
        assert result.exit_code == 1, (args, answer.get_json(), result.output)
        refusal = answer.get_json()
        if refusal["error"] == "missing_scope":     # no token at the console: the role's scopes
            assert result.output.startswith(f"error: a {role} cannot hold scope 'publish'")
        else:
            assert result.output.strip() == "error: " + refusal["message"], args
    if who == "party_publisher":
        shown = _cli(runner, "proposal", "show", str(pid), "--as", email)
        assert json.loads(shown.output)["id"] == pid
    if who == "non_party_adopter":
        listed = _cli(runner, "proposal", "list", "--state", "all", "--as", email)
        assert listed.exit_code == 0 and str(pid) not in listed.output
