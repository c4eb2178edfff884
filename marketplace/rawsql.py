"""Core statements compiled once per dialect and run straight on a DBAPI cursor (hot paths).

SQLAlchemy's execution layer costs 30–90 µs per statement in Python; the
gateway runs three statements per call, so it compiles them once here and runs
the SQL text on the driver's cursor. Types stay single-sourced: every bound
value goes through the column type's own bind processor for the dialect
(``UTCDateTime``, JSON, dates), and every result column through its result
processor, exactly as SQLAlchemy would apply them.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class RawStatement:
    """One Core statement as SQL text for ``dialect``, with its parameter and result processing."""

    def __init__(self, stmt: sa.ClauseElement, dialect: Dialect,
                 column_keys: list[str] | None = None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=column_keys)
        self.sql = compiled.string
        self.defaults = dict(compiled.params)            # literal values bound by the compiler
        self.order: Sequence[str] | None = compiled.positiontup if dialect.positional else None
        self.binds: dict[str, Callable] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.binds[name] = process
        self.results: list[Callable | None] = []
        if isinstance(stmt, sa.Select):
            self.results = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                            for c in stmt.selected_columns]

    def parameters(self, values: dict) -> tuple | dict:
        """The driver's parameters for ``values`` (names as in the statement's bindparams)."""
        merged = {**self.defaults, **values}
        for name, process in self.binds.items():
            merged[name] = process(merged[name])
        if self.order is not None:
            return tuple(merged[name] for name in self.order)
        return merged

    def execute(self, cursor: Any, values: dict) -> Any:
        """Run on ``cursor``; returns the cursor."""
        cursor.execute(self.sql, self.parameters(values))
        return cursor

    def first(self, cursor: Any, values: dict) -> tuple | None:
        """The first result row, processed (None when there is none)."""
        rows = self.all(cursor, values)
        return rows[0] if rows else None

    def all(self, cursor: Any, values: dict) -> list[tuple]:
        """Every result row, processed.

        Reads every row, so the statement is done: on SQLite an unfinished SELECT
        would keep its read snapshot open (and hold back WAL checkpoints).
        """
        return [tuple(value if process is None or value is None else process(value)
                      for value, process in zip(row, self.results))
                for row in self.execute(cursor, values).fetchall()]
