"""Running module versions: in sandbox processes (default) or in this process (debugging).

``SANDBOX = "process"`` (the default): module code never runs in the web worker.
:func:`manager_for` returns a :class:`SandboxManager` whose hooks
:func:`call_with_limit` sends to the worker's :mod:`~marketplace.runtime.sandbox`
pool; the bundle is verified and extracted here, imported there.
``SANDBOX = "thread"``: the old in-process path described below.

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
import dataclasses
import importlib.util
import logging
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import types
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Callable, Iterable

import pluggy

from marketplace import confine
from marketplace.catalog.bundle import extract_to, read_bundle
from marketplace.catalog.store import ArtifactStore
from marketplace.hookspecs import ModuleLifecycleSpec
from marketplace.runtime import sandbox
from marketplace.runtime.sandbox import (LIFECYCLE, ModuleBusy, ModuleCrashed,  # noqa: F401
                                         ModuleTimeout, SandboxHook, SandboxManager, context_dict)
from marketplace.sdk import PROJECT, Context, ModuleError, hookspec

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
_freed = threading.Condition(_lock)     # notified when a call of any installation ends
_targets: dict[tuple[int, int, str], "SandboxManager"] = {}
_sandboxes: sandbox.SandboxPool | None = None
DEFAULTS = {"SANDBOX": "process", "SANDBOX_PROCESSES": 4, "SANDBOX_MEMORY_MB": 512}


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
    """This process's folder of extracted bundles (removed at exit; readable by sandboxes)."""
    global _cache_dir
    with _lock:     # one folder per process: sandboxes reach bundles only below their own
        if (_cache_dir is None or not _cache_dir.exists()
                or f"-{os.getpid()}-" not in _cache_dir.name):
            _cache_dir = Path(tempfile.mkdtemp(prefix=f"govmarket-runtime-{os.getpid()}-"))
            _cache_dir.chmod(0o755)
            atexit.register(shutil.rmtree, _cache_dir, True)
        return _cache_dir


def settings() -> dict:
    """Sandbox settings of the current app (defaults outside an app context)."""
    try:
        from flask import current_app, has_app_context
    except ImportError:  # pragma: no cover - the platform always has Flask
        return dict(DEFAULTS)
    if not has_app_context():
        return dict(DEFAULTS)
    config = current_app.config
    found = {k: config.get(k, v) for k, v in DEFAULTS.items()}
    found["instance_path"] = current_app.instance_path
    found["DATABASE_URL"] = config.get("DATABASE_URL", "")
    return found


def _mode() -> str:
    """``process`` or ``thread``: where the current app runs module code."""
    try:
        from flask import current_app
        return current_app.config.get("SANDBOX", "process")
    except RuntimeError:                        # outside an app context
        return DEFAULTS["SANDBOX"]


def extracted(store: ArtifactStore, sha256: str) -> Path:
    """The folder a verified bundle is extracted to (once per process)."""
    root = _cache_root() / sha256
    if root.is_dir():
        return root
    with _lock:
        if not root.is_dir():
            bundle = read_bundle(store.get(sha256))      # get() verifies the sha256
            scratch = extract_to(bundle, _cache_root() / f".{sha256}-{threading.get_ident()}")
            os.replace(scratch, root)
    return root


def load_module(store: ArtifactStore, sha256: str, entry: str) -> types.ModuleType:
    """Import a version's entry package (once per process) from its verified bundle."""
    found = _modules.get(sha256)
    if found is not None:
        return found
    with _lock:
        if sha256 in _modules:
            return _modules[sha256]
        pkg_dir = extracted(store, sha256) / entry
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
                entry: str, operations: Callable[[], Iterable[str]]):
    """The cached manager of an installation on a version (built on first use).

    ``operations`` is called only on a cache miss, so the hot path never loads them.
    With ``SANDBOX = "process"`` this is a :class:`SandboxManager`; otherwise a pluggy one.
    """
    key = (installation_id, version_id, sha256)     # sha256: ids alone may repeat across databases
    if _mode() != "thread":
        found = _targets.get(key)
        if found is not None:
            return found
        bundle_dir = str(extracted(store, sha256))
        with _lock:
            for stale in [k for k in _targets if k[0] == installation_id]:
                del _targets[stale]
            found = _targets[key] = SandboxManager(sha256, entry, bundle_dir, list(operations()))
        return found
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
        for key in [k for k in _targets if k[0] == installation_id]:
            del _targets[key]


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
        _freed.notify_all()


