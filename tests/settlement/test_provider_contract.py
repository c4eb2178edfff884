"""One provider contract: ledger and Stripe implement it whole; core reaches them through the registry."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa

from marketplace import db, plugins
from marketplace.errors import MarketplaceError
from marketplace.sdk import hookimpl
from marketplace.settlement import service
from marketplace.settlement.models import Statement
from marketplace.settlement.providers import Books, Provider
from tests.settlement import worked_example as ex

CORE = Path(plugins.__file__).parent
STRIPE = {"STRIPE_API_KEY": "sk_test_1", "STRIPE_API_BASE": "http://127.0.0.1:9"}


class OnlyIssue:
    """A provider as the old contract described it: ``issue`` alone."""

    name = "only-issue"

    def __init__(self, config) -> None:
        self.config = config

    def issue(self, session, statement):
        return "issued"


class Recording(OnlyIssue):
    """A complete provider that records what settlement asked of it."""

    name = "recording"
    calls: list[list[str]] = []

    def issue_all(self, session, statements):
        Recording.calls.append([s.jurisdiction_code for s in statements])
        return {s.jurisdiction_code: "handed_over" for s in statements}

    def status(self, session=None, statement=None):
        return {"provider": self.name, "ok": True}

    def handle_webhook(self, session, payload, headers):
        return {"received": True}


class Plugin:
    @hookimpl
    def register_settlement_providers(self, register):
        register(OnlyIssue.name, OnlyIssue)
        register(Recording.name, Recording)


@pytest.fixture
def extra_providers():
    pm = plugins.get_plugin_manager()
    plugin = Plugin()
    pm.register(plugin, name="test-providers")
    yield
    pm.unregister(plugin)


def test_ledger_and_stripe_implement_the_whole_contract():
    ledger, stripe = plugins.get_provider({}, "ledger"), plugins.get_provider(STRIPE, "stripe")
    assert isinstance(ledger, Provider) and isinstance(stripe, Provider)
    assert isinstance(plugins.get_ledger({}), Books)
    for name in ("issue", "issue_all", "status", "handle_webhook"):
        assert callable(getattr(stripe, name)) and callable(getattr(ledger, name))


def test_the_registry_refuses_a_provider_that_lacks_part_of_the_contract(extra_providers):
    with pytest.raises(MarketplaceError) as caught:
        plugins.get_provider({}, "only-issue")
    assert caught.value.reason == "provider_contract"
    assert "handle_webhook, issue_all, status" in caught.value.message


def test_settlement_hands_every_pending_statement_to_issue_all(app, market, extra_providers):
    ex.build(market)
    Recording.calls.clear()
    with app.app_context():
        session = db.session()
        service.settle(session, ex.PERIOD, plugins.get_provider({}, "recording"), "t", ex.FEE_BPS)
        service.settle(session, ex.PERIOD, plugins.get_provider({}, "recording"), "t", ex.FEE_BPS)
        statuses = set(session.scalars(sa.select(Statement.provider_status)))
    assert Recording.calls == [sorted(ex.TOTALS)]          # once, all of them; the rerun: none
    assert statuses == {"handed_over"}


def test_core_reaches_the_ledger_only_through_the_registry():
    """No module of the marketplace package imports the ledger plugin itself."""
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(n.startswith("govmarket_plugins") for n in names):
                offenders.append(f"{path.relative_to(CORE.parent)}:{node.lineno}")
    assert offenders == []
