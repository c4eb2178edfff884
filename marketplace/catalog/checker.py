"""Publish-time check of a module's code (DESIGN §3 check 3) and interface comparison (check 5).

The entry package is never imported here: :func:`check_module` runs it in a
child process (``_check_worker.py``) with memory, CPU and wall-clock limits,
then judges the outputs it reports against the manifest's schemas and examples.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marketplace import confine, jsonio, schemas
from marketplace.catalog.bundle import (Bundle, BundleError, extract_to, folder_files, parse_toml,
                                        read_bundle)
from marketplace.catalog.manifest import Manifest, load_manifest, schema_path, validate_manifest
from marketplace.catalog.slots import SLOTS

WORKER = Path(__file__).with_name("_check_worker.py")
_TAIL = 2000
MAX_REPORT = 32 << 20          # bytes of findings the host reads at most


@dataclass
class CheckReport:
    """What the module check found: located errors (refusals), warnings, and how long it took."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    examples_run: int = 0
    hookimpls: list[str] = field(default_factory=list)
    duration: float = 0.0
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """True when the module passed every check."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise the errors as one BundleError (reason ``invalid_bundle``), if any."""
        if self.errors:
            raise BundleError(self.errors)


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _difference(expected: Any, actual: Any, contains: bool, path: tuple = ()) -> str | None:
    """The first place ``actual`` breaks ``expected`` (exact, or recursive subset) or None."""
    at = schema_path(path) or "(root)"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected:
            if key not in actual:
                return f"{schema_path(path + (key,))}: missing (expected {_json(expected[key])})"
            if (found := _difference(expected[key], actual[key], contains, path + (key,))):
                return found
        extra = sorted(set(actual) - set(expected))
        if extra and not contains:
            return f"{schema_path(path + (extra[0],))}: unexpected key"
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return next((d for i, (e, a) in enumerate(zip(expected, actual))
                     if (d := _difference(e, a, contains, path + (i,)))), None)
    same = expected == actual and isinstance(expected, bool) == isinstance(actual, bool)
    return None if same else f"{at}: expected {_json(expected)}, got {_json(actual)}"


def _schema_errors(validator: Any, value: Any, what: str) -> list[str]:
    return [f"does not match the {what} schema at {schema_path(e.absolute_path) or '(root)'}: "
            f"{e.message}" for e in schemas.errors(validator, value)[:5]]


def _job(manifest: Manifest, root: Path, tmp: Path, memory_mb: int, timeout: float,
         report: CheckReport) -> dict[str, Any]:
    """The worker's job; example inputs that break their schema are reported, not run."""
    operations = []
    for op in manifest.operations:
        validator = schemas.validator(op.input_schema, op.schema_links.get("input"))
        runnable = []
        for number, ex in enumerate(op.examples, start=1):
            problems = _schema_errors(validator, ex.input, "input")
            for message in problems:
                report.errors.append({"where": f"operation {op.name}: example {number} input",
                                      "message": message})
            if not problems:
                runnable.append({"number": number, "input": ex.input})
        operations.append({"name": op.name, "examples": runnable})
    return {"bundle_dir": str(root), "entry": manifest.entry, "module": manifest.name,
            "version": manifest.version, "operations": operations,
            "unique_name": f"_govcheck_{manifest.entry}_{uuid.uuid4().hex[:12]}",
            "memory_mb": memory_mb, "cpu_seconds": math.ceil(timeout) + 1,
            "result_path": str(tmp / "out" / "result.json"),
            "progress_path": str(tmp / "out" / "progress")}


def _environment() -> dict[str, str]:
    """A bare environment: module code must not see the platform's secrets."""
    paths = [str(Path(__file__).resolve().parents[2])]
    paths += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8", "PYTHONPATH": os.pathsep.join(paths)}


@dataclass
class _Run:
    """How the worker ended and what it left: its report files are read defensively."""

    rc: int | None
    stdout: str
    stderr: str
    progress: str | None
    result: str | None


def _run_worker(job: dict[str, Any], tmp: Path, timeout: float) -> _Run:
    """Run the worker in its own process group; kill the whole group when done or late.

    The worker (confined: :mod:`marketplace.confine`) may write only in ``out/`` and
    its working folder; the bundle, the job and the logs stay the platform's.
    """
    job_path = tmp / "job.json"
    job_path.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    work = tmp / "cwd"
    for folder in (work, tmp / "out"):
        folder.mkdir(mode=0o700)      # the worker opens the job folder to its own group alone
    with open(tmp / "stdout.log", "wb") as out, open(tmp / "stderr.log", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-P", "-B", str(WORKER), str(job_path)],
                                cwd=work, env=_environment(), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)
        try:
            rc: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            try:                      # also reaps anything the module left running
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    owner = confine.confined_uid(proc.pid)
    return _Run(rc, _tail(tmp / "stdout.log"), _tail(tmp / "stderr.log"),
                _worker_file(Path(job["progress_path"]), owner, 200),
                _worker_file(Path(job["result_path"]), owner, MAX_REPORT))


