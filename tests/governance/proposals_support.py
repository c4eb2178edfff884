"""A co-owned module and its owners' publishers, for the joint-decision tests (DESIGN §13)."""
from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace.clock import clock, now, period_of

NOW = "2026-11-10T10:00:00+08:00"           # in period 2026-11; next period 2026-12
ZJ, SH, JS, GD = "330000", "310000", "320000", "440000"     # 浙江, 上海, 江苏, 广东
FREE = {"kind": "free", "currency": "CNY"}
PAID = {"kind": "pay_per_use", "currency": "CNY", "model": "per_unit", "unit_price": "0.05"}


class World:
    """Publishers (read+publish tokens) of 浙江, 上海, 江苏 and 广东; one module to decide on."""

    def __init__(self, app, client, factory) -> None:
        self.app, self.client, self.factory = app, client, factory
        self.emails = {code: factory.user("publisher", code) for code in (ZJ, SH, JS, GD)}
        self.tokens = {code: {"Authorization": f"Bearer {factory.token(email, 'read publish')}"}
                       for code, email in self.emails.items()}
        self.module = "delta-permit"

    def add_module(self, name: str = "delta-permit", publisher: str = ZJ,
                   owners: list[tuple[str, int]] | None = None, terms: dict | None = None) -> int:
        """A published module (a row, no bundle) owned by ``owners`` in force from this period."""
        from marketplace.governance import shares

        with self.app.app_context():
            session = db.session()
            module = Module(name=name, publisher_code=publisher)
            session.add(module)
            session.flush()
            version = ModuleVersion(
                module_id=module.id, version="1.0.0", major=1, minor=0, patch=0,
                sha256=hashlib.sha256(name.encode()).hexdigest(), state="published",
                title="长三角许可", category="public_service", entry="delta_permit",
                source_license="MulanPSL-2.0", terms=terms or FREE,
                terms_kind=(terms or FREE)["kind"], manifest={}, created_at=now(),
                reviewed_at=now())
            version.operations = [Operation(name="run", units=1, input_schema={"type": "object"},
                                            output_schema={"type": "object"})]
            session.add(version)
            session.flush()
            if owners:
                shares.set_owners(session, module.id, owners, 100_000_000, period_of(now()),
                                  "setup")
            session.commit()
            return module.id

    def propose(self, code: str, body: dict[str, Any], module: str | None = None):
        """POST /api/v1/modules/{module}/proposals as ``code``'s publisher."""
        return self.client.post(f"/api/v1/modules/{module or self.module}/proposals", json=body,
                                headers=self.tokens[code])

    def vote(self, code: str, proposal_id: int, decision: str = "approve", headers=None):
        """POST /api/v1/proposals/{id}/approve|reject as ``code``'s publisher."""
        return self.client.post(f"/api/v1/proposals/{proposal_id}/{decision}",
                                headers=headers or self.tokens[code])

    def get(self, code: str, path: str):
        """GET an API path as ``code``'s publisher."""
        return self.client.get(path, headers=self.tokens[code])

    def owners_in_force(self, module_id: int, period: str) -> list[tuple[str, int]]:
        """shares.owners_in_force, in an app context."""
        from marketplace.governance import shares

        with self.app.app_context():
            return shares.owners_in_force(db.session(), module_id, period)

    def audit_actions(self) -> list[tuple[str, str]]:
        """(action, subject) of every proposal.* journal entry, oldest first."""
        from marketplace.accounts.models import AuditEntry

        with self.app.app_context():
            return [(a, s) for a, s in db.session().execute(
                sa.select(AuditEntry.action, AuditEntry.subject)
                .where(AuditEntry.action.startswith("proposal."))
                .order_by(AuditEntry.id)).all()]


def owners_body(*owners: tuple[str, int], build_cost: str | None = "1200000.00",
                note: str = "长三角联合建设") -> dict[str, Any]:
    """An owners proposal body."""
    body: dict[str, Any] = {"kind": "owners", "owners": [{"code": c, "share_bps": b}
                                                         for c, b in owners], "note": note}
    if build_cost is not None:
        body["build_cost"] = build_cost
    return body


@pytest.fixture
def fixed_now():
    """The platform clock at NOW; ``fixed_now(instant)`` moves it; real time again afterwards."""
    def at(instant: str) -> None:
        clock.configure(instant, "Asia/Shanghai")
    at(NOW)
    yield at
    clock.configure("", "Asia/Shanghai")


@pytest.fixture
def world(app, client, factory, fixed_now):
    """Four provinces' publishers and delta-permit owned by 浙江 6000 / 上海 4000."""
    w = World(app, client, factory)
    w.module_id = w.add_module(owners=[(ZJ, 6000), (SH, 4000)])
    return w
