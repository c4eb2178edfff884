"""The publisher pages of joint decisions: 待我决定 and a proposal with who voted, in both languages."""
from __future__ import annotations

from tests.governance.proposals_support import (GD, JS, PAID, SH, ZJ, fixed_now,  # noqa: F401
                                                owners_body, world)
from tests.web.conftest import csrf_of, login, page_text
from tests.web.test_page_words import problems_in, Reader


def _client(world, code: str):
    client = world.app.test_client()
    login(client, world.emails[code])
    return client


def _words(html: str) -> list[str]:
    reader = Reader()
    reader.feed(html)
    return problems_in(reader.texts)


def test_awaiting_page_lists_my_pending_decisions_in_chinese_and_english(world):
    pid = world.propose(ZJ, owners_body((ZJ, 4000), (SH, 3000), (JS, 3000))).get_json()["id"]
    client = _client(world, SH)
    home = client.get("/publisher/").get_data(as_text=True)
    assert "/publisher/proposals/" in home                            # linked from the console
    zh = client.get("/publisher/proposals/?lang=zh")
    assert zh.status_code == 200
    text = page_text(zh.get_data(as_text=True))
    assert "待我决定" in text and f"#{pid}" in text and "共有方与份额" in text
    assert not _words(zh.get_data(as_text=True))
    en = client.get("/publisher/proposals/?lang=en").get_data(as_text=True)
    assert "Awaiting my decision" in page_text(en) and "Owners and shares" in page_text(en)
    assert not _words(en)
    stranger = _client(world, GD).get("/publisher/proposals/").get_data(as_text=True)
    assert f"#{pid}" not in page_text(stranger)


def test_proposal_page_shows_who_voted_and_who_still_must_and_takes_a_vote(world):
    pid = world.propose(ZJ, owners_body((ZJ, 4000), (SH, 3000), (JS, 3000))).get_json()["id"]
    world.vote(ZJ, pid)
    client = _client(world, SH)
    html = client.get(f"/publisher/proposals/{pid}?lang=zh").get_data(as_text=True)
    text = page_text(html)
    assert "330000 浙江省 | 60.00% | 同意" in text
    assert "310000 上海市 | 40.00% | 尚未表决" in text and "320000 江苏省 | 0.00% | 尚未表决" in text
    assert "¥1,200,000.00" in text and "待决定" in text
    assert not _words(html)
    answer = client.post(f"/publisher/proposals/{pid}/approve", data={"csrf_token": csrf_of(html)})
    assert answer.status_code == 302
    after = client.get(f"/publisher/proposals/{pid}").get_data(as_text=True)
    assert "310000 上海市 | 40.00% | 同意" in page_text(after)
    assert 'id="vote-forms"' not in after                            # voted: no buttons again
    en = client.get(f"/publisher/proposals/{pid}?lang=en").get_data(as_text=True)
    assert "Approve" in page_text(en) and "not voted yet" in page_text(en)
    assert not _words(en)


def test_a_second_vote_from_the_page_is_refused_with_a_message(world):
    pid = world.propose(ZJ, {"kind": "terms", "terms": PAID}).get_json()["id"]
    client = _client(world, SH)
    html = client.get(f"/publisher/proposals/{pid}").get_data(as_text=True)
    token = csrf_of(html)
    assert client.post(f"/publisher/proposals/{pid}/reject", data={"csrf_token": token}
                       ).status_code == 302
    client.post(f"/publisher/proposals/{pid}/reject", data={"csrf_token": token})
    shown = page_text(client.get(f"/publisher/proposals/{pid}").get_data(as_text=True))
    assert "already voted" in shown
    assert world.get(SH, f"/api/v1/proposals/{pid}").get_json()["rejections"] == [SH]


def test_a_non_party_cannot_open_the_proposal_page(world):
    pid = world.propose(ZJ, {"kind": "terms", "terms": PAID}).get_json()["id"]
    client = _client(world, GD)
    assert client.get(f"/publisher/proposals/{pid}").status_code == 404      # as if missing
    html = client.get("/publisher/proposals/").get_data(as_text=True)
    client.post(f"/publisher/proposals/{pid}/approve", data={"csrf_token": csrf_of(html)})
    assert world.get(ZJ, f"/api/v1/proposals/{pid}").get_json()["approvals"] == []


def test_an_expired_proposal_shows_as_expired_in_the_list(world, fixed_now):
    pid = world.propose(ZJ, {"kind": "terms", "terms": PAID}).get_json()["id"]
    fixed_now("2026-12-31T10:00:00+08:00")
    client = _client(world, SH)
    text = page_text(client.get("/publisher/proposals/?lang=zh").get_data(as_text=True))
    assert "没有等待本地区表决的提案。" in text and f"#{pid}" in text and "已过期" in text


def test_an_owner_proposes_from_the_console_and_sees_it(world):
    client = _client(world, ZJ)
    html = client.get("/publisher/proposals/?lang=zh").get_data(as_text=True)
    assert 'id="propose-form"' in html and "delta-permit" in html and not _words(html)
    answer = client.post("/publisher/proposals/new", data={
        "csrf_token": csrf_of(html), "module": "delta-permit", "kind": "owners",
        "owners": f"{ZJ}:5000\n{SH}：3000\n{JS} 2000\n", "build_cost": "800000.00",
        "note": "江苏加入"})
    assert answer.status_code == 302
    pid = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    body = world.get(SH, f"/api/v1/proposals/{pid}").get_json()
    assert body["owners"] == [{"code": SH, "share_bps": 3000}, {"code": JS, "share_bps": 2000},
                              {"code": ZJ, "share_bps": 5000}]
    assert body["build_cost"] == "800000.00" and body["approvals"] == []
    terms = client.post("/publisher/proposals/new", data={
        "csrf_token": csrf_of(html), "module": "delta-permit", "kind": "terms",
        "terms": '{"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", '
                 '"unit_price": "0.05"}'})
    assert terms.status_code == 302
    en = client.get("/publisher/proposals/?lang=en").get_data(as_text=True)
    assert "Make a proposal" in page_text(en) and not _words(en)


def test_a_bad_console_proposal_shows_its_problems_and_makes_nothing(world):
    client = _client(world, ZJ)
    token = csrf_of(client.get("/publisher/proposals/").get_data(as_text=True))
    for data, says in (({"kind": "owners", "owners": f"{ZJ}:6000\n{SH}:3000"}, "sum to 10,000"),
                       ({"kind": "owners", "owners": "浙江 六成"}, "CODE:BASIS_POINTS"),
                       ({"kind": "terms", "terms": "{kind: free}"}, "JSON"),
                       ({"kind": "terms", "terms": '{"kind": "gift"}'}, "unknown kind"),
                       ({"kind": "vote", "owners": ""}, "body.kind")):
        answer = client.post("/publisher/proposals/new",
                             data={"csrf_token": token, "module": "delta-permit", **data})
        assert answer.status_code == 400, data
        assert says in page_text(answer.get_data(as_text=True)), data
    stranger = _client(world, GD)
    page = stranger.get("/publisher/proposals/").get_data(as_text=True)
    assert 'id="propose-form"' not in page                 # 广东 owns nothing here
    refused = stranger.post("/publisher/proposals/new", data={
        "csrf_token": csrf_of(page), "module": "delta-permit", "kind": "owners",
        "owners": f"{GD}:10000"})
    assert refused.status_code == 403
    assert "only a publisher of" in page_text(refused.get_data(as_text=True))
    assert world.get(ZJ, "/api/v1/proposals?state=all").get_json()["items"] == []
