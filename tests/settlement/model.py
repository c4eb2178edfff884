"""A stateful model of a small market, checked against the real settlement path after every step.

Jurisdictions publish modules under every kind of terms, install, upgrade and
uninstall them; usage arrives through the gateway's event rows and through the
reported-usage service, across periods and the Asia/Shanghai month boundary;
periods are settled (netting on or off, any platform fee), rerun and paid.
The model keeps its own record of installations, agreements and accepted usage
and prices it with :mod:`tests.settlement.reference`.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import sqlalchemy as sa
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, multiple, precondition, rule

from marketplace import db
from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace.clock import clock, period_bounds, period_of
from marketplace.db import Base
from marketplace.errors import MarketplaceError
from marketplace.metering import service as metering, writer
from marketplace.plugins import get_provider
from marketplace.runtime import service as runtime
from marketplace.settlement import adjustments, service
from marketplace.settlement.models import Charge, JournalEntry, Period, ProviderRecord, Statement
from tests.settlement import reference as ref
from tests.settlement.model_checks import MarketChecks
from tests.settlement.model_terms import TERMS, UNITS

CODES = ("440000", "330000", "440300", "330100", "310000")
START = datetime(2026, 1, 31, 15, 0, tzinfo=timezone.utc)   # 23:00 on 31 January in Shanghai
KEEP = {"jurisdictions", "alembic_version", "route_generation"}
SETTLED_TABLES = (Charge, Statement, Period, ProviderRecord, JournalEntry)


def reset_database(session) -> None:
    """Delete every row the model can write (the reference divisions stay)."""
    for table in reversed(Base.metadata.sorted_tables):
        if table.name not in KEEP:
            session.execute(table.delete())
    session.commit()


def snapshot(session) -> dict:
    """Every settlement row without its timestamps, for "a rerun changes nothing"."""
    return {m.__tablename__: sorted(tuple(r) for r in session.execute(sa.select(
        *[c for c in m.__table__.c if c.name not in ("created_at", "updated_at")])))
        for m in SETTLED_TABLES}


class MarketModel(MarketChecks):
    """Rules change the market; invariants compare the database with the model."""

    app = None                  # set by the test that runs the machine
    provider = "ledger"

    def __init__(self) -> None:
        super().__init__()
        self.context = self.app.app_context()
        self.context.push()
        self.session = db.session()
        reset_database(self.session)
        self.now = START
        clock.configure(START.isoformat(), "Asia/Shanghai")
        self.installs: dict[int, ref.Inst] = {}
        self.catalog: dict[str, dict] = {}
        self.usage: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.used: dict[str, set[int]] = defaultdict(set)
        self.settled: dict[str, dict] = {}        # period → {"netting", "bps"} of its first run
        self.paid: dict[str, int] = defaultdict(int)   # net payments per jurisdiction (in − out)
        self.references: set[tuple[str, str, str]] = set()
        self.events = 0

    def teardown(self) -> None:
        self.session.rollback()
        self.session.close()
        self.context.pop()

    modules = Bundle("modules")
    installations = Bundle("installations")

    # --- catalog and installations ---------------------------------------------------

    def _version(self, module_id: int, name: str, number: int, terms: dict) -> None:
        self.session.add(ModuleVersion(
            module_id=module_id, version=f"{number}.0.0", major=number,
            sha256=hashlib.sha256(f"{name}-{number}".encode()).hexdigest(), state="published",
            title=name, category="public_service", entry=name.replace("-", "_"),
            source_license="MulanPSL-2.0", terms=terms, terms_kind=terms["kind"],
            operations=[Operation(name="op", units=1)]))
        self.session.commit()
        self.catalog[name]["versions"].append(terms)

    @initialize(target=installations, publisher=st.sampled_from(CODES), terms=TERMS,
                adopters=st.lists(st.sampled_from(CODES), min_size=1, max_size=3, unique=True))
    def opening_market(self, publisher, terms, adopters):
        """One module installed by a few adopters at the start, so small budgets move money."""
        module = self.publish(publisher, terms)
        return multiple(*[self.install(module, code) for code in adopters])

    @rule(target=modules, publisher=st.sampled_from(CODES), terms=TERMS)
    def publish(self, publisher, terms):
        name = f"mod-{len(self.catalog) + 1}"
        module = Module(name=name, publisher_code=publisher)
        self.session.add(module)
        self.session.flush()
        self.catalog[name] = {"id": module.id, "publisher": publisher, "versions": []}
        self._version(module.id, name, 1, terms)
        return name

    @rule(module=modules, terms=TERMS)
    def new_version(self, module, terms):
        item = self.catalog[module]
        self._version(item["id"], module, len(item["versions"]) + 1, terms)

    def _active(self, adopter: str, module: str) -> ref.Inst | None:
        return next((i for i in self.installs.values()
                     if i.adopter == adopter and i.module == module and i.ended is None), None)

    @rule(target=installations, module=modules, adopter=st.sampled_from(CODES))
    def install(self, module, adopter):
        who = SimpleNamespace(jurisdiction_code=adopter, user_id=None)
        if self._active(adopter, module) is not None:
            try:
                runtime.install(self.session, who, module, None, True)
                raise AssertionError("a second active installation was allowed")
            except MarketplaceError as exc:
                assert exc.reason == "already_installed"
                self.session.rollback()
            return multiple()
        item = runtime.install(self.session, who, module, None, True)
        self.session.commit()
        info = self.catalog[module]
        self.installs[item.id] = ref.Inst(item.id, adopter, module, info["publisher"], self.now,
                                          terms=[(self.now, info["versions"][-1])])
        return item.id

    @rule(iid=installations, data=st.data())
    def upgrade(self, iid, data):
        inst = self.installs[iid]
        versions = self.catalog[inst.module]["versions"]
        number = data.draw(st.integers(1, len(versions)), label="version")
        who = SimpleNamespace(jurisdiction_code=inst.adopter, user_id=None)
        try:
            runtime.change_version(self.session, who, iid, f"{number}.0.0", accept_terms=True)
            self.session.commit()
        except MarketplaceError as exc:
            self.session.rollback()
            assert inst.ended is not None and exc.reason == "installation_ended", exc
            return
        assert inst.ended is None
        if versions[number - 1] != inst.terms[-1][1]:
            inst.terms.append((self.now, versions[number - 1]))

    @rule(iid=installations)
    def uninstall(self, iid):
        inst = self.installs[iid]
        who = SimpleNamespace(jurisdiction_code=inst.adopter, user_id=None)
        try:
            runtime.uninstall(self.session, who, iid)
            self.session.commit()
        except MarketplaceError as exc:
            self.session.rollback()
            assert inst.ended is not None and exc.reason == "installation_ended", exc
            return
        assert inst.ended is None
        inst.ended = self.now

    # --- usage -------------------------------------------------------------------------

    def _record(self, iid: int, at: datetime, units: int, ok: bool) -> None:
        if ok:
            self.usage[period_of(at)][iid] += units
            self.used[period_of(at)].add(iid)

    @rule(iid=installations, units=UNITS, ok=st.booleans())
    def gateway_call(self, iid, units, ok):
        """One gateway call's event row, as the gateway writes it (only while installed)."""
        if self.installs[iid].ended is not None:
            return
        self.events += 1
        writer.insert_new(self.session, [metering.call_event(
            installation_id=iid, event_id=f"g{self.events}", operation="op", units=units,
            status="ok" if ok else "error", occurred_at=self.now)])
        self.session.commit()
        self._record(iid, self.now, units, ok)

    @rule(iid=installations, units=UNITS, minutes_back=st.integers(0, 50 * 24 * 60),
          ok=st.booleans())
    def report_usage(self, iid, units, minutes_back, ok):
        """Self-hosted usage reported late or now: accepted unless its period is closed."""
        inst = self.installs[iid]
        since = inst.terms[-1][0]                  # metering: in force from the last acceptance
        at = max(self.now - timedelta(minutes=minutes_back), since)
        if inst.ended is not None and at >= inst.ended:
            at = inst.ended - timedelta(seconds=1)
            if at < since:
                return
        self.events += 1
        event = {"id": f"r{self.events}", "module": inst.module, "operation": "op", "units": units,
                 "occurred_at": at.isoformat(), "status": "ok" if ok else "error"}
        result = metering.ingest(self.session, inst.adopter, [event])
        if period_of(at) in self.settled:
            assert [r.reason for r in result.rejected] == ["period_closed"], result.to_dict()
        else:
            assert result.accepted == 1, result.to_dict()
            self._record(iid, at, units, ok)

    # --- time ------------------------------------------------------------------------

    def _set_now(self, instant: datetime) -> None:
        self.now = instant
        clock.configure(instant.isoformat(), "Asia/Shanghai")

    @rule(step=st.sampled_from([timedelta(minutes=1), timedelta(hours=7), timedelta(days=1),
                                timedelta(days=9), timedelta(days=31)]))
    def advance(self, step):
        self._set_now(self.now + step)

    @rule(offset=st.sampled_from([-1, 0, 1, 1800]))
    def to_month_boundary(self, offset):
        """Just before, at or after the next midnight of the 1st in Shanghai (16:00 UTC)."""
        start_next = period_bounds(period_of(self.now))[1]
        self._set_now(max(self.now, start_next + timedelta(seconds=offset)))

    # --- settlement and payments -----------------------------------------------------------

    def _ended_periods(self) -> list[str]:
        periods, at = [], START
        while period_bounds(period_of(at))[1] <= self.now:
            periods.append(period_of(at))
            at = period_bounds(period_of(at))[1]
        return periods

    @precondition(lambda self: self._ended_periods())
    @rule(data=st.data(), netting=st.booleans(), bps=st.sampled_from([0, 250, 1000]))
    def settle(self, data, netting, bps):
        period = data.draw(st.sampled_from(self._ended_periods()), label="period")
        before = snapshot(self.session) if period in self.settled else None
        provider = get_provider({"NETTING": netting, **self.provider_config()}, self.provider)
        service.settle(self.session, period, provider, "model", bps)
        if before is not None:
            assert snapshot(self.session) == before, "a rerun changed settled rows"
        else:
            self.settled[period] = {"netting": netting, "bps": bps}
            rerun = snapshot(self.session)
            service.settle(self.session, period, provider, "model", 0 if bps else 250)
            assert snapshot(self.session) == rerun, "an immediate rerun changed settled rows"

    def provider_config(self) -> dict:
        return {}

    @precondition(lambda self: self.settled)
    @rule(data=st.data())
    def adjust(self, data):
        """An operator's debit or credit on a settled line (DESIGN §15), booked by a later settlement."""
        period = data.draw(st.sampled_from(sorted(self.settled)), label="adjusted period")
        lines = self.session.scalars(sa.select(Charge).where(
            Charge.period == period, Charge.adjusts_period == "").order_by(Charge.id)).all()
        if not lines:
            return
        line = data.draw(st.sampled_from(lines), label="line")
        net = line.amount_minor + adjustments.adjusted_total(self.session, period, line.installation_id)
        # credits up to one fen more than the line's net (refused), or debits
        amount = data.draw(st.integers(-max(net, 0) - 1, 10**6).filter(bool), label="amount")
        try:
            adjustments.create(self.session, None, period, line.installation_id, amount, "model")
        except MarketplaceError as refused:
            self.session.rollback()
            assert refused.reason == "credit_exceeds_charge" and net + amount < 0, refused.message
            return
        self.session.commit()
        assert net + amount >= 0

    @rule(code=st.sampled_from(CODES), amount=st.integers(1, 10**7), out=st.booleans(),
          reference=st.sampled_from(["", "bank-1", "bank-2"]), data=st.data())
    def pay(self, code, amount, out, reference, data):
        period = data.draw(st.sampled_from(self._ended_periods() or [period_of(self.now)]))
        once = (code, period, reference)
        stated = period in self.settled and self.session.scalar(sa.select(Statement.id).where(
            Statement.period == period, Statement.jurisdiction_code == code)) is not None
        try:
            result = service.book_payment(self.session, None, {"SETTLEMENT_PROVIDER": "ledger"}, code,
                                          amount, period, "out" if out else "in", reference)
        except MarketplaceError as refused:          # only for a statement, only what it owes
            self.session.rollback()
            assert refused.reason == ("overpayment" if stated else "not_settled"), refused.message
            assert not (reference and once in self.references)   # a replay is never refused
            return
        self.session.commit()
        assert stated
        expected = not reference or once not in self.references
        assert result["booked"] is expected
        if expected:
            self.references.add(once)
            self.paid[code] += -amount if out else amount
