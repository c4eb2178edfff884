"""CLI verbs: usage import (CSV or JSONL), usage seal, usage verify."""
from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import click

from marketplace import jsonio
from marketplace.errors import MarketplaceError

MAX_SHOWN_REJECTIONS = 20
_WHOLE = re.compile(r"-?[0-9]{1,20}", re.ASCII)   # ASCII digits only: "²".isdigit() is True


def read_events(path: Path) -> Iterator[dict]:
    """Events from a JSONL file (one object a line) or a CSV file with a header line."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        first = handle.read(1)
        handle.seek(0)
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or first in "{[":
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield jsonio.loads(line, where=f"{path.name} line {number}", surrogates=True)
                    except jsonio.JSONRefused as exc:
                        raise MarketplaceError("invalid_file", exc.message) from None
            return
        for row in csv.DictReader(handle):
            yield _csv_event(row)


def _csv_event(row: dict) -> dict:
    """A CSV row as an event: empty cells dropped, whole-number units and duration as ints.

    Anything else stays text, so the event is rejected (``invalid_units``), not the file.
    """
    event = {k.strip(): v.strip() for k, v in row.items()
             if isinstance(k, str) and k and isinstance(v, str) and v}
    for key in ("units", "duration_ms"):
        if key in event and _WHOLE.fullmatch(event[key]):
            event[key] = int(event[key])
    return event


def count_lines(path: Path) -> int | None:
    """How many events the file holds, for the progress bar (None if it cannot tell)."""
    try:
        with path.open("rb") as handle:
            lines = sum(1 for line in handle if line.strip())
    except OSError:
        return None
    return lines - (0 if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else 1)


def register(main: click.Group) -> None:
    """Add this area's commands to the main group."""
    from marketplace.cli import Group, RowId, app_session

    @main.group(cls=Group)
    def usage():
        """Usage events: import reported usage, seal and verify the digest chain."""

    @usage.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--as", "email", required=True, help="user whose jurisdiction reports the usage")
    def usage_import(file: Path, email: str):
        """Import usage events from FILE (CSV with a header, or JSONL) in batches of 1,000."""
        from tqdm import tqdm

        from marketplace.accounts.service import find_user
        from marketplace.metering.service import ingest_all

        with app_session() as session:
            user = find_user(session, email)
            code = user.jurisdiction_code
            with tqdm(total=count_lines(file), unit="event", file=click.get_text_stream("stderr"),
                      desc=f"importing {file.name}") as bar:
                result = ingest_all(session, code, read_events(file), progress=bar.update)
        for rejection in result.rejected[:MAX_SHOWN_REJECTIONS]:
            why = f" — {rejection.message}" if rejection.message else ""
            click.echo(f"rejected event {rejection.index + 1} (id {rejection.id!r}): "
                       f"{rejection.reason}{why}", err=True)
        if len(result.rejected) > MAX_SHOWN_REJECTIONS:
            click.echo(f"… and {len(result.rejected) - MAX_SHOWN_REJECTIONS} more rejected", err=True)
        total = result.accepted + result.duplicates + len(result.rejected)
        click.echo(f"{total} events for {code}: {result.accepted} accepted, "
                   f"{result.duplicates} duplicates, {len(result.rejected)} rejected")

    @usage.command("seal")
    @click.option("--up-to", "up_to", help="last day to seal, YYYY-MM-DD (default: yesterday)")
    def usage_seal(up_to: str | None):
        """Seal the daily digests of every day with events up to a past day."""
        from flask import current_app

        from marketplace.clock import parse_day
        from marketplace.metering.digest import last_sealable_day, seal_days

        with app_session() as session:
            grace = int(current_app.config.get("GRACE_DAYS") or 0)
            day = parse_day(up_to) if up_to else last_sealable_day(grace)
            sealed = seal_days(session, day, grace_days=grace)
        click.echo(f"sealed {sealed} installation-days up to {day.isoformat()}")

    @usage.command("verify")
    @click.option("--installation", "installation_id", type=RowId("installation"),
                  help="check one installation only")
    def usage_verify(installation_id: int | None):
        """Recompute the digest chain from the events; exit 1 with one line per problem."""
        from marketplace.metering.digest import verify

        with app_session() as session:
            problems = verify(session, installation_id)
        for problem in problems:
            click.echo(str(problem))
        if problems:
            click.echo(f"usage tampered: {len(problems)} problem(s)", err=True)
            raise SystemExit(1)
        click.echo("usage digests verified: no tampering found", err=True)
