"""The platform clock: one "now" for the whole process, the platform time zone, periods.

``MARKETPLACE_NOW`` (ISO-8601 with offset) fixes now for drills, demos and
acceptance tests. Datetimes are stored in UTC and shown in the platform zone;
a period is a calendar month ``YYYY-MM`` in the platform zone.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Clock:
    """Process-wide clock honouring a fixed "now" and the platform zone."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None
        self.zone = ZoneInfo("Asia/Shanghai")

    def configure(self, fixed: str = "", zone: str = "Asia/Shanghai") -> None:
        """Set the platform zone and the optional fixed now (ISO-8601 with offset)."""
        self.zone = ZoneInfo(zone)
        self.fixed = parse_instant(fixed) if fixed else None

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
    """Parse ISO-8601 with an explicit offset into aware UTC; naive times are refused."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset; write e.g. 2026-10-05T08:00:00+08:00")
    return value.astimezone(UTC)


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
    """Split ``YYYY-MM`` into (year, month); ValueError on anything else."""
    match = PERIOD_RE.match(text or "")
    if not match:
        raise ValueError(f"period {text!r} is not a month like 2026-10")
    year = int(match.group(1))
    if not 1900 <= year <= 9998:    # datetime arithmetic on the bounds overflows near 1 and 9999
        raise ValueError(f"period {text!r} is out of range: the year must be 1900 to 9998")
    return year, int(match.group(2))


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
