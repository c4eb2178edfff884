"""Several ``marketplace serve`` hosts on one database and one artifact store (tests and bench)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support.services import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = '''[module]
name = "scale-echo"
version = "1.0.0"
title = "扩展回声"
summary = "Trivial echo operation for the several-hosts test."
category = "public_service"
entry = "scale_echo"
source_license = "MIT"

[[operations]]
name = "echo"
units = 1
input = { type = "object", required = ["text"], properties = { text = { type = "string" } } }
output = { type = "object", required = ["text"], properties = { text = { type = "string" } } }

[[operations.examples]]
input = { text = "x" }
output = { text = "x" }

[terms]
kind = "free"
'''
CODE = '''from marketplace.sdk import hookimpl


@hookimpl
def echo(payload, context):
    return {"text": payload["text"]}
'''


def bundle(workdir: Path) -> bytes:
    """The scale-echo module as bundle bytes."""
    from marketplace.catalog.bundle import build_bundle

    src = workdir / "scale-src"
    (src / "scale_echo").mkdir(parents=True, exist_ok=True)
    (src / "manifest.toml").write_text(MANIFEST, encoding="utf-8")
    (src / "scale_echo" / "__init__.py").write_text(CODE, encoding="utf-8")
    return build_bundle(src, workdir / "scale-dist").read_bytes()


def prepare(url: str) -> dict:
    """Migrate ``url``, load divisions, add a publisher, an adopter and an admin; their tokens."""
    from sqlalchemy.orm import Session

    from marketplace.accounts import service as accounts
    from marketplace.db import make_engine
    from marketplace.migrate import upgrade

    upgrade(url)
    engine = make_engine(url)
    tokens = {}
    with Session(engine) as session:
        accounts.load_divisions(session)
        for role, code, scopes in (("publisher", "440000", "publish read"),
                                   ("adopter", "440300", "install invoke read"),
                                   ("admin", "110000", "read admin")):
            user = accounts.add_user(session, f"{role}@scale.example.cn", "correct horse battery",
                                     code, role)
            tokens[role] = accounts.issue_token(session, user, scopes)[1]
        session.commit()
    engine.dispose()
    return tokens


@dataclass
class Host:
    """One ``marketplace serve`` process group with its own instance folder."""

    url: str
    instance: Path
    store: str = "db"
    workers: int = 2
    port: int = 0
    proc: subprocess.Popen | None = None
    env: dict = field(default_factory=dict)     # more environment (S3 endpoint and keys)

    def start(self) -> "Host":
        """Start serving (gunicorn master and workers in a process group of their own)."""
        self.port = free_port()
        self.instance.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MARKETPLACE_DATABASE_URL": self.url,
               "MARKETPLACE_INSTANCE": str(self.instance),
               "MARKETPLACE_ARTIFACT_STORE": self.store, "MARKETPLACE_SECRET_KEY": "scale",
               "MARKETPLACE_REQUIRE_REVIEW": "0", "MARKETPLACE_METRICS_ALLOW": "127.0.0.1",
               "MARKETPLACE_QUOTA_PER_MINUTE": str(10 ** 9), "PYTHONPATH": str(ROOT),
               **self.env}
        for key in ("MARKETPLACE_NOW", "MARKETPLACE_ARTIFACT_DIR", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(key, None)
        self.log = open(self.instance / "server.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "marketplace", "serve", "--port", str(self.port),
             "--workers", str(self.workers)], cwd=self.instance, env=env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, 60)
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL the whole host: master and workers at once (a host lost)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Stop serving (SIGTERM, then SIGKILL after 15 s)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()


@dataclass
class Tally:
    """What the load saw on one host: acknowledged event ids, failures, answer times."""

    acked: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def load(hosts: list[Host], token: str, stop: threading.Event, threads_per_host: int = 4,
         deadline: float | None = None) -> dict[int, Tally]:
    """Invoke scale-echo on every host from ``threads_per_host`` keep-alive clients each,
    until ``stop`` is set (or ``deadline``); returns each host's tally by port."""
    tallies = {host.port: Tally() for host in hosts}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client(host: Host, tally: Tally) -> None:
        session = requests.Session()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            started = time.perf_counter()
            try:
                answer = session.post(f"{host.base}/api/v1/invoke/scale-echo/echo",
                                      data=b'{"text":"hi"}', headers=headers, timeout=10)
            except requests.RequestException as exc:
                with tally.lock:
                    tally.failed.append(type(exc).__name__)
                if host.proc is not None and host.proc.poll() is not None:
                    return          # the host is gone: its clients stop
                time.sleep(0.05)
                continue
            with tally.lock:
                if answer.status_code == 200:
                    tally.acked.append(answer.headers["X-Usage-Event"])
                    tally.seconds.append(time.perf_counter() - started)
                else:
                    tally.failed.append(answer.status_code)
        session.close()

    workers = [threading.Thread(target=client, args=(host, tallies[host.port]), daemon=True)
               for host in hosts for _ in range(threads_per_host)]
    for each in workers:
        each.start()
    for each in workers:
        each.join()
    return tallies


def new_database(cluster) -> str:
    """A fresh database in ``cluster``."""
    return cluster.create_database(f"hosts_{uuid.uuid4().hex[:8]}")
