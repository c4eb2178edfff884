"""Child process of the module checker: import an entry package, register it, run its examples.

Started by :func:`marketplace.catalog.checker.check_module` as
``python -P -B _check_worker.py JOB.json`` in its own session, never in a web worker.
It sets its own resource limits before touching module code (rather than a
``preexec_fn``, which may deadlock a threaded parent), imports only the stdlib,
pluggy and ``marketplace.sdk`` / ``marketplace.hookspecs`` (no Flask: the
``marketplace`` package is stubbed so its ``__init__`` is not run), takes network
and mount namespaces of its own (:func:`marketplace.confine.isolate`: no network, a
private tmpfs ``/tmp``; else ``TMPDIR`` is its working folder, which the host deletes),
confines itself (:mod:`marketplace.confine`: a user of its own when started as root,
owning only its working folder and the report folder ``out/``; no new processes or
threads) and writes its
findings as JSON to the job's result file: never to stdout, which the module may
pollute. The host judges outputs against the schemas; this process only calls.
"""
from __future__ import annotations

import copy
import inspect
import json
import os
import resource
import sys
import traceback
import types
from pathlib import Path

_ANSWER: dict = {"errors": [], "warnings": [], "results": [], "hookimpls": []}


def _limit(memory_mb: int, cpu_seconds: int, file_mb: int = 64) -> None:
    """Cap address space, CPU time and file size; no core dumps."""
    for res, value in ((resource.RLIMIT_AS, memory_mb << 20), (resource.RLIMIT_CPU, cpu_seconds),
                       (resource.RLIMIT_FSIZE, file_mb << 20), (resource.RLIMIT_CORE, 0)):
        hard = resource.getrlimit(res)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(res, (value, hard if res == resource.RLIMIT_CPU else value))


def _stub_marketplace() -> None:
    """Make ``import marketplace.sdk`` work without running ``marketplace/__init__`` (Flask)."""
    if "marketplace" not in sys.modules:
        pkg = types.ModuleType("marketplace", "stub: the checker needs only marketplace.sdk")
        pkg.__path__ = [str(Path(__file__).resolve().parents[1])]
        sys.modules["marketplace"] = pkg


class _StdoutTrap:
    """Stands in for sys.stdout: forwards to stderr and remembers that something was printed."""

    encoding = "utf-8"

    def __init__(self) -> None:
        self.seen = ""

    def write(self, text: str) -> int:
        if text and len(self.seen) < 200:
            self.seen += text[:200]
        sys.stderr.write(text)
        return len(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return False

    def take(self) -> str:
        seen, self.seen = self.seen, ""
        return seen


def _err(where: str, message: str) -> None:
    _ANSWER["errors"].append({"where": where, "message": message})


def _located(exc: BaseException, root: str) -> str:
    """``pkg/file.py:LINE`` of the innermost frame inside the bundle (or the last frame)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        file, line = exc.filename, exc.lineno
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        inside = [f for f in frames if f.filename.startswith(root + os.sep)]
        frame = (inside or frames or [None])[-1]
        if frame is None:
            return ""
        file, line = frame.filename, frame.lineno
    if file.startswith(root + os.sep):
        file = file[len(root) + 1:]
    return f"{file}:{line}"


def _describe(exc: BaseException, job: dict) -> str:
    """Words for an exception escaping module code."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r}); a module must never exit the process"
    if isinstance(exc, MemoryError):
        return f"exceeded memory limit ({job['memory_mb']} MB)"
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ModuleNotFoundError) and exc.name and \
            exc.name.split(".")[0] == job["entry"]:
        text += " (inside the package use relative imports: from . import x)"
    return text


def _progress(job: dict, stage: str) -> None:
    with open(job["progress_path"], "w", encoding="utf-8") as fh:
        fh.write(stage)


