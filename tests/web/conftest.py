"""Console test helpers: log in through the real form, sample bundles, a published module."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


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
