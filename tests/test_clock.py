"""One platform clock: MARKETPLACE_NOW fixes now, periods follow the platform zone."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from marketplace import clock


def test_marketplace_now_fixes_the_clock_for_the_process():
    code = ("from marketplace import create_app, clock; create_app(); "
            "print(clock.now().isoformat(), clock.period_of(clock.now()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"MARKETPLACE_NOW": "2026-11-01T00:30:00+08:00",
                              "MARKETPLACE_DATABASE_URL": "sqlite:///:memory:",
                              "MARKETPLACE_SECRET_KEY": "x", "PATH": "/usr/bin"})
    assert out.stdout.split() == ["2026-10-31T16:30:00+00:00", "2026-11"]


def test_period_boundaries_in_the_platform_zone():
    clock.clock.configure("", "Asia/Shanghai")
    assert clock.period_of(clock.parse_instant("2026-10-31T23:59:59+08:00")) == "2026-10"
    assert clock.period_of(clock.parse_instant("2026-11-01T00:00:00+08:00")) == "2026-11"
    start, end = clock.period_bounds("2026-10")
    assert start == datetime(2026, 9, 30, 16, tzinfo=timezone.utc)
    assert end == datetime(2026, 10, 31, 16, tzinfo=timezone.utc)


def test_period_ended_follows_the_fixed_clock():
    clock.clock.configure("2026-10-31T23:59:59+08:00", "Asia/Shanghai")
    assert not clock.period_ended("2026-10")
    clock.clock.configure("2026-11-01T00:00:00+08:00", "Asia/Shanghai")
    assert clock.period_ended("2026-10")
    clock.clock.configure("", "Asia/Shanghai")


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="no UTC offset"):
        clock.parse_instant("2026-10-05T08:00:00")
