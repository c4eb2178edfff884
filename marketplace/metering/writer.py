"""The usage write path: one deduplicating bulk INSERT per batch, tuned per engine.

Both statements skip rows whose (installation_id, event_id) already exists
(``ON CONFLICT DO NOTHING`` on the unique index), so concurrent writers of the
same events never double count, and both report exactly how many rows were new:

* SQLite: one DBAPI ``executemany``; its rowcount is the sum over the rows.
* PostgreSQL: one ``INSERT … SELECT FROM unnest(arrays)`` statement (a column
  array per field), far cheaper than a statement per row; its rowcount is exact.

Values are converted here once per batch instead of per row by SQLAlchemy's
bind processors, which would cost more than the insert itself.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Sequence

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from marketplace.clock import as_utc
from marketplace.errors import MarketplaceError

# order of the values in every row tuple
COLUMNS = ("installation_id", "event_id", "operation", "units", "status", "occurred_at", "period",
           "day", "duration_ms", "source", "received_at")
# gateway calls (dicts) also carry a composite's sub-call's parent event (None for the rest)
CALL_COLUMNS = COLUMNS + ("parent_event",)
_DATETIMES = (COLUMNS.index("occurred_at"), COLUMNS.index("received_at"))
_DAY = COLUMNS.index("day")
_PG_TYPES = ("integer", "varchar", "varchar", "integer", "varchar", "timestamptz", "varchar", "date",
             "integer", "varchar", "timestamptz")
_CONFLICT = " ON CONFLICT (installation_id, event_id) DO NOTHING"


def _statements(columns: tuple[str, ...], types: tuple[str, ...]) -> dict[str, str]:
    return {
        "sqlite": (f"INSERT INTO usage_events ({', '.join(columns)}) VALUES "
                   f"({', '.join('?' * len(columns))})" + _CONFLICT),
        "postgresql": (f"INSERT INTO usage_events ({', '.join(columns)}) SELECT * FROM unnest("
                       + ", ".join(f"%s::{t}[]" for t in types) + ")" + _CONFLICT),
    }


_SQL = _statements(COLUMNS, _PG_TYPES)
_CALL_SQL = _statements(CALL_COLUMNS, _PG_TYPES + ("varchar",))


def sqlite_instant(value: datetime) -> str:
    """An aware datetime as SQLAlchemy stores a UTCDateTime on SQLite (naive UTC text)."""
    return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_rows(rows: Sequence[tuple]) -> list[tuple]:
    """Rows with datetimes and days as the text SQLite columns hold."""
    first, second = _DATETIMES
    received = {}
    out = []
    for row in rows:
        row = list(row)
        row[first] = sqlite_instant(row[first])
        stamp = row[second]
        row[second] = received.get(stamp) or received.setdefault(stamp, sqlite_instant(stamp))
        day = row[_DAY]
        row[_DAY] = day.isoformat() if isinstance(day, date) else day
        out.append(tuple(row))
    return out


def insert_statement(dialect: str, rows: Sequence[tuple | dict],
                     prepared: bool = False) -> tuple[str, Sequence]:
    """(SQL, parameters) inserting the rows not stored yet, for a DBAPI cursor.

    SQLite: run with ``executemany``; PostgreSQL: with ``execute`` (one array per
    column). Rows are tuples in COLUMNS order or dicts; ``prepared``: the tuples
    already hold SQLite's text for instants and days.
    """
    sql = _SQL
    if rows and isinstance(rows[0], dict):
        rows = [tuple(r[c] for c in COLUMNS) + (r.get("parent_event"),) for r in rows]
        sql = _CALL_SQL
    if dialect == "postgresql":
        return sql[dialect], tuple(list(values) for values in zip(*rows))
    if dialect == "sqlite":
        return sql[dialect], rows if prepared else _sqlite_rows(rows)
    raise MarketplaceError("unsupported_database",
                           f"usage ingest supports SQLite and PostgreSQL, not {dialect}", status=500)


def insert_new(session: Session | Connection, rows: Sequence[tuple | dict], prepared: bool = False) -> int:
    """Insert the rows (tuples in COLUMNS order, or dicts) not stored yet; returns how many were new."""
    if not rows:
        return 0
    conn = session.connection() if isinstance(session, Session) else session
    sql, parameters = insert_statement(conn.dialect.name, rows, prepared)
    return conn.exec_driver_sql(sql, parameters).rowcount
