"""Hook specifications of the ``govmarket`` project (specs only).

Module hooks: operation hookspecs are built per module version from its
manifest (see :func:`marketplace.runtime.loader.operation_spec`); the lifecycle
hooks below are shared by every module.

Platform hooks: implemented by platform plugins (``plugins/``, entry-point
group ``govmarket.plugins``) to extend the marketplace itself.
"""
from __future__ import annotations

from marketplace.sdk import hookspec


class ModuleLifecycleSpec:
    """Lifecycle hooks any module may implement."""

    @hookspec
    def module_installed(context):
        """Fires after an adopter installed the module; return value ignored."""

    @hookspec
    def module_uninstalled(context):
        """Fires after an adopter uninstalled the module; return value ignored."""

    @hookspec(firstresult=True)
    def module_health(context):
        """Fires on a health check; return a dict like ``{"status": "ok"}``."""


class PlatformSpec:
    """Hooks of platform plugins (settlement providers first)."""

    @hookspec
    def register_settlement_providers(self, register):
        """Fires once when the platform plugins load; call ``register(name, factory)`` per provider.

        ``factory(config)`` gets the app config mapping and returns an object
        implementing :class:`marketplace.settlement.providers.Provider` whole:
        ``name``, ``issue`` and ``issue_all`` (idempotent: called again after a
        crash), ``status`` and ``handle_webhook``. The registry refuses less.
        """
