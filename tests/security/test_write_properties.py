"""Property: every write route, the money forms and the CLI verbs survive any input (DESIGN §12).

For random and adversarial input (JSON nested past the limit, wrong types, lone surrogates,
NUL, other scripts' digits, numbers at and beyond every bound, raw bytes that are not JSON):

* the answer is 2xx, or a 4xx JSON ``{"error", "message"}`` (the gateway may also answer its
  documented 502/504 for a module failure), never a 500;
* stored money and billable usage change only when the answer says the input was accepted
  (row counts and sums of usage, charges, statements, journal and provider records compared
  before and after; a usage batch adds exactly its ``accepted`` events);
* a CLI verb exits 0, or 1 with one ``error:`` line and no traceback.

Derandomized and bounded to a few seconds per route; long runs belong in bench/.
"""
from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from marketplace import db
from marketplace.clock import now
from marketplace.metering.models import UsageEvent
from marketplace.settlement.models import Charge, JournalEntry, Period, ProviderRecord, Statement
from tests.security.conftest import CSRF_RE

GATEWAY_ERRORS = {502, 504}
KEYS = ["period", "amount", "jurisdiction", "direction", "reference", "events", "module",
        "version", "accept_terms", "name", "scopes", "decision", "reason", "id", "operation",
        "units", "occurred_at", "duration_ms", "status", "text", "owners", "code", "share_bps",
        "build_cost", "kind", "terms", "note", "answer", "evidence_ids", "installation", "budget",
        "url", "install_dependencies", "choose", "dry_run"]
EDGES = ["", " ", "2026-10", "2026-10\n", "２０２６-10", "٢٠٢٦-10", "1999-12", "3000-01",
         "\ud800", "a\udfffb", "a\x00b", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
         "2026-10-05T08:00:00+08:00", "99999999999999999999999.00", "1000000000000.00",
         "1,000.00", "0.005", "-1", "NaN", "1e309", "toy-echo", "echo", "1.0.0", "1.1.0",
         "440300", "440000", "in", "out", "approve", "reject", "x" * 300, "企业开办" * 40]
NUMBERS = [0, 1, -1, 10**9, 10**9 + 1, 2**31 - 1, 2**31, 2**62, 2**63, 2**64, -2**63,
           10**12, 10**30, 0.5, -0.0, 1e308]
SETTINGS = dict(derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))

scalars = st.one_of(st.none(), st.booleans(), st.sampled_from(NUMBERS), st.sampled_from(EDGES),
                    st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner,
                                        max_size=5), max_leaves=15)


@st.composite
def usage_event(draw) -> dict:
    """An event that is valid except for what the draw changes."""
    event = {"id": draw(st.text(min_size=1, max_size=12) | st.sampled_from(EDGES)),
             "module": "toy-echo", "operation": "echo", "units": 1,
             "occurred_at": now().isoformat()}
    for key in draw(st.lists(st.sampled_from(["id", "module", "operation", "units", "occurred_at",
                                              "duration_ms", "status"]), max_size=2)):
        event[key] = draw(scalars)
    return event


objects = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), values, max_size=6),
    st.fixed_dictionaries({"events": st.lists(usage_event(), max_size=6)}),
    st.fixed_dictionaries({"period": scalars}),
    st.fixed_dictionaries({"jurisdiction": st.sampled_from(["440300", "440000"]) | scalars,
                           "amount": scalars, "period": scalars,
                           "direction": st.sampled_from(["in", "out"]) | scalars,
                           "reference": scalars}),
    st.fixed_dictionaries({"module": st.sampled_from(["toy-echo"]) | scalars,
                           "version": scalars, "accept_terms": scalars}),
    values)
RAW = [b"[" * 100 + b"]" * 100, b'{"a":' * 70 + b"1" + b"}" * 70, b"\xff\xfe{}", b'{"x": NaN}',
       b'{"x": 1e999}', b'{"x": "\\ud800"}', b"", b"{", b"null", b'"' + b"9" * 5000 + b'"',
       b"9" * 5000, b'{"events": [' + b"{}," * 1200 + b"{}]}"]
