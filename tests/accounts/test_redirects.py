"""``next`` after login stays on the site, whatever shape the target takes (DESIGN §12)."""
from __future__ import annotations

import string
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.accounts.views import safe_next

PASSWORD = "correct horse battery"
SITE = "https://market.example/login"
BUDGET = settings(max_examples=200, derandomize=True, database=None, deadline=None)


def _browser_host(location: str) -> str:
    """Where a browser goes for a Location header (WHATWG: tabs/newlines dropped, "\\" is "/")."""
    cleaned = "".join(ch for ch in location.strip("\x00 \x1f") if ch not in "\t\n\r")
    return urlsplit(urljoin(SITE, cleaned.replace("\\", "/"))).netloc


def _stays(location: str) -> bool:
    """The target, and every decoding of it, lands on this host."""
    layer = location
    for _ in range(3):
        if _browser_host(layer) != "market.example" or layer.startswith(("//", "/\\")):
            return False
        layer = unquote(layer)
    return True


ATTACKS = ["//evil.example", "/\t/evil.example", "/%09/evil.example", "/\\evil.example",
           "\\\\evil.example", "https://evil.example/", "javascript:alert(1)", "/\n/evil.example",
           "/%2F/evil.example", "/%252F%252Fevil.example", "/%5Cevil.example", " //evil.example",
           "http:/evil.example", "/\u3000/evil.example", "/\u200b/evil.example", "%2F%2Fevil.example",
           "///evil.example", "/%0d%0aSet-Cookie:x=1", "", None, 7, ["/"]]


@pytest.mark.parametrize("target", ATTACKS)
def test_known_tricks_fall_back_to_the_home_page(target):
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/adopter/", "/adopter/tokens?x=1#t", "/modules/toy-echo",
                                    "/?q=%E4%BC%81%E4%B8%9A", "/a:b/c", "/%41"])
def test_paths_on_the_site_are_kept(target):
    assert safe_next(target) == target


PIECES = st.sampled_from(["/", "\\", "%", ":", ".", "@", "?", "#", "\t", "\n", " ", "\x00", "e", "v",
                          "il", "2F", "5C", "%2F", "%5C", "%09", "%25", "%0a", "\u3000", "https:"])


@BUDGET
@given(st.lists(PIECES, max_size=12).map("".join))
def test_any_target_either_stays_on_the_site_or_goes_home(target):
    result = safe_next(target)
    assert result == "/" or (result == target and _stays(result))


@BUDGET
@given(st.text(max_size=40))
def test_arbitrary_text_never_leaves_the_site(target):
    assert _stays(safe_next(target))


@BUDGET
@given(st.lists(st.text(alphabet=string.ascii_letters + string.digits + "-_.~", min_size=1,
                        max_size=8), min_size=0, max_size=4))
def test_plain_site_paths_survive(segments):
    path = "/" + "/".join(quote(s) for s in segments)
    assert safe_next(path) == path


def test_login_with_a_tab_smuggled_next_redirects_home(app, factory):
    app.config["WTF_CSRF_ENABLED"] = False
    email = factory.user("adopter")
    answer = app.test_client().post("/login?next=/%09/evil.example",
                                    data={"email": email, "password": PASSWORD})
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_login_goes_on_to_a_local_next(app, factory):
    app.config["WTF_CSRF_ENABLED"] = False
    email = factory.user("adopter")
    answer = app.test_client().post("/login?next=/adopter/tokens",
                                    data={"email": email, "password": PASSWORD})
    assert answer.status_code == 302 and answer.headers["Location"] == "/adopter/tokens"