def _import(job: dict, trap: _StdoutTrap) -> types.ModuleType | None:
    """Import the entry package under its unique name; report failures with file:line."""
    import importlib.util

    pkg_dir = os.path.join(job["bundle_dir"], job["entry"])
    where = f"import {job['entry']}"
    _progress(job, where)
    spec = importlib.util.spec_from_file_location(
        job["unique_name"], os.path.join(pkg_dir, "__init__.py"),
        submodule_search_locations=[pkg_dir])
    module = importlib.util.module_from_spec(spec)
    sys.modules[job["unique_name"]] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - SystemExit, MemoryError … are findings
        loc = _located(exc, job["bundle_dir"])
        prefix = "module " if isinstance(exc, SystemExit) else "import failed: "
        _err(f"{where}: {loc}" if loc else where, prefix + _describe(exc, job))
        module = None
    if trap.take():
        _err(where, "module writes to stdout at import; use logging")
        module = None
    return module


def _signature_ok(func, expected: tuple[str, ...]) -> bool:
    params = inspect.signature(func).parameters.values()
    return tuple(p.name for p in params) == expected and all(
        p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty
        for p in params)


def _check_hookimpls(module: types.ModuleType, job: dict) -> bool:
    """Every declared operation has exactly one (payload, context) hookimpl, and nothing else."""
    lifecycle = ("module_installed", "module_uninstalled", "module_health")
    declared = [op["name"] for op in job["operations"]]
    found: dict[str, list[str]] = {}
    before = len(_ANSWER["errors"])
    for attr in sorted(vars(module)):
        func = getattr(module, attr)
        opts = getattr(func, "govmarket_impl", None)
        if not inspect.isroutine(func) or not isinstance(opts, dict):
            continue
        hook = opts.get("specname") or attr
        _ANSWER["hookimpls"].append(hook)
        found.setdefault(hook, []).append(attr)
        if hook in declared:
            if not _signature_ok(func, ("payload", "context")):
                _err(f"operation {hook}", f"hookimpl {attr}{inspect.signature(func)} has the "
                     f"wrong signature; expected {hook}(payload, context)")
        elif hook in lifecycle:
            if not _signature_ok(func, ("context",)):
                _err(f"hookimpl {hook}", f"hookimpl {attr}{inspect.signature(func)} has the "
                     f"wrong signature; expected {hook}(context)")
        else:
            _err(f"hookimpl {hook}", f"hookimpl {hook} has no declared operation (declared: "
                 f"{', '.join(declared)}; lifecycle hooks: {', '.join(lifecycle)})")
    for name in declared:
        attrs = found.get(name, [])
        if not attrs:
            _err(f"operation {name}", f"no hookimpl: define @hookimpl def {name}(payload, "
                 f"context) in {job['entry']}/__init__.py")
        elif len(attrs) > 1:
            _err(f"operation {name}", f"{len(attrs)} hookimpls ({', '.join(attrs)}); "
                 "exactly one is allowed")
    for hook, attrs in found.items():
        if hook in lifecycle and len(attrs) > 1:
            _err(f"hookimpl {hook}", f"{len(attrs)} hookimpls ({', '.join(attrs)}); at most one")
    return len(_ANSWER["errors"]) == before


def _plugin_manager(module: types.ModuleType, job: dict):
    """A fresh PluginManager with the lifecycle specs and one spec per declared operation."""
    import pluggy

    from marketplace.hookspecs import ModuleLifecycleSpec
    from marketplace.sdk import hookspec

    def spec(name: str):
        def operation(payload, context):
            """Operation hook declared by the manifest."""
        operation.__name__ = operation.__qualname__ = name
        return hookspec(firstresult=True)(operation)

    pm = pluggy.PluginManager("govmarket")
    pm.add_hookspecs(ModuleLifecycleSpec)
    pm.add_hookspecs(type("OperationSpec", (), {op["name"]: spec(op["name"])
                                                for op in job["operations"]}))
    try:
        pm.register(module, name=job["unique_name"])
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        _err(f"import {job['entry']}", f"pluggy refused the module: {exc}")
        return None
    return pm


