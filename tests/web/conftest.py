"""Console test helpers: log in through the real form, sample bundles, a published module."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)



class _Text(HTMLParser):
    """The visible text of a page, script and style left out."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.texts.append(" ".join(data.split()))


def page_text(html: str) -> str:
    """A page's visible text, one " | " between text nodes (cells, labels, figures)."""
    reader = _Text()
    reader.feed(html)
    return " | ".join(reader.texts)

def login(client, email: str, password: str = "correct horse battery"):
    """Log in through the login form (with its CSRF token)."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


@pytest.fixture(scope="session")
def sample_bundle(tmp_path_factory) -> bytes:
    """The resident-id-verification sample module as bundle bytes (built once)."""
    from marketplace.catalog.bundle import build_bundle

    out = tmp_path_factory.mktemp("bundles")
    return build_bundle(REPO / "modules" / "resident-id-verification", out).read_bytes()


@pytest.fixture
def people(factory):
    """A publisher (广东省), an adopter (深圳市) and an admin, by role."""
    return {"publisher": factory.user("publisher", "440000"),
            "adopter": factory.user("adopter", "440300"),
            "admin": factory.user("admin", "110000")}


@pytest.fixture
def published(app, people, sample_bundle):
    """The sample module published by 广东省 and approved: returns its name."""
    from marketplace import db
    from marketplace.accounts.service import find_user
    from marketplace.catalog import service as catalog
    from marketplace.catalog.store import store_for

    with app.app_context():
        session = db.session()
        result = catalog.publish(session, sample_bundle, find_user(session, people["publisher"]),
                                 store_for(app.config))
        catalog.review(session, result.version.module.name, result.version.version, "approve",
                       "", find_user(session, people["admin"]))
        session.commit()
        return result.version.module.name


@pytest.fixture
def busy_october(app, people, published):
    """深圳市 installs on 2026-10-20 and calls once; the clock stands in December."""
    import sqlalchemy as sa

    from marketplace import db
    from marketplace.accounts.service import find_user
    from marketplace.clock import clock, parse_instant
    from marketplace.metering.models import UsageEvent
    from marketplace.metering.service import call_event
    from marketplace.runtime import service as runtime

    clock.configure("2026-10-20T10:00:00+08:00", "Asia/Shanghai")
    with app.app_context():
        session = db.session()
        item = runtime.install(session, find_user(session, people["adopter"]), published,
                               accept_terms=True)
        session.execute(sa.insert(UsageEvent), call_event(
            installation_id=item.id, event_id="e1", operation="verify_id", units=1,
            status="ok", occurred_at=parse_instant("2026-10-20T09:00:00+08:00")))
        session.commit()
    clock.configure("2026-12-02T10:00:00+08:00", "Asia/Shanghai")
    yield item
    clock.configure("", "Asia/Shanghai")
