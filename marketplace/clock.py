"""The platform clock: one "now" for the whole process, the platform time zone, periods.

``MARKETPLACE_NOW`` (ISO-8601 with offset) fixes now for drills, demos and
acceptance tests. Datetimes are stored in UTC and shown in the platform zone;
a period is a calendar month ``YYYY-MM`` in the platform zone.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from marketplace.jsonio import shown

UTC = timezone.utc
# Matched whole (fullmatch) and ASCII only: ``$`` would let "2026-10\n" through and ``\d``
# matches other scripts' digits ("٢٠٢٦-10"), a second spelling of the same period.
PERIOD_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])", re.ASCII)
DAY_RE = re.compile(r"([0-9]{4})-[0-9]{2}-[0-9]{2}", re.ASCII)
INSTANT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
                        r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)", re.ASCII)
FIRST_YEAR, LAST_YEAR = 2000, 2999     # DESIGN §12: periods (and days) in these years only


class Clock:
    """Process-wide clock honouring a fixed "now" and the platform zone."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None
        self.zone = ZoneInfo("Asia/Shanghai")

    def configure(self, fixed: str = "", zone: str = "Asia/Shanghai") -> None:
        """Set the platform zone and the optional fixed now (ISO-8601 with offset)."""
        self.zone = ZoneInfo(zone)
        self.fixed = parse_instant(fixed.strip()) if fixed else None

    def now(self) -> datetime:
        """Now, as an aware UTC datetime."""
        return self.fixed if self.fixed is not None else datetime.now(UTC)


clock = Clock()


def now() -> datetime:
    """Now (aware, UTC) from the platform clock."""
    return clock.now()


def zone() -> ZoneInfo:
    """The platform time zone."""
    return clock.zone


def parse_instant(text: str) -> datetime:
    """Parse ISO-8601 ``YYYY-MM-DDTHH:MM[:SS[.ffffff]]`` with an offset (or Z) into aware UTC.

    The one parser of instants: anything else (no offset, week dates, other digits, a
    trailing newline, an instant outside datetime's range once in UTC) is a ValueError.
    """
    if not isinstance(text, str) or not INSTANT_RE.fullmatch(text):
        raise ValueError(f"time {shown(text, 60)} is not ISO-8601 or has no UTC offset; "
                         "write e.g. 2026-10-05T08:00:00+08:00")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"time {shown(text, 60)} is not a valid instant") from None


def as_utc(value: datetime) -> datetime:
    """Make a datetime aware UTC (naive values from the database are UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local(value: datetime) -> datetime:
    """A stored instant in the platform time zone."""
    return as_utc(value).astimezone(clock.zone)


def period_of(value: datetime) -> str:
    """The period ``YYYY-MM`` an instant falls in, in the platform zone."""
    return local(value).strftime("%Y-%m")


def parse_period(text: str) -> tuple[int, int]:
    """Split ``YYYY-MM`` into (year, month); ValueError on anything else.

    The one parser of periods (API, pages, CLI): the only accepted spelling is the
    canonical one, so one period can never be stored under two names.
    """
    match = PERIOD_RE.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"period {shown(text)} is not a month like 2026-10")
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"period {shown(text)} is out of range: the year must be "
                         f"{FIRST_YEAR} to {LAST_YEAR}")
    return year, int(match.group(2))


def check_period(text: object) -> str:
    """``text`` when it is a period ``YYYY-MM`` (it is then canonical), else ValueError."""
    parse_period(text)  # type: ignore[arg-type]
    return text  # type: ignore[return-value]


def parse_day(text: str) -> date:
    """A calendar day ``YYYY-MM-DD`` (years 2000–2999); ValueError on anything else."""
    match = DAY_RE.fullmatch(text) if isinstance(text, str) else None
    try:
        if match and FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR:
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"day {shown(text)} is not a date like 2026-10-05")


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a period as aware UTC datetimes."""
    year, month = parse_period(period)
    start = datetime(year, month, 1, tzinfo=clock.zone)
    nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=clock.zone)
    return start.astimezone(UTC), nxt.astimezone(UTC)


def period_ended(period: str) -> bool:
    """True once the period's last instant is past by the platform clock."""
    return now() >= period_bounds(period)[1]


def local_day(value: datetime) -> date:
    """The calendar day of an instant in the platform zone."""
    return local(value).date()


def previous_period(period: str) -> str:
    """The month before ``period``."""
    start, _ = period_bounds(period)
    return period_of(start - timedelta(seconds=1))
