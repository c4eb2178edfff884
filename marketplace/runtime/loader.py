"""Loading module versions into this process: verified bundles, unique import names, cached managers.

A version's bundle is read from the artifact store (sha256 verified), extracted
into a per-process cache folder and its entry package imported as
``govmarket_mod_<sha256[:16]>``, so two versions of one module live side by side.
Each (installation, version) gets its own PluginManager, built once and cached;
the cache key holds the version id, and the gateway reads the installation row
on every call, so an upgrade made by another worker process is seen on the next
call without any cross-process signalling.
"""
from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Callable, Iterable

import pluggy

from marketplace.catalog.bundle import extract_to, read_bundle
from marketplace.catalog.store import ArtifactStore
from marketplace.hookspecs import ModuleLifecycleSpec
from marketplace.sdk import PROJECT, Context, hookspec

log = logging.getLogger(__name__)

POOL_SIZE = 16                  # module calls in flight per process
MAX_BUSY_PER_INSTALLATION = 4   # calls of one installation still running (incl. timed out ones)

_lock = threading.RLock()
_modules: dict[str, types.ModuleType] = {}          # sha256 → imported entry package
_managers: dict[tuple[int, int, str], pluggy.PluginManager] = {}
_cache_dir: Path | None = None
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_busy: dict[int, int] = {}


class ModuleTimeout(Exception):
    """The module did not answer within the time limit (its thread may still be running)."""


class ModuleBusy(ModuleTimeout):
    """Too many earlier calls of this installation are still running; refused without calling."""


def import_name(sha256: str) -> str:
    """The unique name a version's entry package is imported under."""
    return f"govmarket_mod_{sha256[:16]}"


def operation_spec(name: str) -> Callable:
    """A firstresult hookspec for one declared operation ``name(payload, context)``."""
    def operation(payload, context):
        """Operation hook declared by the manifest."""
    operation.__name__ = operation.__qualname__ = name
    return hookspec(firstresult=True)(operation)


def _namespace(name: str, functions: dict[str, Callable]) -> types.ModuleType:
    """Specs in a module namespace: pluggy treats class-held specs as methods (deprecated)."""
    namespace = types.ModuleType(name)
    namespace.__dict__.update(functions)
    return namespace


_LIFECYCLE = _namespace("lifecycle_specs", {k: v for k, v in vars(ModuleLifecycleSpec).items()
                                            if not k.startswith("_")})


def _cache_root() -> Path:
    """This process's folder of extracted bundles (removed at exit)."""
    global _cache_dir
    if _cache_dir is None or not _cache_dir.exists():
        _cache_dir = Path(tempfile.mkdtemp(prefix=f"govmarket-runtime-{os.getpid()}-"))
        atexit.register(shutil.rmtree, _cache_dir, True)
    return _cache_dir


def load_module(store: ArtifactStore, sha256: str, entry: str) -> types.ModuleType:
    """Import a version's entry package (once per process) from its verified bundle."""
    found = _modules.get(sha256)
    if found is not None:
        return found
    with _lock:
        if sha256 in _modules:
            return _modules[sha256]
        bundle = read_bundle(store.get(sha256))          # get() verifies the sha256
        root = extract_to(bundle, _cache_root() / sha256)
        pkg_dir = root / entry
        name = import_name(sha256)
        spec = importlib.util.spec_from_file_location(
            name, pkg_dir / "__init__.py", submodule_search_locations=[str(pkg_dir)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        _modules[sha256] = module
        return module


def build_manager(module: types.ModuleType, operations: Iterable[str],
                  name: str) -> pluggy.PluginManager:
    """A fresh PluginManager with lifecycle specs, one spec per operation, and the module."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(_LIFECYCLE)
    pm.add_hookspecs(_namespace("operation_specs", {op: operation_spec(op) for op in operations}))
    pm.register(module, name=name)
    pm.check_pending()
    return pm


def manager_for(store: ArtifactStore, installation_id: int, version_id: int, sha256: str,
                entry: str, operations: Callable[[], Iterable[str]]) -> pluggy.PluginManager:
    """The cached manager of an installation on a version (built on first use).

    ``operations`` is called only on a cache miss, so the hot path never loads them.
    """
    key = (installation_id, version_id, sha256)     # sha256: ids alone may repeat across databases
    pm = _managers.get(key)
    if pm is not None:
        return pm
    module = load_module(store, sha256, entry)
    with _lock:
        pm = _managers.get(key)
        if pm is None:
            for stale in [k for k in _managers if k[0] == installation_id]:
                del _managers[stale]                    # the installation moved to another version
            pm = _managers[key] = build_manager(module, list(operations()),
                                                f"{import_name(sha256)}:{installation_id}")
    return pm


def forget(installation_id: int) -> None:
    """Drop the cached managers of an installation (after uninstall)."""
    with _lock:
        for key in [k for k in _managers if k[0] == installation_id]:
            del _managers[key]


def _executor() -> ThreadPoolExecutor:
    """The bounded pool of module-call threads of this process (recreated after fork)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        with _lock:
            if _pool is None or _pool_pid != os.getpid():
                _pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="govmarket-module")
                _pool_pid = os.getpid()
                _busy.clear()
    return _pool


def _release(installation_id: int) -> None:
    with _lock:
        _busy[installation_id] = _busy.get(installation_id, 1) - 1


def busy(installation_id: int) -> int:
    """How many calls of an installation are running in this process's pool."""
    return _busy.get(installation_id, 0)


def call_with_limit(installation_id: int, timeout: float, func: Callable, /, **kwargs: Any) -> Any:
    """Run module code in the bounded pool and wait at most ``timeout`` seconds.

    Python cannot kill a thread: a call past its limit keeps its pool thread until it
    returns (a CPU-bound endless loop keeps it forever and takes a GIL share). So each
    installation may hold at most MAX_BUSY_PER_INSTALLATION pool threads; beyond that
    its calls are refused at once with ModuleBusy, and other tenants keep the rest.
    """
    with _lock:
        if _busy.get(installation_id, 0) >= MAX_BUSY_PER_INSTALLATION:
            raise ModuleBusy(f"{_busy[installation_id]} earlier calls are still running")
        _busy[installation_id] = _busy.get(installation_id, 0) + 1
    future = _executor().submit(func, **kwargs)
    future.add_done_callback(lambda _f: _release(installation_id))
    try:
        return future.result(timeout)
    except FutureTimeout:
        raise ModuleTimeout(f"no answer within {timeout:g} s") from None


def call_lifecycle(pm: pluggy.PluginManager, hook: str, context: Context,
                   installation_id: int, timeout: float) -> Any:
    """Call a lifecycle hook with the time limit; failures are logged and give None."""
    try:
        return call_with_limit(installation_id, timeout, getattr(pm.hook, hook), context=context)
    except Exception:  # noqa: BLE001 - lifecycle hooks are advisory; never fatal
        log.warning("lifecycle hook %s of installation %s failed", hook, installation_id,
                    exc_info=True)
        return None