def _worker_file(path: Path, owner: int, limit: int) -> str | None:
    """Text the worker wrote at ``path``, or None.

    The folder is module code's to write in, so this is never a link, a FIFO or a
    device, never another user's file (a hard link) and never more than ``limit`` bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or found.st_uid != owner or found.st_size > limit:
            return None
        return fh.read(limit + 1)[:limit].decode("utf-8", "replace")


_LOCATED = {"type": "array", "items": {"type": "object", "required": ["where", "message"],
                                        "properties": {"where": {"type": "string"},
                                                       "message": {"type": "string"}}}}
REPORT = schemas.validator({"type": "object", "properties": {
    "errors": _LOCATED, "warnings": _LOCATED,
    "hookimpls": {"type": "array", "items": {"type": "string"}},
    "results": {"type": "array", "items": {"type": "object", "required": [
        "operation", "number", "output"], "properties": {"operation": {"type": "string"},
                                                          "number": {"type": "integer",
                                                                     "minimum": 1}}}}}})


def _report(text: str, manifest: Manifest) -> dict[str, Any]:
    """The worker's findings; one that is not a report of this module's examples counts as
    damaged (module code runs in the worker's process and could write over it)."""
    try:
        answer = jsonio.loads(text, "the check's report")
    except jsonio.JSONRefused:
        answer = None
    examples = {op.name: len(op.examples) for op in manifest.operations}
    if answer is None or not REPORT.is_valid(answer) or any(
            item["number"] > examples.get(item["operation"], 0)
            for item in answer.get("results", [])):
        return {"errors": [{"where": "report", "message": "the check's report was damaged "
                            "(did module code write over it?)"}]}
    return answer


def _remove(folder: Path) -> None:
    """Delete a job folder, however deep module code nested folders in it."""
    try:
        shutil.rmtree(folder, ignore_errors=True)
    except RecursionError:
        subprocess.run(["rm", "-rf", "--", str(folder)], check=False)


def _tail(path: Path) -> str:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - _TAIL))
        return fh.read().decode("utf-8", "replace")


def _process_problem(run: _Run, timeout: float, memory_mb: int) -> dict[str, str] | None:
    """A located error when the worker timed out, was killed or died without a report."""
    rc, stage = run.rc, run.progress or "start"
    if rc is None or rc == -signal.SIGXCPU:
        return {"where": stage, "message": f"timed out after {timeout:g}s"}
    if rc < 0:
        name = signal.Signals(-rc).name
        if -rc == signal.SIGXFSZ:
            return {"where": stage, "message": "wrote a file larger than the 64 MB limit"}
        return {"where": stage, "message": f"killed by {name}: exceeded memory limit "
                f"({memory_mb} MB) or crashed"}
    if run.result is None:
        last = run.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"where": stage, "message": f"worker exited with status {rc} without a report "
                f"(os._exit or a crash in module code?): {last[0]}"}
    return None


def _judge(manifest: Manifest, answer: dict[str, Any], report: CheckReport) -> None:
    """Check each reported output against its operation's schema and expected output."""
    for item in answer.get("results", []):
        op = manifest.operation(item["operation"])
        example = op.examples[item["number"] - 1]
        where = f"operation {op.name}: example {item['number']} output"
        report.examples_run += 1
        problems = _schema_errors(schemas.validator(op.output_schema,
                                                    op.schema_links.get("output")),
                                  item["output"], "output")
        if not problems:
            diff = _difference(example.expected, item["output"], example.match == "contains")
            if diff:
                word = "does not contain output_contains" if example.match == "contains" \
                    else "differs from output"
                problems = [f"{word} at {diff}"]
        report.errors += [{"where": where, "message": m} for m in problems]


