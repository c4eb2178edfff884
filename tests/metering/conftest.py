"""Metering fixtures: published modules and active installations written directly as rows."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from marketplace import db
from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace.runtime.models import Installation

LONG_AGO = datetime(2020, 1, 1, tzinfo=timezone.utc)


class Modules:
    """Creates published modules with operations and installs them for adopters."""

    def __init__(self, app) -> None:
        self.app = app

    def module(self, name: str = "enterprise-registration", publisher: str = "440000",
               operations: dict[str, int] | None = None) -> int:
        """A module with one published version; returns the version id."""
        operations = operations or {"submit_application": 1, "query_status": 2}
        with self.app.app_context():
            session = db.session()
            module = Module(name=name, publisher_code=publisher)
            version = ModuleVersion(
                module=module, version="1.0.0", major=1, sha256=hashlib.sha256(name.encode()).hexdigest(),
                state="published", title=name, category="market_regulation", entry=name.replace("-", "_"),
                source_license="MulanPSL-2.0", terms={"kind": "free"}, terms_kind="free",
                operations=[Operation(name=op, units=units) for op, units in operations.items()])
            session.add_all([module, version])
            session.commit()
            return version.id

    def install(self, version_id: int, adopter: str = "440300", since: datetime = LONG_AGO,
                ended_at: datetime | None = None) -> int:
        """An installation of a version by ``adopter`` in force from ``since``; returns its id."""
        with self.app.app_context():
            session = db.session()
            version = session.get(ModuleVersion, version_id)
            item = Installation(jurisdiction_code=adopter, module_id=version.module_id,
                                version_id=version_id, terms=version.terms,
                                state="ended" if ended_at else "active", created_at=since,
                                accepted_at=since, ended_at=ended_at)
            session.add(item)
            session.commit()
            return item.id


@pytest.fixture
def modules(app):
    """The module/installation factory bound to the test app."""
    return Modules(app)


def event(event_id: str, module: str = "enterprise-registration", operation: str = "submit_application",
          units: int | None = 1, occurred_at: str = "2026-10-05T08:00:00+08:00", **extra) -> dict:
    """One reported usage event in the shape of DESIGN §7."""
    item = {"id": event_id, "module": module, "operation": operation, "occurred_at": occurred_at, **extra}
    if units is not None:
        item["units"] = units
    return item
