"""Long-lived sandbox process: loads one module version and answers its hook calls over a pipe.

Started by :mod:`marketplace.runtime.sandbox` as
``python -P -B _sandbox_worker.py HOOKSPECS_PATH MEMORY_MB`` with a bare environment
whose PYTHONPATH holds only a stand-in ``marketplace`` package (``sdk.py``: no
Flask, no database). Before any module code runs it caps its own resources, moves
the request and answer pipes from fds 0 and 1 to random descriptors above the 64 it
may open later (0 and 1 then read and write /dev/null, so a module's prints can't
corrupt the protocol), takes network and mount namespaces of its own (no network,
a private tmpfs ``/tmp``) and confines itself (:mod:`marketplace.confine`: a user
of its own when started as root, no new processes or threads, not dumpable). It
runs the first version it is sent and refuses any other: module code of two
versions in one process could patch each other and read or change each other's calls.

Messages both ways are a 4-byte big-endian length and compact JSON. Request:
``{id, sha256, hook, payload?, context, entry, bundle_dir, operations}``; answer
(carrying the request's ``id``): ``{"ok": output}`` | ``{"error": type, "message": ...}``
| ``{"module_error": reason, "message": ...}``. EOF on stdin ends the process.
A composite's ``context.call`` is a frame the other way while its hook runs:
``{id, "call": {target, operation, payload}}`` on the answer pipe, answered by the
host with ``{id, "answer": {"ok": output} | {"module_error": …}}`` on the request pipe
(the same request id: anything else ends this process).
"""
from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import random
import resource
import sys
import types

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
LIFECYCLE = ("module_installed", "module_uninstalled", "module_health")
MAX_ANSWER = 32 << 20                       # the host refuses longer answers (sandbox.py)
_version: str | None = None                 # the one version this process runs (sha256)
_pm = None                                  # its PluginManager, once imported
_bundles = ("", "")                         # (the host's cache folder, a path reaching it here)


def _limit(memory_mb: int) -> None:
    """Cap address space and open files; no core dumps."""
    for res, value in ((resource.RLIMIT_AS, memory_mb << 20), (resource.RLIMIT_NOFILE, 64),
                       (resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, 64 << 20)):
        hard = resource.getrlimit(res)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(res, (value, value))


def _private_pipes() -> tuple[int, int]:
    """The request and answer pipes on random descriptors in [64, 1024): ones no ``open``
    here can return (RLIMIT_NOFILE becomes 64) and no scan of the low ones finds.
    fds 0 and 1 (and sys.stdout) then read and write /dev/null."""
    top = min(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    low = 64 if top > 80 else 3
    pipes = []
    for fd in (0, 1):
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, random.randrange(low, max(low + 1, top - 2)))
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, fd)
        os.close(devnull)
        pipes.append(moved)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    return pipes[0], pipes[1]


def _forget_platform() -> None:
    """Drop editable-install finders: they would map ``marketplace.*`` to the real package."""
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path[:] = [p for p in sys.path if "__editable__" not in p]
    sys.path_importer_cache.clear()


def _load_confine() -> types.ModuleType:
    """``marketplace/confine.py``, loaded by path (this process can't import the platform)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "confine.py")
    spec = importlib.util.spec_from_file_location("_govmarket_confine", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spec_namespace(name: str, functions: dict) -> types.ModuleType:
    namespace = types.ModuleType(name)
    namespace.__dict__.update(functions)
    return namespace


def _operation_spec(name: str):
    from marketplace.sdk import hookspec

    def operation(payload, context):
        """Operation hook declared by the manifest."""
    operation.__name__ = operation.__qualname__ = name
    return hookspec(firstresult=True)(operation)


def _manager(job: dict, lifecycle: types.ModuleType):
    """The PluginManager of this process's one version (imported on first use)."""
    global _version, _pm
    sha = job["sha256"]
    if _version not in (None, sha):             # the host never asks this; refuse if it did
        raise LookupError(f"this sandbox runs version {_version[:12]}, not {sha[:12]}")
    if _pm is not None:
        return _pm
    if "bundle_dir" not in job:                 # the host sends it until an import succeeds
        raise LookupError("the bundle of this version was not sent")
    _version = sha                              # bound before any of its code runs
    import pluggy

    name = f"govmarket_mod_{sha[:16]}"
    host, here = _bundles            # the host's /tmp is hidden: reach its folder by descriptor
    bundle_dir = job["bundle_dir"]
    if not bundle_dir.startswith(host + os.sep):      # the host never sends another folder
        raise LookupError(f"the bundle is not in this sandbox's folder {host}")
    bundle_dir = here + bundle_dir[len(host):]
    pkg_dir = os.path.join(bundle_dir, job["entry"])
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(pkg_dir, "__init__.py"), submodule_search_locations=[pkg_dir])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    pm = pluggy.PluginManager("govmarket")
    pm.add_hookspecs(lifecycle)
    pm.add_hookspecs(_spec_namespace("operation_specs", {
        op: _operation_spec(op) for op in job["operations"]}))
    pm.register(module, name=name)
    pm.check_pending()
    _pm = pm
    return pm


