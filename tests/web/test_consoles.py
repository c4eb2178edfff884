"""Every console page: right role 200, wrong role 403, strangers to the login page, CSRF on forms."""
from __future__ import annotations

import io

import pytest

from tests.web.conftest import csrf_of, login, page_text

PAGES = {
    "publisher": ["/publisher/", "/publisher/usage", "/publisher/earnings", "/publisher/usage?period=2026-10"],
    "adopter": ["/adopter/", "/adopter/tokens", "/adopter/usage", "/adopter/statements", "/adopter/usage?period=2026-10"],
    "admin": ["/admin/reviews", "/admin/jurisdictions", "/admin/periods", "/admin/ledger",
              "/admin/audit"],
}
ALL = [(role, path) for role, paths in PAGES.items() for path in paths]
EVERY_ROLE = {"/adopter/tokens"}       # each role's own tokens


# What each page shows of the world below; a page that lost its table rows or figures fails.
CONTENT = {
    "/publisher/": ["居民身份核验 | resident-id-verification | 采用地区 1",
                    "1.0.0 | 居民身份核验 | 已发布 | 用者付费"],
    "/publisher/usage": ["最近 30 天 · 2026-11-03 – 2026-12-02", "合计 0", "这段时间暂无用量。"],
    "/publisher/usage?period=2026-10": ["2026-10 · 2026-10-01 – 2026-10-31", "合计 1",
                                        "采用地区 | 计费单位 | 调用次数 | 深圳市 | 1 | 1"],
    "/publisher/earnings": ["2026-10 | ¥0.00 | ¥0.01 | ¥0.01 | 已记账",
                            "居民身份核验 | 深圳市 | 1 | ¥0.01 | ¥0.00 | ¥0.01"],
    "/adopter/": ["resident-id-verification 1.0.0 | 使用中 | 条款：每次¥0.01 | "
                  "接受条款时间 2026-10-20 10:00"],
    "/adopter/tokens": ["最近使用 | gw | gm_", "invoke usage | 2026-12-02 10:00 | 吊销"],
    "/adopter/usage": ["最近 30 天 · 2026-11-03 – 2026-12-02", "合计 0",
                       "配额（次/分钟） | 居民身份核验 | 600"],
    "/adopter/usage?period=2026-10": ["合计 1", "居民身份核验: 1 计费单位",
                                      "模块 | 计费单位 | 调用次数 | 居民身份核验 | 1 | 1"],
    "/adopter/statements": ["2026-10 | ¥0.01 | ¥0.00 | -¥0.01 | 已记账",
                            "居民身份核验 | 用者付费 | 广东省 | 1 | ¥0.01"],
    "/admin/reviews": ["审核队列 | 0 | 没有待审核的模块版本。"],     # approved: not in the queue
    "/admin/jurisdictions": ["用户 | 3", "{adopter} | 采用方 | 440300 深圳市",
                             "{publisher} | 发布方 | 440000 广东省"],
    "/admin/periods": ["2026-10 | 已结算 | 2 | 1 | ¥0.01 | ¥0.00",
                       "440300 深圳市 | ¥0.01 | ¥0.00 | -¥0.01 | 内置账本 · 已记账"],
    "/admin/ledger": ["借方合计 | ¥0.01 | · 贷方合计 | ¥0.01 | ✔ 平衡",
                      "440300 深圳市 | ¥0.01 | ¥0.00 | -¥0.01"],
    "/admin/audit": ["{adopter} | 440300 | token.issue | token 1 | scopes: invoke, usage",
                     "{adopter} | 440300 | installation.create | installation 1 |",
                     "module: resident-id-verification"],
}


@pytest.fixture
def settled_october(app, people, busy_october):
    """October settled (深圳市 owes 广东省 ¥0.01 for one call) and an adopter token named "gw"."""
    from marketplace import db
    from marketplace.accounts.service import find_user, issue_token

    admin = app.test_client()
    login(admin, people["admin"])
    page = admin.get("/admin/periods").get_data(as_text=True)
    settled = admin.post("/admin/periods/settle", data={"csrf_token": csrf_of(page),
                                                        "period": "2026-10"})
    assert settled.status_code == 302, settled.get_data(as_text=True)[:500]
    with app.app_context():
        session = db.session()
        issue_token(session, find_user(session, people["adopter"]), ["invoke", "usage"], "gw")
        session.commit()


def test_every_console_page_has_its_expected_content():
    assert set(CONTENT) == {path for _, path in ALL}


@pytest.mark.parametrize("role,path", ALL)
def test_page_answers_its_own_role(client, people, settled_october, role, path):
    login(client, people[role])
    response = client.get(path)
    assert response.status_code == 200
    text = page_text(response.get_data(as_text=True))
    for expected in CONTENT[path]:
        assert expected.format(**people) in text, f"{path}: {expected!r} not in {text[:3000]}"


def test_review_queue_lists_a_pending_version(app, client, people, factory, published, tmp_path):
    from tests.runtime.conftest import Catalog

    Catalog(app, factory, tmp_path).toy("toy-echo", "1.1.0", state="pending_review")
    login(client, people["admin"])
    text = page_text(client.get("/admin/reviews").get_data(as_text=True))
    assert "审核队列 | 1 | 玩具模块 | toy-echo 1.1.0 | 发布地区 广东省" in text, text
    assert "操作 | 计费权重 | 说明 | echo | 2" in text and "决定 | 通过 | 驳回" in text
    assert "resident-id-verification" not in text                  # approved: not queued


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
