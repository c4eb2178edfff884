"""Throwaway PostgreSQL cluster and stripe-mock server, started by the test suite itself."""
from __future__ import annotations

import contextlib
import os
import pwd
import uuid
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

PG_BIN_CANDIDATES = [os.environ.get("PG_BIN", ""), "/usr/lib/postgresql/17/bin",
                     "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Block until something listens on loopback:port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def pg_bin() -> Path:
    """Folder of the PostgreSQL server binaries; a clear error when they are missing."""
    for candidate in PG_BIN_CANDIDATES:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: install Debian's 'postgresql' "
                       "package (the test command .ci/run does) or set PG_BIN")


class PostgresCluster:
    """A private cluster in a temp folder on a free port; runs as 'postgres' when we are root."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.bin = pg_bin()
        self.as_user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> None:
        """Run a server binary, dropping root privileges if needed."""
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> str:
        """initdb + start; returns a SQLAlchemy URL of database 'postgres'."""
        self.base.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            uid = pwd.getpwnam(self.as_user).pw_uid
            os.chown(self.base, uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C.UTF-8")
        opts = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.base / "log"),
                  "-w", "start")
        return self.url("postgres")

    def create_database(self, name: str) -> str:
        """CREATE DATABASE ``name`` in this cluster; returns its SQLAlchemy URL."""
        from marketplace.db import make_engine

        admin = make_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        return self.url(name)

    def url(self, database: str) -> str:
        """SQLAlchemy URL of a database in this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop fast and remove the data."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A started throwaway cluster, stopped afterwards.

    Its folder is under /tmp itself: the postgres user cannot enter a private temp dir.
    """
    cluster = PostgresCluster(Path(f"/tmp/gm-pg-{uuid.uuid4().hex[:8]}"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def stripe_mock_binary() -> str:
    """Path of stripe-mock (go install github.com/stripe/stripe-mock@latest)."""
    candidates = [os.environ.get("STRIPE_MOCK", ""), shutil.which("stripe-mock") or "",
                  os.path.expanduser("~/go/bin/stripe-mock")]
    gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("go") else ""
    if gopath:
        candidates.append(os.path.join(gopath, "bin", "stripe-mock"))
    for path in candidates:
        if path and os.path.exists(path):
            return path
    raise RuntimeError("stripe-mock not found: run `go install github.com/stripe/stripe-mock@latest` "
                       "(the test command .ci/run does)")


class StripeMock:
    """stripe-mock listening on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start and return its base URL."""
        self.process = subprocess.Popen(
            [stripe_mock_binary(), "-http-port", str(self.port), "-https-port", str(free_port())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop it."""
        if self.process:
            self.process.terminate()
            self.process.wait(10)
