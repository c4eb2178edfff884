"""Security fixtures: a small populated marketplace and callers of every kind.

The world: 广东省 (440000) publishes ``toy-echo`` 1.0.0 (implements ``gov.toy``)
with 1.1.0 pending review; 深圳市 (440300) has installed 1.0.0 and called it.
Callers: anonymous, the publisher, the adopter, an admin (110000), a publisher
of 浙江省 (330000) and an adopter of 杭州市 (330100) — the "other jurisdiction" —
each with every scope of its role, plus tokens lacking one given scope.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from marketplace.accounts.models import ROLE_SCOPES, SCOPES
from marketplace.catalog.bundle import build_bundle
from marketplace.clock import now, period_of, previous_period
from tests.runtime.conftest import Catalog

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ROLES_OF = {"publisher": ("publisher", "440000"), "adopter": ("adopter", "440300"),
            "admin": ("admin", "110000"), "other_publisher": ("publisher", "330000"),
            "other_adopter": ("adopter", "330100")}


@dataclass
class World:
    """Everything a security test needs to address: ids, callers, tokens, bundles."""

    app: object
    factory: object
    emails: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    installation_id: int = 0
    adopter_token_id: int = 0
    new_bundle: bytes = b""
    period: str = ""

    def headers(self, who: str) -> dict:
        """Bearer headers of a caller (empty for anonymous)."""
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}

    def lacking(self, scope: str | None) -> dict:
        """Headers of an admin's token holding every scope except ``scope``."""
        key = f"lacking:{scope}"
        if key not in self.tokens:
            scopes = [s for s in SCOPES if s != scope] if scope else ["read"]
            self.tokens[key] = self.factory.token(self.emails["admin"], " ".join(scopes))
        return {"Authorization": f"Bearer {self.tokens[key]}"}

    def logged_in(self, who: str):
        """A test client with a console session of ``who`` (anonymous: none)."""
        client = self.app.test_client()
        if who in self.emails:
            page = client.get("/login").get_data(as_text=True)
            match = CSRF_RE.search(page)
            data = {"email": self.emails[who], "password": PASSWORD}
            if match:
                data["csrf_token"] = match.group(1)
            assert client.post("/login", data=data).status_code == 302
        return client


def build_world(app, factory, tmp_path: Path) -> World:
    """Publish, install and call the toy module; create every caller."""
    world = World(app=app, factory=factory)
    catalog = Catalog(app, factory, tmp_path)
    world.emails["publisher"] = catalog.publisher
    for who, (role, code) in ROLES_OF.items():
        if who != "publisher":
            world.emails[who] = factory.user(role, code)
        world.tokens[who] = factory.token(world.emails[who], " ".join(sorted(ROLE_SCOPES[role])))
    catalog.toy("toy-echo", "1.0.0", implements="gov.toy")
    catalog.toy("toy-echo", "1.1.0", implements="gov.toy", state="pending_review")
    world.new_bundle = build_bundle(catalog.toy_folder("toy-echo", "1.2.0", implements="gov.toy"),
                                    tmp_path / "new").read_bytes()
    client = app.test_client()
    adopter = world.headers("adopter")
    answer = client.post("/api/v1/installations", headers=adopter,
                         json={"module": "toy-echo", "version": "1.0.0", "accept_terms": True})
    assert answer.status_code == 201, answer.get_json()
    world.installation_id = answer.get_json()["id"]
    assert client.post("/api/v1/invoke/toy-echo/echo", headers=adopter,
                       json={"text": "hi"}).status_code == 200
    world.adopter_token_id = client.get("/api/v1/tokens", headers=adopter).get_json()["items"][0]["id"]
    world.period = previous_period(period_of(now()))
    return world


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch):
    """Argon2 at its cheapest: these tests log in hundreds of times (hashing is not under test)."""
    from argon2 import PasswordHasher

    from marketplace.accounts import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def world(app, factory, tmp_path) -> World:
    """The populated marketplace (see the module docstring)."""
    return build_world(app, factory, tmp_path)
