"""What a sandbox is asked to run: a version's hooks as the host addresses them.

:mod:`marketplace.runtime.sandbox` sends these to its processes; the loader hands
them to the gateway in place of a pluggy PluginManager (``manager.hook.<name>``).
"""
from __future__ import annotations

from marketplace.sdk import Context

LIFECYCLE = ("module_installed", "module_uninstalled", "module_health")


class SandboxHook:
    """A hook of a version as the sandbox will call it (what :func:`call_with_limit` sends)."""

    __slots__ = ("target", "name")

    def __init__(self, target: "SandboxManager", name: str) -> None:
        self.target, self.name = target, name


class _Hooks:
    """``pm.hook.<name>`` for a SandboxManager."""

    def __init__(self, target: "SandboxManager") -> None:
        self._target = target

    def __getattr__(self, name: str) -> SandboxHook:
        if name.startswith("_") or (name not in LIFECYCLE and name not in self._target.operations):
            raise AttributeError(name)
        hook = SandboxHook(self._target, name)
        setattr(self, name, hook)
        return hook


class SandboxManager:
    """What the sandbox needs of a version: digest, entry, extracted folder, operations."""

    def __init__(self, sha256: str, entry: str, bundle_dir: str, operations: list[str]) -> None:
        self.sha256, self.entry, self.bundle_dir = sha256, entry, bundle_dir
        self.operations = operations
        self.hook = _Hooks(self)


def context_dict(context: Context) -> dict:
    """The call context as the sandbox rebuilds it."""
    who = context.jurisdiction
    return {"code": who.code, "name": who.name, "installation_id": context.installation_id,
            "config": dict(context.config or {}), "request_id": context.request_id,
            "module": context.module, "version": context.version}
