"""Provider records: every call to a settlement provider happens once, keyed in our database.

A provider call is claimed first (a ``requested`` row committed under its
idempotency key), then made, then marked ``done`` together with any rows the
call writes locally.  A crash between claim and done leaves ``requested``: the
rerun repeats the call with the *same* idempotency key, which the provider
(Stripe) answers with the first result, and our unique key keeps one row.
"""
from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from marketplace.clock import now
from marketplace.settlement.models import ProviderRecord

def insert_ignoring_conflicts(session: Session, table: sa.Table):
    """``INSERT … ON CONFLICT DO NOTHING`` for the session's dialect."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def insert_rows(session: Session, table: sa.Table, rows: list[dict]) -> None:
    """Insert many rows in few round trips (hot path of settlement).

    PostgreSQL: ``COPY … FROM STDIN`` on the session's own connection (same
    transaction; values must already be plain: ints, strings, aware datetimes).
    SQLite: the driver's executemany, which runs in-process.
    """
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    from psycopg import sql

    columns = list(rows[0])
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.connection.dbapi_connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def claim_all(session: Session, rows: list[dict]) -> set[str]:
    """Insert provider records, skipping keys that exist; returns the keys this call inserted.

    Used for bookings that commit together with the records (the ledger): a
    concurrent runner inserting the same keys gets none back and books nothing.
    """
    if not rows:
        return set()
    stmt = insert_ignoring_conflicts(session, ProviderRecord.__table__).values(rows)
    return set(session.execute(stmt.returning(ProviderRecord.__table__.c.key)).scalars())


def idempotency_key(period: str | None, jurisdiction: str, line: str) -> str:
    """The idempotency key of one provider call: ``govmarket:<period>:<jurisdiction>:<line>``."""
    return f"govmarket:{period or '-'}:{jurisdiction}:{line}"


def find(session: Session, key: str) -> ProviderRecord | None:
    """The record stored under ``key``, if any."""
    return session.scalar(sa.select(ProviderRecord).where(ProviderRecord.key == key))


def claim(session: Session, *, provider: str, key: str, object_type: str, period: str | None,
          jurisdiction: str | None, amount_minor: int = 0) -> ProviderRecord:
    """Insert the ``requested`` record for ``key`` unless it exists, commit, and return it."""
    session.execute(insert_ignoring_conflicts(session, ProviderRecord.__table__).values(
        provider=provider, key=key, object_type=object_type, period=period,
        jurisdiction_code=jurisdiction, external_id="", status="requested",
        amount_minor=amount_minor, created_at=now(), updated_at=now()))
    session.commit()
    return find(session, key)


def once(session: Session, *, provider: str, key: str, object_type: str, period: str | None,
         jurisdiction: str | None, call: Callable[[str], str],
         amount_minor: int = 0) -> ProviderRecord:
    """Run ``call(key)`` (returns the external id) unless the record for ``key`` is done.

    The call may add rows to ``session``: they commit together with the
    ``done`` mark, so local bookings and the record never disagree.
    """
    record = claim(session, provider=provider, key=key, object_type=object_type, period=period,
                   jurisdiction=jurisdiction, amount_minor=amount_minor)
    if record.status == "done":
        return record
    external_id = call(key) or ""
    # Only one runner may mark it done: a concurrent runner that made the same call
    # (same idempotency key, so the provider answered it once) drops its local rows.
    marked = session.execute(sa.update(ProviderRecord)
                             .where(ProviderRecord.key == key, ProviderRecord.status == "requested")
                             .values(status="done", external_id=external_id, updated_at=now()))
    if marked.rowcount != 1:
        session.rollback()
    else:
        session.commit()
    return session.scalar(sa.select(ProviderRecord).where(ProviderRecord.key == key)
                          .execution_options(populate_existing=True))

