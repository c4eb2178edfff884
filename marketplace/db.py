"""Database plumbing: declarative base, engines (SQLite WAL + foreign keys), sessions.

Services take a SQLAlchemy ``Session`` and never import Flask; the web layer
gets one session per app context from :func:`session`.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from datetime import datetime
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from marketplace.clock import as_utc

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored as UTC; always read back aware (UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store in UTC."""
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read back aware UTC."""
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    """Declarative base with constraint naming so migrations are stable."""

    metadata = sa.MetaData(naming_convention=NAMING)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite: WAL, foreign keys on, wait instead of failing when busy."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite files get their folder created."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        from pathlib import Path

        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql"):
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
    return sa.create_engine(url, **kwargs)


class Database:
    """Engine and session factory bound to one Flask app (``init_app`` pattern)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.Session: sessionmaker[Session] | None = None

    def init_app(self, app: Any) -> None:
        """Bind to ``app``: engine from ``DATABASE_URL``, session closed per app context."""
        self.engine = make_engine(app.config["DATABASE_URL"])
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        app.extensions["db"] = self
        app.teardown_appcontext(_close_session)


def _close_session(_exc: BaseException | None) -> None:
    """Close the app context's session, rolling back anything uncommitted."""
    release_session()


def release_session() -> None:
    """Give the app context's session connection back to the pool now.

    For a view that goes on to work on a connection of its own (the gateway's
    kept connection): holding two at once, threads would wait on each other
    for the last ones in the pool.
    """
    from flask import g

    sess = g.pop("db_session", None)
    if sess is not None:
        sess.close()


def session() -> Session:
    """The current app context's session (created on first use)."""
    from flask import current_app, g

    if "db_session" not in g:
        g.db_session = current_app.extensions["db"].Session()
    return g.db_session


_write_lock = threading.Lock()
_lock_files: dict[tuple[int, str], int] = {}


@contextlib.contextmanager
def sqlite_write_turn(conn: Any) -> Iterator[None]:
    """On SQLite, queue writers across threads *and* processes on a lock file beside the database.

    SQLite has one write lock; a writer that finds it taken sleeps in its busy
    handler in steps of up to 100 ms. A blocking ``flock`` wakes the next writer
    the moment the lock is released, which keeps the gateway's p99 low. Other
    engines need no queue.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    path = conn.engine.url.database or ""
    with _write_lock:
        if not path or path == ":memory:":
            yield
            return
        key = (os.getpid(), path)
        fd = _lock_files.get(key)
        if fd is None:
            fd = _lock_files[key] = os.open(path + ".writelock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