def busy(installation_id: int) -> int:
    """How many calls of an installation are running in this process's pool."""
    return _busy.get(installation_id, 0)


def _shape() -> tuple[int, int, int]:
    """(pid, SANDBOX_PROCESSES, SANDBOX_MEMORY_MB) the pool of the current app should have."""
    try:
        from flask import current_app
        config = current_app.config
    except RuntimeError:                        # outside an app context
        config = DEFAULTS
    return (os.getpid(), int(config.get("SANDBOX_PROCESSES", DEFAULTS["SANDBOX_PROCESSES"])),
            int(config.get("SANDBOX_MEMORY_MB", DEFAULTS["SANDBOX_MEMORY_MB"])))


def sandbox_pool() -> sandbox.SandboxPool:
    """This process's sandbox pool (started after fork; restarted when its settings change)."""
    global _sandboxes
    shape = _shape()
    pool = _sandboxes
    if pool is None or (pool.pid, pool.size, pool.memory_mb) != shape or pool.root != _cache_dir:
        with _lock:
            pool = _sandboxes
            if (pool is None or (pool.pid, pool.size, pool.memory_mb) != shape
                    or pool.root != _cache_root()):
                if pool is not None and pool.pid == os.getpid():
                    pool.close()
                else:
                    _busy.clear()               # a forked child: the parent's calls aren't ours
                found = settings()
                confine.protect_platform_files(found.get("instance_path"),
                                               str(found.get("DATABASE_URL", "")))
                pool = _sandboxes = sandbox.SandboxPool(_cache_root(), shape[1], shape[2])
                atexit.register(pool.close)     # before the folder's removal (atexit: last first)
    return pool


def _call_in_sandbox(installation_id: int, timeout: float, hook: SandboxHook,
                     kwargs: dict, subcall: sandbox.SubCall | None = None) -> Any:
    """One call in this process's sandbox pool, under the per-installation cap.

    An installation may use all sandboxes but one at a time; a call beyond that waits
    for one of its own to end (within its time limit), so bursts of quick calls queue
    while a tenant whose calls hang can't starve the others.
    """
    pool = sandbox_pool()
    if subcall is not None:
        subcall = _parking(pool, subcall)
    cap = min(MAX_BUSY_PER_INSTALLATION, pool.per_installation)
    started = time.monotonic()
    with _freed:
        if not _freed.wait_for(lambda: _busy.get(installation_id, 0) < cap, timeout):
            raise ModuleBusy(f"{_busy[installation_id]} earlier calls are still running")
        _busy[installation_id] = _busy.get(installation_id, 0) + 1
    try:
        return pool.call(hook.target, hook.name, kwargs.get("payload"),
                         context_dict(kwargs["context"]), timeout - (time.monotonic() - started),
                         lifecycle=hook.name in LIFECYCLE, subcall=subcall)
    finally:
        _release(installation_id)


def _parking(pool: sandbox.SandboxPool, subcall: sandbox.SubCall) -> sandbox.SubCall:
    """``subcall`` telling the pool that the calling sandbox waits on it meanwhile."""
    def parked(target: str, operation: str, payload: Any, deadline: float) -> Any:
        pool.park()
        try:
            return subcall(target, operation, payload, deadline)
        finally:
            pool.unpark()
    return parked


