"""Bundles in the database (table ``artifacts``): any number of hosts on one PostgreSQL."""
from __future__ import annotations

import os
import threading
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from marketplace.catalog.stores import Store
from marketplace.clock import now
from marketplace.db import make_engine

_engines: dict[tuple[int, str], Engine] = {}     # by process: a forked child never shares sockets
_lock = threading.Lock()


def _table() -> sa.Table:
    """The ``artifacts`` table (imported late: models import the stores' users)."""
    from marketplace.ops.models import Artifact

    return Artifact.__table__


class DbStore(Store):
    """Content-addressed rows; a write committed before publish answers."""

    kind = "db"

    def __init__(self, database_url: str) -> None:
        if not database_url:
            raise ValueError("the db artifact store needs MARKETPLACE_DATABASE_URL")
        self.url = database_url
        self.table = _table()

    @property
    def engine(self) -> Engine:
        """This process's engine for the store (its own small pool)."""
        key = (os.getpid(), self.url)
        engine = _engines.get(key)
        if engine is None:
            with _lock:
                engine = _engines.get(key)
                if engine is None:
                    extra = {"pool_size": 2} if self.url.startswith("postgresql") else {}
                    engine = _engines[key] = make_engine(self.url, **extra)
        return engine

    def exists(self, sha256: str) -> bool:
        """True if the digest is stored."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(self.table.c.sha256).where(
                self.table.c.sha256 == sha256)).first() is not None

    def digests(self) -> Iterator[str]:
        """Every stored digest, in order."""
        with self.engine.connect() as conn:
            yield from conn.scalars(sa.select(self.table.c.sha256).order_by(self.table.c.sha256))

    def check(self) -> None:
        """The table answers."""
        with self.engine.connect() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(self.table).where(
                self.table.c.sha256 == "0" * 64))

    def _read(self, sha256: str) -> bytes | None:
        with self.engine.connect() as conn:
            data = conn.scalar(sa.select(self.table.c.data).where(self.table.c.sha256 == sha256))
        return None if data is None else bytes(data)

    def _write(self, sha256: str, data: bytes) -> None:
        from marketplace import db

        try:
            with self.engine.connect() as conn:
                with db.sqlite_write_turn(conn):
                    conn.execute(self.table.insert().values(
                        sha256=sha256, size=len(data), data=data, stored_at=now()))
                    conn.commit()
        except IntegrityError:
            pass                    # another host stored the same bytes first: same content