bodies = st.one_of(objects.map(lambda v: json.dumps(v).encode()), st.sampled_from(RAW),
                   st.binary(max_size=40))


def books(app) -> tuple:
    """Counts and sums of everything that holds money or billable usage."""
    with app.app_context():
        session = db.session()

        def one(*columns, where=None):
            query = sa.select(*columns)
            return tuple(session.execute(query if where is None else query.where(where)).one())
        ok = UsageEvent.status == "ok"
        total = sa.func.count()
        return (one(total, sa.func.sum(UsageEvent.units), where=ok).__add__(
                one(sa.func.count(Charge.id), sa.func.sum(Charge.amount_minor)))
                + one(sa.func.count(Statement.id), sa.func.sum(Statement.total_charges_minor))
                + one(sa.func.count(JournalEntry.id), sa.func.sum(JournalEntry.debit_minor),
                      sa.func.sum(JournalEntry.credit_minor))
                + one(sa.func.count(Period.period), sa.func.count(sa.case((Period.state == "closed", 1))))
                + one(sa.func.count(ProviderRecord.id)))


def check_answer(response, gateway: bool = False) -> None:
    """2xx/3xx, or a 4xx JSON error that says what is wrong; never a server error."""
    status = response.status_code
    assert status < 500 or (gateway and status in GATEWAY_ERRORS), \
        f"{status}: {response.get_data(as_text=True)[:300]}"
    if status >= 400:
        body = response.get_json(silent=True)
        assert isinstance(body, dict) and isinstance(body.get("error"), str) \
            and isinstance(body.get("message"), str) and body["message"], response.data[:300]


def _api_write_routes(app) -> list[tuple[str, str]]:
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                  if rule.rule.startswith("/api/v1/")
                  for method in rule.methods - {"GET", "HEAD", "OPTIONS"})


API_WRITE_ROUTES = [
    ("DELETE", "/api/v1/installations/<int:installation_id>"),
    ("DELETE", "/api/v1/webhooks"),
    ("POST", "/api/v1/adjustments"),
    ("POST", "/api/v1/disputes"),
    ("POST", "/api/v1/disputes/<int:dispute_id>/answer"),
    ("POST", "/api/v1/disputes/<int:dispute_id>/resolve"),
    ("POST", "/api/v1/modules/<name>/proposals"),
    ("POST", "/api/v1/proposals/<int:proposal_id>/approve"),
    ("POST", "/api/v1/proposals/<int:proposal_id>/reject"),
    ("PUT", "/api/v1/webhooks"),
    ("DELETE", "/api/v1/tokens/<int:token_id>"),
    ("PATCH", "/api/v1/installations/<int:installation_id>"),
    ("POST", "/api/v1/installations"),
    ("POST", "/api/v1/invoke/<module>/<operation>"),
    ("POST", "/api/v1/invoke/interface/<interface>/<operation>"),
    ("POST", "/api/v1/ledger/payments"),
    ("POST", "/api/v1/modules"),
    ("POST", "/api/v1/modules/<name>/<version>/yank"),
    ("POST", "/api/v1/reviews/<name>/<version>"),
    ("POST", "/api/v1/settlements"),
    ("POST", "/api/v1/tokens"),
    ("POST", "/api/v1/usage"),
    ("POST", "/api/v1/webhooks/stripe"),
]


def test_the_property_covers_every_api_write_route(app):
    assert _api_write_routes(app) == sorted(API_WRITE_ROUTES), "add the new route to the list"


def _path_values(world) -> dict:
    """Values for each path parameter: the world's real ones and hostile ones."""
    return {"installation_id": st.sampled_from([world.installation_id, 0, 2**31 - 1]),
            "token_id": st.sampled_from([world.adopter_token_id + 1, 0, 2**31 - 1]),
            "name": st.sampled_from(["toy-echo", "no-such", "toy-echo\n"]) | st.text(max_size=8),
            "version": st.sampled_from(["1.0.0", "1.1.0", "9.9.9", "1.0.0\n"]) | st.text(max_size=8),
            "module": st.sampled_from(["toy-echo", "toy-echo\n"]),
            "operation": st.sampled_from(["echo", "echo\n", "nope"]),
            "interface": st.sampled_from(["gov.toy", "gov.toy\n"]),
            "dispute_id": st.sampled_from([1, 0, 2**31 - 1]),
            "proposal_id": st.sampled_from([1, 0, 2**31 - 1])}