def call_with_limit(installation_id: int, timeout: float, func: Callable, /,
                    subcall: sandbox.SubCall | None = None, **kwargs: Any) -> Any:
    """Run module code in a sandbox process (or the thread pool) for at most ``timeout`` s.

    A :class:`SandboxHook` goes to a sandbox process: a late call's sandbox is killed
    and replaced, a dead one raises ModuleCrashed. Any other callable runs on the
    in-process thread pool (``SANDBOX = "thread"``):

    Python cannot kill a thread: a call past its limit keeps its pool thread until it
    returns (a CPU-bound endless loop keeps it forever and takes a GIL share). So each
    installation may hold at most MAX_BUSY_PER_INSTALLATION pool threads; beyond that
    its calls are refused at once with ModuleBusy, and other tenants keep the rest.

    ``subcall(target, operation, payload, deadline)`` answers the module's
    ``context.call`` on the calling thread (its connection), within ``timeout``.
    """
    if isinstance(func, SandboxHook):
        return _call_in_sandbox(installation_id, timeout, func, kwargs, subcall)
    with _lock:
        if _busy.get(installation_id, 0) >= MAX_BUSY_PER_INSTALLATION:
            raise ModuleBusy(f"{_busy[installation_id]} earlier calls are still running")
        _busy[installation_id] = _busy.get(installation_id, 0) + 1
    deadline = time.monotonic() + timeout
    channel = _Channel(deadline) if subcall is not None and "context" in kwargs else None
    if channel is not None:
        kwargs["context"] = dataclasses.replace(kwargs["context"], caller=channel.ask)
    future = (_apart if getattr(_serving, "depth", 0) else _executor().submit)(func, **kwargs)
    future.add_done_callback(lambda _f: _release(installation_id))
    try:
        if channel is not None:
            return channel.serve(future, subcall)
        return future.result(timeout)
    except FutureTimeout:
        raise ModuleTimeout(f"no answer within {timeout:g} s") from None


_serving = threading.local()        # this thread answers a composite's sub-call (thread mode)


def _apart(func: Callable, **kwargs: Any) -> Future:
    """``func`` on a thread of its own: a sub-call never queues behind the composite calls
    filling the pool, which wait for it (in-process mode only)."""
    future: Future = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(func(**kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(exc)
    threading.Thread(target=run, name="govmarket-module-step", daemon=True).start()
    return future


class _Channel:
    """``context.call`` of an in-process call, answered on the thread that waits for it.

    The module runs on a pool thread; its sub-calls are handed to the calling thread,
    which owns the call's database connection, as the sandbox's call frames are.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.asked: queue.Queue = queue.Queue()
        self.calls = 0

    def ask(self, target: str, operation: str, payload: Any) -> Any:
        """From the module's thread: the sub-call's output (or its ModuleError)."""
        slot: dict = {"done": threading.Event()}
        self.asked.put((target, operation, payload, slot))
        if not slot["done"].wait(max(0.0, self.deadline - time.monotonic()) + 1.0):
            raise ModuleError("timeout", "the call's time limit passed during a sub-call")
        if "error" in slot:
            raise slot["error"]
        return slot["ok"]

    def serve(self, future: Any, subcall: sandbox.SubCall) -> Any:
        """On the calling thread: answer sub-calls until the module returns or time runs out."""
        future.add_done_callback(lambda _f: self.asked.put(None))
        while True:
            left = self.deadline - time.monotonic()
            try:
                item = self.asked.get(timeout=max(0.0, left)) if left > 0 else None
            except queue.Empty:
                item = None
            if item is None:
                if future.done():
                    return future.result()
                raise ModuleTimeout(f"no answer within the call's time limit")
            target, operation, payload, slot = item
            self.calls += 1
            _serving.depth = getattr(_serving, "depth", 0) + 1
            try:
                answer = sandbox._sub_answer(subcall, {"target": target, "operation": operation,
                                                       "payload": payload}, self.deadline,
                                             self.calls)
            finally:
                _serving.depth -= 1
            if "ok" in answer:
                slot["ok"] = answer["ok"]
            else:
                slot["error"] = ModuleError(answer["module_error"], answer["message"],
                                            answer.get("where") or "")
            slot["done"].set()


def call_lifecycle(pm: pluggy.PluginManager, hook: str, context: Context,
                   installation_id: int, timeout: float) -> Any:
    """Call a lifecycle hook with the time limit; failures are logged and give None."""
    try:
        return call_with_limit(installation_id, timeout, getattr(pm.hook, hook), context=context)
    except Exception:  # noqa: BLE001 - lifecycle hooks are advisory; never fatal
        log.warning("lifecycle hook %s of installation %s failed", hook, installation_id,
                    exc_info=True)
        return None
