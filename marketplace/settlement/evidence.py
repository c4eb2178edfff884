"""An adopter's evidence for a dispute: a list of event ids, or a CSV of its own records, parsed strictly.

CSV: UTF-8, a header row naming ``id`` and optionally ``occurred_at`` and
``units``, then one record per row, at most :data:`MAX_RECORDS` rows and
:data:`MAX_CSV_BYTES` bytes. Other columns are ignored, so an adopter's usage log
in the shape of the usage report (``id,module,operation,units,occurred_at``) is
taken as it is. An id is text of 1 to 100 characters without NUL (as usage
events' ids); ``occurred_at`` is ISO-8601 with an offset (the clock's one
parser), ``units`` a whole number 0 … 10⁹. Any other shape is a 400
``invalid_evidence`` naming the line.

No records at all (``evidence_ids: []``, or a CSV of only its header) is evidence
too: the adopter made none of the platform's calls, so the reconciliation lists
every one of them as ``only_platform``.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from marketplace.clock import local_day, parse_instant
from marketplace.errors import MarketplaceError

MAX_RECORDS = 100_000
MAX_CSV_BYTES = 4 * 1024 * 1024
MAX_ID = 100
MAX_UNITS = 10**9
COLUMNS = ("id", "occurred_at", "units")


@dataclass(frozen=True)
class Record:
    """One of the adopter's records: an event id, and its day and units when it says so."""

    event_id: str
    day: date | None = None
    units: int | None = None


#: What to do with records over the limits: a dispute is one module and period, one file.
KEEP_ONLY = ("a dispute is of one module in one period, with one file: keep only the records of "
             "the disputed module and period (and only the id column if need be)")


def too_large() -> MarketplaceError:
    """The 413 of a records CSV over MAX_CSV_BYTES, saying the limits and what to keep."""
    return MarketplaceError("too_large", f"a records CSV holds at most {MAX_CSV_BYTES:,} bytes and "
                                         f"{MAX_RECORDS:,} rows; {KEEP_ONLY}", status=413)


def _bad(message: str) -> MarketplaceError:
    return MarketplaceError("invalid_evidence", message)


def _event_id(value: Any, where: str) -> str:
    """An event id (1–100 characters, no NUL), or a located 400."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID or "\x00" in value:
        raise _bad(f"{where}: an event id is text of 1 to {MAX_ID} characters (no NUL)")
    return value


def from_ids(values: Any) -> list[Record]:
    """``evidence_ids`` of a JSON body: a list of 0 … MAX_RECORDS event ids (empty: none made)."""
    if not isinstance(values, list) or len(values) > MAX_RECORDS:
        raise _bad(f"evidence_ids must be a list of at most {MAX_RECORDS:,} event ids "
                   "(or upload a CSV of your records)")
    return [Record(_event_id(v, f"evidence_ids[{i}]")) for i, v in enumerate(values)]


def from_csv(data: bytes) -> list[Record]:
    """Records of a CSV upload (see the module docstring), or a 400/413 that names the problem."""
    if len(data) > MAX_CSV_BYTES:
        raise too_large()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _bad("the records CSV is not UTF-8") from None
    if "\x00" in text:
        raise _bad("the records CSV holds a NUL character")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(_bounded(reader))
    except csv.Error as exc:
        raise _bad(f"the records CSV is malformed at line {reader.line_num}: {exc}") from None
    if not rows:
        raise _bad("the records CSV is empty; its first row names the columns: id[,occurred_at,units]")
    header = [h.strip().lower() for h in rows[0]]
    if "id" not in header or any(header.count(name) > 1 for name in COLUMNS):
        raise _bad(f"line 1: the header names an id column and optionally occurred_at, units "
                   f"(each once; other columns are ignored); got "
                   f"{', '.join(h[:20] for h in header[:8])}")
    return [_record(dict(zip(header, row)), len(header), len(row), n)
            for n, row in enumerate(rows[1:], start=2) if row]


def _bounded(reader: Any):
    """The reader's rows, refusing more than MAX_RECORDS (+ header)."""
    for count, row in enumerate(reader):
        if count > MAX_RECORDS:
            raise _bad(f"the records CSV holds more than {MAX_RECORDS:,} rows; {KEEP_ONLY}")
        yield row


def _record(row: dict[str, str], width: int, got: int, line: int) -> Record:
    """One CSV row as a Record."""
    if got != width:
        raise _bad(f"line {line}: {got} fields where the header names {width}")
    event_id = _event_id(row["id"], f"line {line}")
    day = units = None
    if row.get("occurred_at"):
        try:
            day = local_day(parse_instant(row["occurred_at"]))
        except ValueError as exc:
            raise _bad(f"line {line}: {exc}") from None
    if row.get("units"):
        raw = row["units"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= MAX_UNITS):
            raise _bad(f"line {line}: units must be a whole number 0 to {MAX_UNITS:,}")
        units = int(raw)
    return Record(event_id, day, units)
