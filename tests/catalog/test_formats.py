"""Asserted formats (marketplace/schemas.py): strict checks, and publish refusing examples
that break their own declared formats, located; unknown formats stay annotations."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from catalog_factory import GOOD_INIT, manifest_data  # noqa: E402
from publish_factory import demo_bundle, upload  # noqa: E402

from marketplace import schemas  # noqa: E402

VALID = {
    "date": ["2026-02-28", "2024-02-29", "0001-01-01", "9999-12-31"],
    "date-time": ["2026-12-02T10:00:00+08:00", "2026-12-02t02:00:00.5z",
                  "1998-12-31T23:59:60Z", "1998-12-31T15:59:60.123-08:00"],
    "time": ["08:30:06Z", "23:59:60Z", "01:29:60+01:30", "08:30:06.25-05:00"],
    "email": ["a@b", "joe.bloggs@example.com", '"joe bloggs"@example.com', "te~st@gov.cn",
              "joe@[127.0.0.1]", "joe@[IPv6:::1]"],
    "uuid": ["2eb8aa08-aa98-11ea-b4aa-73b441d16380", "2EB8AA08-AA98-11EA-B4AA-73B441D16380"],
    "ipv4": ["192.168.0.1", "0.0.0.0", "255.255.255.255"],
    "ipv6": ["::1", "2001:db8::8a2e:370:7334", "::ffff:192.168.0.1"],
}
INVALID = {
    "date": ["2026-02-30", "2023-02-29", "2026-13-01", "2026-00-10", "0000-01-01", "2026-1-01",
             "2026-01-01\n", "２０２６-01-01", "20260101", "2026-01-01T00:00:00Z"],
    "date-time": ["2026-02-30T00:00:00Z", "2026-12-02T10:00:00", "2026-12-02 10:00:00Z",
                  "2026-12-02T24:00:00Z", "1998-12-31T23:59:61Z", "1998-12-31T23:58:60Z",
                  "2026-12-02T10:00:00Z\n", "2026-12-02T10:00:00+08:60"],
    "time": ["12:00:00", "22:59:60Z", "24:00:00Z", "08:30:06+24:00", "8:30:06Z", "08:30:06Z\n"],
    "email": ["@", "a@", "@b", "plain", "a b@c.cn", "joe..bloggs@x.cn", ".a@x.cn", "a.@x.cn",
              "a@b@c", "joe@invalid=domain.com", "joe@[127.0.0.300]", "a@b.cn\n",
              "x" * 65 + "@gov.cn"],
    "uuid": ["12345678-1234-1234-1234-1234-5678abcd", "{12345678-1234-1234-1234-123456789abc}",
             "12345678123412341234123456789abc", "urn:uuid:12345678-1234-1234-1234-123456789abc",
             "12345678-1234-1234-1234-123456789abc\n", "g2345678-1234-1234-1234-123456789abc"],
    "ipv4": ["087.10.0.1", "1.2.3", "256.1.1.1", "1.2.3.4\n", "1.2.3.৪", "::1"],
    "ipv6": ["fe80::a%eth1", "12345::", "1:2:3:4:5:6:7:8:9", "::1\n", "1.2.3.4"],
}


def problems(fmt: str, value) -> list[str]:
    return [e.message for e in schemas.errors(schemas.validator({"format": fmt}), value)]


@pytest.mark.parametrize("fmt,value", [(f, v) for f, vs in VALID.items() for v in vs])
def test_valid_values_pass(fmt, value):
    assert problems(fmt, value) == []


@pytest.mark.parametrize("fmt,value", [(f, v) for f, vs in INVALID.items() for v in vs])
def test_invalid_values_are_errors(fmt, value):
    assert problems(fmt, value) == [f"{value!r} is not a {fmt!r}"]


def test_the_documented_set_is_asserted_and_other_formats_stay_annotations():
    assert set(schemas.ASSERTED_FORMATS) == {"date", "date-time", "time", "email", "uuid",
                                             "ipv4", "ipv6"}
    for fmt in ("hostname", "uri", "regex", "x-gov-id", "duration"):
        assert problems(fmt, "?? not that ??") == []


@pytest.mark.parametrize("fmt", sorted(VALID))
def test_only_strings_are_checked(fmt):
    for value in (5, None, True, [], {}):
        assert problems(fmt, value) == []


@given(st.dates())
def test_every_real_date_passes_and_its_day_after_the_month_end_does_not(day):
    text = day.isoformat()
    assert problems("date", text) == [] and problems("date-time", text + "T00:00:00Z") == []
    if day.month != 2 or day.day != 28:
        return
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    assert (problems("date", f"{day.year:04d}-02-29") == []) == leap


@given(st.text(max_size=40))
def test_any_text_is_judged_without_raising(text):
    for fmt in VALID:
        problems(fmt, text)


# --- publish ---------------------------------------------------------------------------

@pytest.fixture
def publisher(factory):
    """Headers of a 广东省 publisher token."""
    return factory.headers("publisher", "440000", "read publish")


def dated_manifest(example_date: str, output_format: str = "date") -> dict:
    data = manifest_data()
    op = data["operations"][0]
    op["input"]["properties"]["since"] = {"type": "string", "format": "date"}
    op["output"]["properties"]["status"]["format"] = output_format
    for example in op["examples"]:
        example["input"]["since"] = example_date
    op["examples"][0]["output"]["status"] = "2026-01-01"
    op["examples"][1]["output_contains"]["status"] = "2026-01-01"
    return data


STATUS_DATE = GOOD_INIT.replace('"status": "valid"', '"status": "2026-01-01"')


def test_publish_refuses_an_example_input_breaking_its_format_located(app, client, publisher,
                                                                      tmp_path):
    response = upload(client, publisher,
                      demo_bundle(tmp_path, dated_manifest("2026-02-30"), STATUS_DATE))
    assert response.status_code == 400, response.get_json()
    details = response.get_json()["details"]
    assert {d["where"] for d in details} == {"operation lookup_licence: example 1 input",
                                             "operation lookup_licence: example 2 input"}
    assert "input schema at since: '2026-02-30' is not a 'date'" in details[0]["message"]


def test_publish_refuses_an_example_output_breaking_its_format(app, client, publisher, tmp_path):
    init = GOOD_INIT.replace('"status": "valid"', '"status": "2026-02-30"')
    response = upload(client, publisher, demo_bundle(tmp_path, dated_manifest("2026-02-28"), init))
    assert response.status_code == 400, response.get_json()
    details = response.get_json()["details"]
    assert details[0]["where"] == "operation lookup_licence: example 1 output"
    assert "output schema at status: '2026-02-30' is not a 'date'" in details[0]["message"]


def test_publish_accepts_real_dates_and_ignores_unknown_formats(app, client, publisher, tmp_path):
    response = upload(client, publisher, demo_bundle(
        tmp_path, dated_manifest("2024-02-29", output_format="x-licence-state"),
        GOOD_INIT.replace('"status": "valid"', '"status": "2026-01-01"')))
    assert response.status_code == 201, response.get_json()