def _caller(job: dict):
    """``context.call`` of the check: answered from the required operations' own examples."""
    from marketplace.catalog import example_answers

    requires, answers = job.get("requires", []), job.get("answers", {})

    def call(target: str, operation: str, payload) -> dict:
        if example_answers.requirement_for(requires, target, operation) is None:
            raise example_answers.undeclared(job["module"], target, operation)
        where = f"{target}/{operation}"
        return example_answers.answer(answers.get(where, []), payload, where)
    return call


def _run_examples(pm, job: dict, trap: _StdoutTrap) -> None:
    """Call each operation on its (already schema-checked) example inputs; record the outputs."""
    from marketplace.sdk import Context, JurisdictionRef, ModuleError

    who = JurisdictionRef("000000", "checker")
    caller = _caller(job)
    for op in job["operations"]:
        hook = getattr(pm.hook, op["name"])
        for ex in op["examples"]:
            where = f"operation {op['name']}: example {ex['number']}"
            _progress(job, where)
            ctx = Context(jurisdiction=who, request_id=f"check-{op['name']}-{ex['number']}",
                          module=job["module"], version=job["version"], caller=caller)
            try:
                output = hook(payload=copy.deepcopy(ex["input"]), context=ctx)
            except ModuleError as exc:
                _err(where, f"raised ModuleError({exc.reason!r}): {exc.message}"
                     + (f" (at sub-call {exc.where})" if exc.where else ""))
                continue
            except BaseException as exc:  # noqa: BLE001 - a crash is a finding, not our crash
                loc = _located(exc, job["bundle_dir"])
                _err(where, f"raised {_describe(exc, job)}" + (f" at {loc}" if loc else ""))
                continue
            finally:
                if trap.take():
                    _ANSWER["warnings"].append({"where": where, "message": "operation writes "
                                                "to stdout; use logging"})
            try:        # what the gateway would refuse too: NaN/Infinity, lone surrogates
                json.dumps(output, ensure_ascii=False, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError, RecursionError) as exc:
                _err(f"{where} output", f"returned a value that is not JSON: {exc}")
                continue
            _ANSWER["results"].append({"operation": op["name"], "number": ex["number"],
                                       "output": output})


def _write(job: dict) -> None:
    tmp = job["result_path"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(_ANSWER, fh, ensure_ascii=False)
    os.replace(tmp, job["result_path"])


def _reach_job_folder(job: dict, folder: str) -> str:
    """The job folder as a path that still works once a private /tmp hides the host's: its
    descriptor's /proc/self/fd link. The job's paths inside it are rewritten to match."""
    via = f"/proc/self/fd/{os.open(folder, os.O_RDONLY | os.O_DIRECTORY)}"
    for key in ("bundle_dir", "result_path", "progress_path"):
        if job[key].startswith(folder + os.sep):
            job[key] = via + job[key][len(folder):]
    return via


def main(job_path: str) -> int:
    """Run one check job; the findings go to ``job["result_path"]``."""
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    _limit(job["memory_mb"], job["cpu_seconds"])
    _stub_marketplace()
    trap = _StdoutTrap()
    sys.stdout = trap
    import pluggy  # noqa: F401 - loaded before module code so its cost is not the module's

    import marketplace.catalog.example_answers  # noqa: F401 - before the folders are closed
    import marketplace.hookspecs  # noqa: F401 - loaded while the platform's folders are readable
    import marketplace.sdk  # noqa: F401
    from marketplace.confine import confine, isolate

    folder = _reach_job_folder(job, os.path.dirname(os.path.abspath(job_path)))
    work = folder + os.sep + os.path.basename(os.getcwd())
    if not isolate():                   # no private /tmp: TMPDIR is the folder the host deletes
        os.environ["TMPDIR"] = work
    confine(writable=(os.path.dirname(job["result_path"]), work), readable=(folder,))

    module = _import(job, trap)
    if module is not None and _check_hookimpls(module, job):
        pm = _plugin_manager(module, job)
        if pm is not None:
            _run_examples(pm, job, trap)
    _progress(job, "report")
    _write(job)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
