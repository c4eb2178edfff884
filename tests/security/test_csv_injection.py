"""CSV formula injection (OWASP): no CSV the product writes carries a cell a spreadsheet would run.

A module's title or name (or any text a user typed) starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return comes out with a leading ``'`` in every CSV route; signed amounts
like ``-12.34`` stay plain numbers.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, strategies as st

from marketplace import csvsafe, db
from marketplace.catalog.models import Module, ModuleVersion
from marketplace.clock import clock
from tests.governance import test_shares_settlement as ex
from tests.web.conftest import login

REPO = Path(__file__).resolve().parents[2]
EVIL_TITLE = '=HYPERLINK("http://evil.example/x","open")'
EVIL_NAME = "@SUM(1+1)*cmd|' /C calc'!A0"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def runnable(value: str) -> bool:
    """Would a spreadsheet read this cell as a formula?"""
    return value.startswith(TRIGGERS) and not NUMBER.fullmatch(value)


def rows_of(text: str) -> list[list[str]]:
    """The cells of a CSV answer; none may be runnable."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows, "empty CSV"
    bad = [value for row in rows for value in row if runnable(value)]
    assert not bad, f"formula cells written as is: {bad}"
    return rows


@pytest.mark.parametrize("value, written", [
    ("=1+1", "'=1+1"), ("+1+1", "'+1+1"), ("-1+1", "'-1+1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\n=1"), ("x\r\n=1", "x\n=1"), ("-", "'-"),
    ("-12.34.5", "'-12.34.5"), ("- 5", "'- 5"),
    ("-12.34", "-12.34"), ("+5", "+5"), ("-0", "-0"), ("12.34", "12.34"),
    ("yangtze-permit", "yangtze-permit"),
    ("", ""), ("a=b", "a=b"), (-1234, -1234), (None, None), ("-١٢", "'-١٢"),
])
def test_a_cell_is_neutralised_unless_it_is_plain_data(value, written):
    assert csvsafe.cell(value) == written


@given(st.text(max_size=40))
def test_no_text_comes_out_runnable_and_nothing_but_the_quote_is_added(text):
    out = io.StringIO()
    csvsafe.writer(out, lineterminator="\n").writerow([text, "-12.34"])
    [[cell, amount]] = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert not runnable(cell) and amount == "-12.34"
    kept = text.replace("\r\n", "\n").replace("\r", "\n")       # a CR would end the row
    assert cell == kept or cell == "'" + kept


def test_every_csv_writer_of_the_product_goes_through_csvsafe():
    raw = re.compile(r"\bcsv\.(writer|DictWriter)\s*\(")
    offenders = [f"{path.relative_to(REPO)}:{number}"
                 for path in [*(REPO / "marketplace").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]
                 if path.name != "csvsafe.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if raw.search(line)]
    assert not offenders, f"CSV written without marketplace.csvsafe: {offenders}"


@pytest.fixture
def evil(app):
    """The co-owned example whose module is titled and named like formulas, October settled,
    a credit of -12.34 on 深圳's October charge (booked by November)."""
    from marketplace.settlement import adjustments

    clock.configure("2026-12-02T09:00:00+08:00", "Asia/Shanghai")
    module_id = ex.build(app)
    with app.app_context():
        session = db.session()
        session.execute(sa.update(ModuleVersion).where(ModuleVersion.module_id == module_id)
                        .values(title=EVIL_TITLE))
        session.execute(sa.update(Module).where(Module.id == module_id).values(name=EVIL_NAME))
        session.commit()
    ex.settle(app, "2026-10")
    shenzhen = next(i for i, code in ex.installations(app) if code == "440300")
    with app.app_context():
        session = db.session()
        adjustments.create(session, None, "2026-10", shenzhen, -1234, "=cmd|' /C calc'!A0")
        session.commit()
    return app


def _statement_csv(client, factory, period):
    headers = factory.headers("admin", "110000", "read,admin")
    answer = client.get(f"/api/v1/statements/{period}?jurisdiction=440300&format=csv", headers=headers)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    return answer


def test_statement_csv_draft_and_final_neutralise_names_and_keep_negative_amounts(evil, client, factory):
    draft = _statement_csv(client, factory, "2026-11")
    assert draft.headers["Statement-State"] == "draft"
    ex.settle(evil, "2026-11")
    final = _statement_csv(client, factory, "2026-11")
    assert final.headers["Statement-State"] == "final"
    for answer in (draft, final):
        rows = rows_of(answer.get_data(as_text=True))
        modules = {row[1] for row in rows[1:] if row[0] == "charge"}
        assert modules == {"'" + EVIL_NAME}
        adjustment = next(row for row in rows if row[2] == "adjustment 2026-10")
        assert adjustment[6] == "-12.34"


def test_october_statement_csv_of_the_api_neutralises_the_module_name(evil, client, factory):
    rows = rows_of(_statement_csv(client, factory, "2026-10").get_data(as_text=True))
    assert ["charge", "'" + EVIL_NAME, "pay_per_use", "440300", "", "12345", "864.15", "", ""] in rows


def test_console_statement_csv_neutralises_names_and_keeps_negative_amounts(evil, client, factory):
    ex.settle(evil, "2026-11")
    login(client, factory.user("adopter", "440300"))
    answer = client.get("/adopter/statements/2026-11.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = rows_of(answer.get_data(as_text=True))
    charges = [row for row in rows if row[1] == "charge"]
    assert {row[2] for row in charges} == {"'" + EVIL_NAME}
    assert "-12.34" in {row[7] for row in charges}


def test_usage_csv_neutralises_the_module_name(evil, client, factory):
    headers = factory.headers("admin", "110000", "read,admin")
    answer = client.get("/api/v1/usage?format=csv&from=2026-10-01&to=2026-11-30", headers=headers)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = rows_of(answer.get_data(as_text=True))
    assert len(rows) > 1 and {row[1] for row in rows[1:]} == {"'" + EVIL_NAME}


def test_reuse_report_csv_neutralises_title_and_name(evil, client):
    ex.settle(evil, "2026-11")
    answer = client.get("/api/v1/reports/reuse?year=2026&format=csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = rows_of(answer.get_data(as_text=True))
    module = next(row for row in rows if row[0] == "module")
    assert module[1:3] == ["'" + EVIL_NAME, "'" + EVIL_TITLE]


def test_the_statement_cli_csv_neutralises_the_module_name(evil, runner):
    result = runner.invoke(["statement", "2026-10", "--jurisdiction", "440300", "--csv"])
    assert result.exit_code == 0, result.output
    assert "'" + EVIL_NAME in {row[1] for row in rows_of(result.output)[1:]}
