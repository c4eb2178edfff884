"""The platform plugin manager: loads ``govmarket.plugins`` entry points plus the built-ins, once.

Platform plugins extend the marketplace itself (settlement providers first,
see :class:`marketplace.hookspecs.PlatformSpec`).  Built-ins are registered the
same way as outside plugins, so the extension surface is exercised every day.
"""
from __future__ import annotations

import threading
from importlib import import_module
from typing import Any, Callable, Mapping

import pluggy

from marketplace import hookspecs
from marketplace.errors import MarketplaceError
from marketplace.sdk import PROJECT
from marketplace.settlement.providers import Books, Provider, missing

ENTRY_POINT_GROUP = "govmarket.plugins"
#: (name, module) of the built-in platform plugins, registered unless an entry point already did
DEFAULT_PLUGINS = (("ledger", "govmarket_plugins.ledger"), ("stripe", "govmarket_plugins.stripe"))

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide platform plugin manager (built on first use, hooks checked)."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(PROJECT)
            pm.add_hookspecs(hookspecs.PlatformSpec)
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            for name, module_path in DEFAULT_PLUGINS:
                module = import_module(module_path)
                if not pm.is_registered(module) and not pm.has_plugin(name):
                    pm.register(module, name=name)
            pm.check_pending()  # a misspelt hook must fail loudly, not do nothing
            _manager = pm
        return _manager


def settlement_providers() -> dict[str, Callable[[Mapping[str, Any]], Any]]:
    """Provider name → factory, collected through ``register_settlement_providers``."""
    found: dict[str, Callable] = {}

    def register(name: str, factory: Callable) -> None:
        found[name] = factory

    get_plugin_manager().hook.register_settlement_providers(register=register)
    return found


def provider_name(config: Mapping[str, Any]) -> str:
    """The configured settlement provider's name (``SETTLEMENT_PROVIDER``, default ledger)."""
    return str(config.get("SETTLEMENT_PROVIDER") or "ledger")


def get_provider(config: Mapping[str, Any], name: str | None = None) -> Provider:
    """The settlement provider ``name`` (default: ``SETTLEMENT_PROVIDER``) built for ``config``.

    Refuses an object that does not implement the whole :class:`Provider` contract.
    """
    name = name or provider_name(config)
    factories = settlement_providers()
    if name not in factories:
        raise MarketplaceError("unknown_provider",
                               f"settlement provider {name!r} is not installed; "
                               f"choose one of {', '.join(sorted(factories))}")
    return _checked(factories[name](config), Provider, name)


def get_ledger(config: Mapping[str, Any]) -> Books:
    """The built-in ledger (balances and payments), whichever provider settles."""
    return _checked(get_provider(config, "ledger"), Books, "ledger")


def _checked(provider: Any, contract: type, name: str) -> Any:
    """``provider`` when it implements ``contract``; else a 500 naming what it lacks."""
    if not isinstance(provider, contract):
        raise MarketplaceError("provider_contract", f"settlement provider {name!r} does not "
                               f"implement {', '.join(missing(provider, contract))}", status=500)
    return provider
