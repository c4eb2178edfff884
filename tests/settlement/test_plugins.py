"""Platform plugins: entry points and built-ins load once; every platform hook is exercised."""
from __future__ import annotations

import pytest

from marketplace import hookspecs, plugins
from marketplace.errors import MarketplaceError


def test_providers_are_registered_through_the_hook():
    assert {"ledger", "stripe"} <= set(plugins.settlement_providers())


def test_plugin_manager_is_built_once_and_checked():
    pm = plugins.get_plugin_manager()
    assert plugins.get_plugin_manager() is pm
    assert {"ledger", "stripe"} <= {name for name, _ in pm.list_name_plugin()}
    pm.check_pending()


def test_every_platform_hook_is_implemented_and_documented():
    pm = plugins.get_plugin_manager()
    specs = [name for name in dir(hookspecs.PlatformSpec) if not name.startswith("_")]
    assert specs, "PlatformSpec declares no hooks"
    for name in specs:
        assert getattr(hookspecs.PlatformSpec, name).__doc__, f"hook {name} has no docstring"
        assert pm.hook.__dict__[name].get_hookimpls(), f"no plugin implements {name}"


def test_unknown_provider_is_refused_with_the_choices():
    with pytest.raises(MarketplaceError) as caught:
        plugins.get_provider({}, "paypal")
    assert caught.value.reason == "unknown_provider" and "ledger" in caught.value.message


def test_stripe_provider_needs_a_key():
    with pytest.raises(MarketplaceError) as caught:
        plugins.get_provider({"STRIPE_API_KEY": ""}, "stripe")
    assert caught.value.reason == "stripe_not_configured"


def test_providers_report_health_without_a_statement():
    assert plugins.get_provider({}, "ledger").status() == {"provider": "ledger", "ok": True,
                                                           "netting": False}
    health = plugins.get_provider({"STRIPE_API_KEY": "sk_test_1", "STRIPE_API_BASE": "http://x"},
                                  "stripe").status()
    assert health == {"provider": "stripe", "ok": True, "api_base": "http://x",
                      "webhook_secret_set": False}
