"""Every console page a role can click to, in Chinese and English, on the populated demo:
no stored code word, Python or JSON dict, or raw ISO timestamp reaches the reader."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from marketplace import demo
from marketplace.web.i18n import LABELS
from tests.web.conftest import csrf_of

ROLES = {"admin": "admin@platform.gov.cn", "publisher": "publisher@gd.gov.cn",
         "adopter": "adopter@sz.gov.cn"}
HOMES = {"admin": "/admin/reviews", "publisher": "/publisher/", "adopter": "/adopter/"}
CONSOLE = ("/admin", "/publisher", "/adopter", "/modules/")
# every stored code word, and every snake_case one anywhere in a text
CODE_WORDS = {word for words in LABELS.values() for word in words} | {"booked", "ledger"}
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
RAW = [("a Python dict", re.compile(r"\{'[^']*': ")), ("a Python value", re.compile(r": (True|False|None)\b")),
       ("a JSON object", re.compile(r'\{"[^"]*": ')),
       ("an ISO timestamp", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\d{2}:\d{2}:\d{2}\.\d{3,}|[+-]00:00\b"))]
MAX_PAGES = 60


class Reader(HTMLParser):
    """The visible text nodes of a page (not in code, pre, script or style) and its links."""

    SKIP = {"code", "pre", "script", "style"}

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.links: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1
        if tag == "a" and (href := dict(attrs).get("href")):
            self.links.append(href)

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth and data.strip():
            self.texts.append(data.strip())


def problems_in(texts: list[str]) -> list[str]:
    """What a reader should not see, quoted."""
    found = []
    for text in texts:
        parts = [p.strip() for p in re.split(r"[·:：|]", text)]
        found += [f"code word {p!r} in {text!r}" for p in parts if p in CODE_WORDS]
        found += [f"code word {m!r} in {text!r}" for m in SNAKE.findall(text)]
        found += [f"{what} in {text[:80]!r}" for what, pattern in RAW if pattern.search(text)]
    return found


def crawl(client, start: str, lang: str) -> dict[str, list[str]]:
    """Follow the links from ``start`` to console pages, module pages and the catalogue
    (query strings: a period only)."""
    client.get(f"{start}?lang={lang}")
    queue, seen, report = [start], {start}, {}
    while queue and len(seen) <= MAX_PAGES:
        url = queue.pop(0)
        response = client.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        reader = Reader()
        reader.feed(response.get_data(as_text=True))
        if bad := problems_in(reader.texts):
            report[url] = bad
        for href in reader.links:
            parts = urlsplit(urljoin(url, href))
            on_site = parts.netloc in ("", "localhost")
            if not on_site or not (parts.path.startswith(CONSOLE) or parts.path == "/"):
                continue
            if parts.path.endswith(".csv") or (parts.query and not parts.query.startswith("period=")):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return report


@pytest.fixture
def demo_app(app):
    """The app holding the demo: three publishers, four cities, three settled months."""
    from marketplace.demo_cli import MODULES_DIR

    demo.populate(app, MODULES_DIR, say=lambda text: None)
    return app


def test_no_page_shows_code_words_dicts_or_raw_timestamps(demo_app):
    report = {}
    for role, email in ROLES.items():
        for lang in ("zh", "en"):
            client = demo_app.test_client()
            token = csrf_of(client.get("/login").get_data(as_text=True))
            response = client.post("/login", data={"email": email, "password": demo.PASSWORD,
                                                   "csrf_token": token})
            assert response.status_code == 302
            for url, bad in crawl(client, HOMES[role], lang).items():
                report[f"{role} {lang} {url}"] = bad[:5]
    assert not report, "\n".join(f"{page}: {bad}" for page, bad in report.items())


def test_the_crawl_catches_what_the_issue_found():
    shown = ["ledger · booked", "{'provider': 'ledger', 'ok': True, 'netting': False}",
             "结算于 2026-12-02T05:27:04.609461+00:00", "pay_per_use", "open"]
    assert len(problems_in(shown)) >= 5
    assert problems_in(["内置账本 · 已记账", "2026-12-02 13:27", "Log in", "用者付费"]) == []