def _caller(ident: object, messages, answer_fd: int):
    """``context.call`` of one request: a call frame to the host, then wait for its answer."""
    from marketplace.sdk import ModuleError

    def call(target: str, operation: str, payload) -> dict:
        try:
            body = _dumps({"id": ident, "call": {"target": target, "operation": operation,
                                                 "payload": payload}}).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise ModuleError("invalid_call", f"the payload of context.call is not JSON: "
                              f"{str(exc)[:300]}") from None
        if len(body) > MAX_ANSWER:
            raise ModuleError("invalid_call", "the payload of context.call is larger than "
                              f"{MAX_ANSWER >> 20} MB")
        view = memoryview(len(body).to_bytes(4, "big") + body)
        while view:
            view = view[os.write(answer_fd, view):]
        reply = next(messages, None)
        if not isinstance(reply, dict) or reply.get("id") != ident or not isinstance(
                reply.get("answer"), dict):
            os._exit(3)             # the host never answers otherwise: nothing here is sane
        answer = reply["answer"]
        if "ok" in answer:
            return answer["ok"]
        raise ModuleError(answer.get("module_error", "sub_call_failed"),
                          answer.get("message", ""), answer.get("where", ""))
    return call


def _answer(job: dict, lifecycle: types.ModuleType, messages=None, answer_fd: int = -1) -> dict:
    """Run one hook call; every failure becomes an answer, never a crash of this loop."""
    from marketplace.sdk import Context, JurisdictionRef, ModuleError

    try:
        pm = _manager(job, lifecycle)
        c = job["context"]
        ctx = Context(jurisdiction=JurisdictionRef(c["code"], c["name"]),
                      installation_id=c["installation_id"], config=c["config"],
                      request_id=c["request_id"], module=c["module"], version=c["version"],
                      caller=_caller(job.get("id"), messages, answer_fd)
                      if messages is not None else None)
        hook = getattr(pm.hook, job["hook"])
        if "payload" in job:
            return {"ok": hook(payload=job["payload"], context=ctx)}
        return {"ok": hook(context=ctx)}
    except ModuleError as exc:
        return {"module_error": str(exc.reason)[:200], "message": str(exc.message)[:2000],
                "where": str(getattr(exc, "where", ""))[:500]}
    except MemoryError:
        return {"error": "MemoryError", "message": "the module ran out of its memory limit",
                "recycle": True}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends are the module's fault
        return {"error": type(exc).__name__, "message": str(exc)[:2000],
                "recycle": isinstance(exc, (SystemExit, KeyboardInterrupt))}


def _messages(fd: int):
    """The requests arriving on ``fd``, one at a time (one read each unless large)."""
    while True:
        first = os.read(fd, 1 << 16)
        while 0 < len(first) < 4:
            more = os.read(fd, 4 - len(first))
            first += more
            if not more:
                return
        if not first:
            return
        end = int.from_bytes(first[:4], "big")
        body = first[4:]
        if len(body) < end:         # read the rest in place: no quadratic ``buf += chunk``
            buf = bytearray(end)
            buf[:len(body)] = body
            view, got = memoryview(buf), len(body)
            while got < end:
                n = os.readv(fd, [view[got:]])
                if not n:
                    return
                got += n
            body = buf
        yield json.loads(body)


def _write(fd: int, ident: object, answer: dict) -> None:
    """Send ``answer`` tagged with its request's id; output JSON can't hold is a module error."""
    try:
        body = _dumps({"id": ident, **answer}).encode()
        if len(body) > MAX_ANSWER:
            body = _dumps({"id": ident, "error": "AnswerTooLarge", "message": f"the output is "
                           f"{len(body)} bytes of JSON, more than the {MAX_ANSWER >> 20} MB "
                           "limit"}).encode()
    except (TypeError, ValueError, RecursionError) as exc:     # NaN, lone surrogates, objects
        body = _dumps({"id": ident, "error": "NotJSON",
                       "message": f"output is not JSON: {str(exc)[:500]}"}).encode()
    view = memoryview(len(body).to_bytes(4, "big") + body)
    while view:
        view = view[os.write(fd, view):]


def main(hookspecs_path: str, memory_mb: str) -> int:
    """Serve hook calls until the parent closes the pipe."""
    global _bundles
    request_fd, answer_fd = _private_pipes()
    import pluggy  # noqa: F401 - loaded before the limits and the privilege drop
    import marketplace.sdk  # noqa: F401 - the stand-in package's sdk

    spec = importlib.util.spec_from_file_location("_govmarket_hookspecs", hookspecs_path)
    specs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(specs)
    lifecycle = _spec_namespace("lifecycle_specs", {
        k: v for k, v in vars(specs.ModuleLifecycleSpec).items() if k in LIFECYCLE})
    confine = _load_confine()
    _forget_platform()
    _bundles = (os.getcwd(), f"/proc/self/fd/{os.open('.', os.O_RDONLY | os.O_DIRECTORY)}")
    _limit(int(memory_mb))
    private_tmp = confine.isolate()
    host_tmp = os.environ.get("TMPDIR")          # the host's private folder, when no tmpfs
    confine.confine(writable=(host_tmp,) if host_tmp and not private_tmp else ())
    messages = _messages(request_fd)
    for job in messages:
        answer = _answer(job, lifecycle, messages, answer_fd)
        _write(answer_fd, job.get("id"), answer)
        if answer.get("recycle"):
            return 0            # state after MemoryError/SystemExit is suspect: start afresh
    return 0                    # the parent closed the pipe


if __name__ == "__main__":
    try:
        sys.exit(main(*sys.argv[1:3]))
    except Exception as exc:  # noqa: BLE001 - one line on the host's stderr, never a traceback
        if isinstance(exc, FileNotFoundError) and exc.filename is None:
            sys.exit(0)             # os.getcwd(): the host removed its folder, it is exiting
        sys.stderr.write(f"module sandbox {os.getpid()} ended: {type(exc).__name__}: {exc}\n")
        sys.exit(1)
