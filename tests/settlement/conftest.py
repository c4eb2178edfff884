"""Settlement fixtures: modules, installations and usage events written directly as rows."""
from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace.clock import clock, parse_instant, period_of
from marketplace.metering.models import UsageEvent
from marketplace.runtime.models import Installation

AFTER_OCTOBER = "2026-11-03T09:00:00+08:00"


class Market:
    """Creates modules under given terms, installations and (bulk) usage events."""

    def __init__(self, app) -> None:
        self.app = app
        self.events = 0

    def module(self, name: str, publisher: str, terms: dict) -> int:
        """A published module with one version under ``terms``; returns the version id."""
        with self.app.app_context():
            session = db.session()
            module = Module(name=name, publisher_code=publisher)
            version = ModuleVersion(
                module=module, version="1.0.0", major=1, sha256=hashlib.sha256(name.encode()).hexdigest(),
                state="published", title=name, category="public_service", entry=name.replace("-", "_"),
                source_license="MulanPSL-2.0", terms=terms, terms_kind=terms["kind"],
                operations=[Operation(name="op", units=1)])
            session.add_all([module, version])
            session.commit()
            return version.id

    def version(self, first_version_id: int, number: str, terms: dict) -> int:
        """Another published version ``number`` of the module of ``first_version_id``; its id."""
        with self.app.app_context():
            session = db.session()
            first = session.get(ModuleVersion, first_version_id)
            major, minor, patch = (int(p) for p in number.split("."))
            version = ModuleVersion(
                module_id=first.module_id, version=number, major=major, minor=minor, patch=patch,
                sha256=hashlib.sha256(f"{first.entry}{number}".encode()).hexdigest(),
                state="published", title=first.title, category=first.category, entry=first.entry,
                source_license=first.source_license, terms=terms, terms_kind=terms["kind"],
                operations=[Operation(name="op", units=1)])
            session.add(version)
            session.commit()
            return version.id

    def install(self, version_id: int, adopter: str, created: str = "2026-01-01T00:00:00+08:00",
                ended: str | None = None, accepted: str | None = None) -> int:
        """An installation by ``adopter`` created at ``created`` (ISO with offset); returns its id.

        ``accepted``: when its current terms were accepted (default: at creation).
        """
        with self.app.app_context():
            session = db.session()
            version = session.get(ModuleVersion, version_id)
            at = parse_instant(created)
            item = Installation(jurisdiction_code=adopter, module_id=version.module_id,
                                version_id=version_id, terms=version.terms,
                                state="ended" if ended else "active", created_at=at,
                                accepted_at=parse_instant(accepted) if accepted else at,
                                ended_at=parse_instant(ended) if ended else None)
            session.add(item)
            session.commit()
            return item.id

    def usage(self, installation_id: int, units: int, at: str = "2026-10-10T10:00:00+08:00",
              status: str = "ok", count: int = 1) -> None:
        """``count`` events of ``units`` each at ``at`` (Core bulk insert)."""
        when = parse_instant(at)
        rows = []
        for _ in range(count):
            self.events += 1
            rows.append({"installation_id": installation_id, "event_id": f"e{self.events}",
                         "operation": "op", "units": units, "status": status, "occurred_at": when,
                         "period": period_of(when), "duration_ms": 1, "source": "reported",
                         "received_at": when})
        with self.app.app_context():
            session = db.session()
            session.execute(sa.insert(UsageEvent), rows)
            session.commit()


@pytest.fixture
def market(app):
    """The factory, with the platform clock set after October 2026 (so 2026-10 can be settled)."""
    clock.configure(AFTER_OCTOBER, "Asia/Shanghai")
    return Market(app)


def fix_now(app, instant: str) -> None:
    """Set the platform clock for this test."""
    app.config["NOW"] = instant
    clock.configure(instant, "Asia/Shanghai")