def _fill(rule: str, draw, world) -> str:
    from urllib.parse import quote

    values = _path_values(world)
    return re.sub(r"<(?:int:)?(\w+)>", lambda m: quote(str(draw(values[m.group(1)])), safe=""), rule)


@pytest.mark.parametrize(("method", "rule"), API_WRITE_ROUTES, ids=[" ".join(r) for r in API_WRITE_ROUTES])
def test_every_api_write_route_answers_json_and_keeps_the_books(world, method, rule):
    world.app.config.update(STRIPE_API_KEY="sk_test_fuzz", STRIPE_WEBHOOK_SECRET="whsec_fuzz")
    client = world.app.test_client()
    gateway = rule.startswith("/api/v1/invoke/")
    budget = 12 if gateway else 40

    @settings(max_examples=budget, **SETTINGS)
    @given(data=st.data(), body=bodies, who=st.sampled_from(["admin", "adopter"]))
    def attack(data, body, who):
        path = _fill(rule, data.draw, world)
        before = books(world.app)
        response = client.open(path, method=method, data=body, content_type="application/json",
                               headers=world.headers(who))
        check_answer(response, gateway)
        after = books(world.app)
        if response.status_code >= 300:
            assert after == before, f"{method} {path} answered {response.status_code} but changed the books"
        if after != before:
            accepted_as_stated(rule, json.loads(body), response, before, after)
    attack()


def accepted_as_stated(rule: str, sent: dict, response, before: tuple, after: tuple) -> None:
    """What a route may have changed, given what it was sent and what it answered."""
    from marketplace.clock import parse_period
    from marketplace.metering.service import MAX_UNITS
    from marketplace.money import parse_money

    if rule == "/api/v1/usage":
        accepted = response.get_json()["accepted"]
        assert after[0] - before[0] == accepted
        assert (after[1] or 0) - (before[1] or 0) <= accepted * MAX_UNITS
    elif rule == "/api/v1/settlements":
        parse_period(sent["period"])          # only the canonical spelling of a period settles
    elif rule == "/api/v1/ledger/payments":
        assert response.status_code == 201
        parse_money(sent["amount"], "CNY")
        parse_period(sent["period"])


# -- the console forms that move money ---------------------------------------------------------

# a browser sends UTF-8: no lone surrogates on a form
form_text = st.one_of(st.sampled_from(EDGES), st.text(max_size=20)).filter(
    lambda t: "\x00" not in t and not re.search("[\ud800-\udfff]", t))


def _csrf(client, page: str) -> str:
    return CSRF_RE.search(client.get(page).get_data(as_text=True)).group(1)


def test_the_settle_form_settles_only_a_real_ended_period(world):
    from marketplace.clock import parse_period, period_ended

    client = world.logged_in("admin")
    token = _csrf(client, "/admin/periods")

    @settings(max_examples=40, **SETTINGS)
    @given(period=form_text | st.just(world.period))
    def attack(period):
        before = books(world.app)
        response = client.post("/admin/periods/settle", data={"csrf_token": token, "period": period})
        check_answer(response)
        if books(world.app) != before:
            parse_period(period)                 # only a canonical period may have settled
            assert period_ended(period)
    attack()


@pytest.fixture
def billed_period(world, tmp_path):
    """深圳市 calls a paid module this month (owes ¥0.02); 40 days on, the month is settled."""
    from datetime import timedelta

    from marketplace.clock import clock, now, period_of
    from tests.runtime.conftest import PAY, Catalog

    Catalog(world.app, world.factory, tmp_path / "paid").toy("toy-paid", "1.0.0", terms=PAY)
    client, adopter = world.app.test_client(), world.headers("adopter")
    assert client.post("/api/v1/installations", headers=adopter, json={
        "module": "toy-paid", "accept_terms": True}).status_code == 201
    assert client.post("/api/v1/invoke/toy-paid/echo", headers=adopter,
                       json={"text": "hi"}).status_code == 200
    period = period_of(now())
    clock.configure((now() + timedelta(days=40)).isoformat(), "Asia/Shanghai")
    try:
        settled = client.post("/api/v1/settlements", json={"period": period},
                              headers=world.headers("admin"))
        assert settled.status_code == 200 and settled.get_json()["statements"], settled.get_json()
        yield period
    finally:
        clock.configure("", "Asia/Shanghai")


