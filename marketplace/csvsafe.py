"""CSV the product writes: no cell a spreadsheet would run as a formula (OWASP CSV injection).

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``, ``@SUM(...)``,
``-2+3`` …). Such a cell is written with a leading ``'``, which spreadsheets show as text
and do not evaluate, unless it is a plain number (``-12.34``, ``+5``): signed amounts are
legitimate figures and must stay numbers. A carriage return inside a cell is written as a
line feed: with our ``\n`` line ends the csv module would not quote it, and a reader would
start a new row there (a row that could begin with a formula). Every CSV writer of the product goes through
:func:`writer` (a test insists), so a title, name or reason typed by anyone comes out inert.
"""
from __future__ import annotations

import csv
import re
from typing import Any, Iterable

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# a plain decimal number: what a spreadsheet reads as a number and nothing else
PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)


def cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet reads as data: formula-like text gets a leading ``'``,
    a carriage return becomes a line feed (quoted by the writer, so it stays in its cell)."""
    if not isinstance(value, str):
        return value
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if value.startswith(TRIGGERS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + text
    return text


class SafeWriter:
    """``csv.writer`` whose rows are neutralised cell by cell."""

    def __init__(self, out: Any, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        """Write one row, each cell through :func:`cell`."""
        return self._writer.writerow([cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write rows, each cell through :func:`cell`."""
        for row in rows:
            self.writerow(row)


def writer(out: Any, **options: Any) -> SafeWriter:
    """A CSV writer on ``out`` (``csv.writer`` options) that never writes a formula cell."""
    return SafeWriter(out, **options)
