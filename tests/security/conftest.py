"""Security fixtures: a small populated marketplace and callers of every kind.

The world: 广东省 (440000) publishes ``toy-echo`` 1.0.0 (implements ``gov.toy``)
with 1.1.0 pending review; 深圳市 (440300) has installed 1.0.0 and called it.
Callers: anonymous, the publisher, the adopter, an admin (110000), a publisher
of 浙江省 (330000) and an adopter of 杭州市 (330100) — the "other jurisdiction" —
each with every scope of its role, plus tokens lacking one given scope.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
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

    def lacking(self, accepted: tuple[str, ...]) -> dict:
        """Headers of an admin's token holding every scope except those that pass a check
        accepting any one of ``accepted`` (the scopes implying them included)."""
        from marketplace.accounts.auth import satisfying

        key = f"lacking:{' '.join(accepted)}"
        if key not in self.tokens:
            passing = satisfying(accepted)
            scopes = [s for s in SCOPES if s not in passing] if accepted else ["read"]
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


class LiveServer:
    """The app under real gunicorn (``marketplace.server.serve``) in its own process group."""

    def __init__(self, app, tmp_path: Path, workers: int = 2, **env: str) -> None:
        from tests.support.services import free_port

        self.port = free_port()
        self.workers = workers
        self.log = tmp_path / f"server-{self.port}.log"
        self.env = {**os.environ, "MARKETPLACE_DATABASE_URL": app.config["DATABASE_URL"],
                    "MARKETPLACE_ARTIFACT_DIR": app.config["ARTIFACT_DIR"],
                    "MARKETPLACE_INSTANCE": str(tmp_path / "instance"),
                    "MARKETPLACE_SECRET_KEY": "live-secret", "MARKETPLACE_NOW": "",
                    "MARKETPLACE_QUOTA_PER_MINUTE": "100000000", **env}
        self.process: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveServer":
        """Start and wait until the API answers."""
        import requests

        code = ("import sys; from marketplace.server import serve; "
                "serve('127.0.0.1', int(sys.argv[1]), int(sys.argv[2]))")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-c", code, str(self.port),
                                             str(self.workers)], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if requests.get(self.url + "/api/v1/openapi.json", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        pids: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def kill(self) -> None:
        """SIGKILL the master and every worker at once (a power cut, as far as we can tell)."""
        for pid in [self.process.pid, *self.worker_pids()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the master), SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        workers = self.worker_pids()
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def live_server(app, tmp_path):
    """Start servers on the test database; all are stopped at the end of the test."""
    started: list[LiveServer] = []

    def start(workers: int = 2, **env: str) -> LiveServer:
        server = LiveServer(app, tmp_path, workers, **env).start()
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()