def test_the_ledger_form_books_only_a_valid_payment(world, billed_period):
    from marketplace.clock import parse_period
    from marketplace.money import parse_money

    client = world.logged_in("admin")
    token = _csrf(client, "/admin/ledger")

    @settings(max_examples=25, **SETTINGS)
    @given(amount=form_text | st.sampled_from(["0.01", "12.50", "1,000.00"]),  # 深圳市 owes ¥0.02
           period=form_text | st.just(billed_period),
           jurisdiction=st.sampled_from(["440300", "440000", "999999"]) | form_text,
           direction=st.sampled_from(["in", "out"]) | form_text, reference=form_text)
    @example(amount="0.01", period=billed_period, jurisdiction="440300", direction="in",
             reference="valid-one")                      # so the booking branch surely runs
    def attack(amount, period, jurisdiction, direction, reference):
        before = books(world.app)
        response = client.post("/admin/ledger", data={
            "csrf_token": token, "amount": amount, "period": period, "jurisdiction": jurisdiction,
            "direction": direction, "reference": reference})
        assert response.status_code < 500, response.get_data(as_text=True)[:300]
        if books(world.app) != before:
            outcomes.add("booked")
            assert response.status_code == 302
            parse_money(amount, "CNY")
            parse_period(period)
        else:
            outcomes.add("refused")

    outcomes: set[str] = set()
    attack()
    assert outcomes == {"booked", "refused"}             # both branches were exercised


# -- the CLI verbs that take user input --------------------------------------------------------

argv_text = st.one_of(st.sampled_from([e for e in EDGES if "\x00" not in e]),
                      st.text(max_size=20).filter(lambda t: "\x00" not in t), st.just("\udcff"))


def check_cli(result) -> None:
    """Exit 0, or exit 1 with one ``error:`` line (click's usage errors too)."""
    assert result.exit_code in (0, 1), (result.exit_code, result.output[-500:], result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert [ln for ln in result.output.splitlines() if ln.startswith("error:")], result.output


def test_cli_verbs_survive_any_argument(world, runner, tmp_path):
    email = world.emails["adopter"]
    verbs = [lambda a, b: ["settle", a], lambda a, b: ["statement", a, "--jurisdiction", b],
             lambda a, b: ["ledger", "pay", "440300", a, "--period", b],
             lambda a, b: ["ledger", "pay", b, "12.00", "--period", world.period],
             lambda a, b: ["usage", "seal", "--up-to", a]]

    @settings(max_examples=60, **SETTINGS)
    @given(verb=st.sampled_from(range(len(verbs))), first=argv_text, second=argv_text)
    def attack(verb, first, second):
        before = books(world.app)
        result = runner.invoke(verbs[verb](first, second))
        check_cli(result)
        if result.exit_code != 0:
            assert books(world.app) == before
    attack()

    @settings(max_examples=25, **SETTINGS)
    @given(lines=st.lists(objects.map(json.dumps) | st.sampled_from(
        ["{", "[" * 100, "\ud800", "id,units\nx,²", '{"id":"\\ud800"}']), min_size=1, max_size=5),
        suffix=st.sampled_from([".jsonl", ".csv"]))
    def import_file(lines, suffix):
        path = tmp_path / f"usage{suffix}"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
        before = books(world.app)
        result = runner.invoke(["usage", "import", str(path), "--as", email])
        check_cli(result)
        if result.exit_code != 0:
            assert books(world.app) == before
        else:
            accepted = int(re.search(r"(\d+) accepted", result.output).group(1))
            assert books(world.app)[0] - before[0] == accepted
    import_file()
