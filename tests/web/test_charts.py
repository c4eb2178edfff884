"""Server-side SVG charts: scale, escaping, no scripts or network references."""
from __future__ import annotations

from datetime import date, timedelta

from marketplace.web import charts

DAYS = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]


def test_axis_top_is_a_round_number_at_or_above_the_maximum():
    assert [charts.nice_ceiling(v) for v in (0, 3, 7, 11, 480, 1001)] == [4, 4, 10, 20, 500, 2000]


def test_bar_chart_draws_one_bar_per_day_scaled_to_the_top():
    svg = str(charts.bar_chart(DAYS, [i * 10 for i in range(31)], "usage"))
    assert svg.count('class="bar"') == 31 and svg.startswith("<svg")
    assert "10-31: 300 " not in svg and "2026-10-31: 300" in svg


def test_labels_are_escaped_and_nothing_is_fetched():
    evil = '<script>alert("x")</script>'
    svg = str(charts.line_chart(DAYS[:3], {evil: [1, 2, 3]}, evil))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_line_chart_draws_a_line_per_series():
    svg = str(charts.line_chart(DAYS, {"440300 深圳市": [1] * 31, "330100 杭州市": [2] * 31}, "t"))
    assert svg.count("<polyline") == 2 and "深圳市" in svg


def test_missing_days_count_as_zero():
    assert charts.fill_days(DAYS[:3], {DAYS[1]: 5}) == [0, 5, 0]
