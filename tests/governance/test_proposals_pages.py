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
    assert client.get(f"/publisher/proposals/{pid}").status_code == 403
    html = client.get("/publisher/proposals/").get_data(as_text=True)
    client.post(f"/publisher/proposals/{pid}/approve", data={"csrf_token": csrf_of(html)})
    assert world.get(ZJ, f"/api/v1/proposals/{pid}").get_json()["approvals"] == []


def test_an_expired_proposal_shows_as_expired_in_the_list(world, fixed_now):
    pid = world.propose(ZJ, {"kind": "terms", "terms": PAID}).get_json()["id"]
    fixed_now("2026-12-31T10:00:00+08:00")
    client = _client(world, SH)
    text = page_text(client.get("/publisher/proposals/?lang=zh").get_data(as_text=True))
    assert "没有等待本地区表决的提案。" in text and f"#{pid}" in text and "已过期" in text
