"""Every console page: right role 200, wrong role 403, strangers to the login page, CSRF on forms."""
from __future__ import annotations

import io

import pytest

from tests.web.conftest import csrf_of, login

PAGES = {
    "publisher": ["/publisher/", "/publisher/usage", "/publisher/earnings"],
    "adopter": ["/adopter/", "/adopter/tokens", "/adopter/usage", "/adopter/statements"],
    "admin": ["/admin/reviews", "/admin/jurisdictions", "/admin/periods", "/admin/ledger",
              "/admin/audit"],
}
ALL = [(role, path) for role, paths in PAGES.items() for path in paths]
EVERY_ROLE = {"/adopter/tokens"}       # each role's own tokens


@pytest.mark.parametrize("role,path", ALL)
def test_page_answers_its_own_role(client, people, role, path):
    login(client, people[role])
    response = client.get(path)
    assert response.status_code == 200
    assert "<html" in response.get_data(as_text=True)


@pytest.mark.parametrize("role,path", ALL)
def test_page_refuses_other_roles(app, people, role, path):
    for other in {"publisher", "adopter", "admin"} - {role}:
        client = app.test_client()
        login(client, people[other])
        assert client.get(path).status_code == (200 if path in EVERY_ROLE else 403)


@pytest.mark.parametrize("role,path", ALL)
def test_page_sends_strangers_to_login(client, role, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_nav_links_follow_role(client, people):
    login(client, people["adopter"])
    html = client.get("/adopter/").get_data(as_text=True)
    assert "/adopter/tokens" in html and "/admin/periods" not in html


def test_forms_refuse_posts_without_csrf_token(client, people):
    login(client, people["adopter"])
    response = client.post("/adopter/tokens", data={"name": "x", "scopes": "invoke"})
    assert response.status_code == 400
    assert "csrf" in response.get_data(as_text=True).lower()


def test_english_on_request(client, people):
    login(client, people["admin"])
    html = client.get("/admin/audit?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html and "Audit journal" in html and "审计日志" not in html


def _upload(client, data: bytes):
    token = csrf_of(client.get("/publisher/").get_data(as_text=True))
    return client.post("/publisher/upload", content_type="multipart/form-data",
                       data={"csrf_token": token, "bundle": (io.BytesIO(data), "m.zip")})


def test_bad_upload_shows_located_errors_in_place(client, people):
    login(client, people["publisher"])
    response = _upload(client, b"this is not a zip file")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="upload-errors"' in html and 'class="where"' in html


def test_good_upload_lands_pending_review(client, people, sample_bundle):
    login(client, people["publisher"])
    assert _upload(client, sample_bundle).status_code == 302
    html = client.get("/publisher/").get_data(as_text=True)
    assert "resident-id-verification" in html and "pending_review" in html


def test_admin_approves_from_review_queue(app, client, people, sample_bundle):
    publisher = app.test_client()
    login(publisher, people["publisher"])
    _upload(publisher, sample_bundle)
    login(client, people["admin"])
    page = client.get("/admin/reviews").get_data(as_text=True)
    assert 'id="review-resident-id-verification-1.0.0"' in page and "校验报告" in page
    response = client.post("/admin/reviews/resident-id-verification/1.0.0",
                           data={"csrf_token": csrf_of(page), "decision": "approve", "reason": ""})
    assert response.status_code == 302
    assert 'id="review-resident-id' not in client.get("/admin/reviews").get_data(as_text=True)
    assert "published" in publisher.get("/publisher/").get_data(as_text=True)


def test_install_shows_cost_and_needs_acceptance(client, people, published):
    login(client, people["adopter"])
    page = client.get(f"/adopter/install/{published}?units=50000")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "¥500.00" in html  # 50,000 units × ¥0.01
    refused = client.post(f"/adopter/install/{published}",
                          data={"csrf_token": csrf_of(html), "version": "1.0.0"})
    assert refused.status_code == 400
    done = client.post(f"/adopter/install/{published}",
                       data={"csrf_token": csrf_of(html), "version": "1.0.0", "accept_terms": "y"})
    assert done.status_code == 302
    assert published in client.get("/adopter/").get_data(as_text=True)


def test_uninstall_ends_installation(client, people, published):
    login(client, people["adopter"])
    html = client.get(f"/adopter/install/{published}").get_data(as_text=True)
    client.post(f"/adopter/install/{published}",
                data={"csrf_token": csrf_of(html), "version": "1.0.0", "accept_terms": "y"})
    home = client.get("/adopter/").get_data(as_text=True)
    import re
    action = re.search(r'/adopter/installations/(\d+)/uninstall', home).group(0)
    assert client.post(action, data={"csrf_token": csrf_of(home)}).status_code == 302
    assert 'installation ended' in client.get("/adopter/").get_data(as_text=True)


def test_token_shown_once_then_revoked(client, people):
    login(client, people["adopter"])
    html = client.get("/adopter/tokens").get_data(as_text=True)
    created = client.post("/adopter/tokens", data={"csrf_token": csrf_of(html), "name": "gw",
                                                   "scopes": ["invoke", "usage"]})
    page = created.get_data(as_text=True)
    assert created.status_code == 200 and 'id="token-secret">gm_' in page
    assert created.headers["Cache-Control"] == "no-store"
    again = client.get("/adopter/tokens").get_data(as_text=True)
    assert "token-secret" not in again and "invoke usage" in again
    import re
    action = re.search(r'/adopter/tokens/(\d+)/revoke', again).group(0)
    client.post(action, data={"csrf_token": csrf_of(again)})
    assert "revoked" in client.get("/adopter/tokens").get_data(as_text=True)


def test_token_scope_outside_role_is_refused(client, people):
    login(client, people["adopter"])
    html = client.get("/adopter/tokens").get_data(as_text=True)
    response = client.post("/adopter/tokens", data={"csrf_token": csrf_of(html), "name": "x",
                                                    "scopes": ["admin"]})
    assert response.status_code == 400 and "token-secret" not in response.get_data(as_text=True)


def test_admin_adds_user(client, people):
    login(client, people["admin"])
    html = client.get("/admin/jurisdictions").get_data(as_text=True)
    response = client.post("/admin/jurisdictions", data={
        "csrf_token": csrf_of(html), "email": "new@hz.gov.cn", "name": "新人",
        "jurisdiction": "330100", "role": "adopter", "password": "long enough 2026"})
    assert response.status_code == 302
    assert "new@hz.gov.cn" in client.get("/admin/jurisdictions").get_data(as_text=True)
    assert "user.add" in client.get("/admin/audit").get_data(as_text=True)


def test_admin_add_user_shows_service_refusal(client, people):
    login(client, people["admin"])
    html = client.get("/admin/jurisdictions").get_data(as_text=True)
    response = client.post("/admin/jurisdictions", data={
        "csrf_token": csrf_of(html), "email": people["adopter"], "jurisdiction": "440300",
        "role": "adopter", "password": "long enough 2026"})
    assert response.status_code == 409 and "already exists" in response.get_data(as_text=True)


def test_publishers_and_admins_manage_their_own_tokens_from_the_navigation(client, people, app):
    """A publisher needs a publish token without an operator: the tokens page serves every role."""
    from marketplace import db
    from marketplace.accounts import service as accounts

    login(client, people["publisher"])
    home = client.get("/publisher/").get_data(as_text=True)
    assert 'href="/adopter/tokens"' in home
    html = client.get("/adopter/tokens").get_data(as_text=True)
    created = client.post("/adopter/tokens", data={"csrf_token": csrf_of(html), "name": "ci",
                                                   "scopes": ["publish"]})
    assert created.status_code == 200 and 'id="token-secret">gm_' in created.get_data(as_text=True)
    refused = client.post("/adopter/tokens", data={"csrf_token": csrf_of(html), "name": "x",
                                                   "scopes": ["admin"]})
    assert refused.status_code == 400
    with app.app_context():
        user = accounts.find_user(db.session(), people["publisher"])
        assert [t.scopes for t in accounts.list_tokens(db.session(), user)] == ["publish"]


def test_login_prompt_speaks_the_pages_language(client):
    first = client.get("/adopter/", follow_redirects=True).get_data(as_text=True)
    assert "请先登录再打开此页面。" in first and "Please log in" not in first
    english = client.get("/adopter/?lang=en", follow_redirects=True).get_data(as_text=True)
    assert "Please log in to open this page." in english