def check_module(source: bytes | Bundle | str | os.PathLike[str], manifest: Manifest | None = None,
                 *, timeout: float = 10, memory_mb: int = 512, slots: int = 1,
                 slot_wait: float = 3.0, subcalls: dict[str, Any] | None = None) -> CheckReport:
    """Load the module in a separate, limited process and check its hookimpls and examples.

    ``source`` is bundle bytes, a :class:`Bundle` or an already extracted bundle folder;
    ``manifest`` defaults to the one inside it. Archive/manifest problems raise
    BundleError; code problems are returned as ``CheckReport.errors``. At most ``slots``
    checks run in this process at once: PublishBusy when none frees within ``slot_wait`` s.
    A composite's sub-calls are answered from ``subcalls`` (what
    :func:`marketplace.catalog.requires.check_requires` gives: the targets' examples).
    """
    with SLOTS.hold(slots, slot_wait, math.ceil(timeout)):
        return _check_module(source, manifest, timeout=timeout, memory_mb=memory_mb,
                             subcalls=subcalls)


def check_folder_prefix() -> str:
    """The name prefix of this process's check folders in the temp folder (the pid tells whose)."""
    return f"govcheck-{os.getpid()}-"


def _check_module(source: bytes | Bundle | str | os.PathLike[str], manifest: Manifest | None,
                  *, timeout: float, memory_mb: int,
                  subcalls: dict[str, Any] | None = None) -> CheckReport:
    """:func:`check_module` once it holds a slot."""
    started = time.monotonic()
    report = CheckReport()
    tmp = Path(tempfile.mkdtemp(prefix=check_folder_prefix()))
    try:
        if isinstance(source, (bytes, bytearray)):
            source = read_bundle(bytes(source))
        if isinstance(source, Bundle):
            manifest = manifest or load_manifest(source)
            root = extract_to(source, tmp / "bundle")
        else:
            source = Path(source).resolve()
            files = folder_files(source)
            if manifest is None:
                text = (source / "manifest.toml").read_text("utf-8-sig")
                manifest = validate_manifest(parse_toml(text), files)
            root = extract_to(files, tmp / "bundle")   # a copy: the confined worker can't
                                                        # read just anywhere
        job = _job(manifest, root, tmp, memory_mb, timeout, report)
        job["requires"] = (subcalls or {}).get("requires", [])
        job["answers"] = (subcalls or {}).get("answers", {})
        run = _run_worker(job, tmp, timeout)
        stdout, report.stderr = run.stdout, run.stderr
        failure = _process_problem(run, timeout, memory_mb)
        answer = {} if failure else _report(run.result, manifest)
    finally:
        _remove(tmp)
    report.errors += answer.get("errors", []) + ([failure] if failure else [])
    report.warnings += answer.get("warnings", [])
    report.hookimpls = answer.get("hookimpls", [])
    if stdout and not any("stdout" in e["message"] for e in report.errors):
        report.errors.append({"where": f"import {manifest.entry}",
                              "message": "module writes to stdout at import; use logging"})
    _judge(manifest, answer, report)
    report.duration = time.monotonic() - started
    return report


def implements_signature(manifest: Manifest) -> str:
    """Canonical JSON of the interface: operation names with input/output schemas (and the
    bundle files their refs reach, which are part of them), sorted."""
    ops = sorted(({"name": op.name, "input": op.input_schema, "output": op.output_schema,
                   **({"links": op.schema_links} if getattr(op, "schema_links", None) else {})}
                  for op in manifest.operations), key=lambda op: op["name"])
    return json.dumps({"operations": ops}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def _paths(a: Any, b: Any, path: tuple = ()) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for key in sorted(set(a) | set(b), key=str) for p in (
            [schema_path(path + (key,))] if (key in a) != (key in b)
            else _paths(a[key], b[key], path + (key,)))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in _paths(x, y, path + (i,))]
    return [] if a == b and type(a) is type(b) else [schema_path(path) or "(root)"]


def compare_interfaces(a_sig: str, b_sig: str) -> list[str]:
    """Differences of candidate ``b_sig`` from interface ``a_sig``, in words ([] = identical)."""
    a = {op["name"]: op for op in json.loads(a_sig)["operations"]}
    b = {op["name"]: op for op in json.loads(b_sig)["operations"]}
    out = [f"operation {n}: missing (the interface declares it)" for n in sorted(set(a) - set(b))]
    out += [f"operation {n}: not part of the interface" for n in sorted(set(b) - set(a))]
    for name in sorted(set(a) & set(b)):
        for part in ("input", "output"):
            out += [f"operation {name}: {part} schema differs at {p}"
                    for p in _paths(a[name][part], b[name][part])]
        out += [f"operation {name}: schema files its $refs reach differ at {p}"
                for p in _paths(a[name].get("links", {}), b[name].get("links", {}))]
    return out
