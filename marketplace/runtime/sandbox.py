"""A pool of long-lived sandbox processes that run module code outside the web worker.

Each web worker process gets its own pool (created lazily after gunicorn's fork,
checked by pid) of ``SANDBOX_PROCESSES`` children running ``_sandbox_worker.py``
with a bare environment (no platform secrets), an address-space cap of
``SANDBOX_MEMORY_MB``, no network and a private ``/tmp`` (:func:`marketplace.confine.isolate`;
``TMPDIR`` is a folder of its own, deleted when it is killed, where that can't be had)
and the confinement of :mod:`marketplace.confine` (as root, a uid of its own per
sandbox; never a new process or thread).
A call takes an idle sandbox, writes one length-prefixed JSON request carrying a
fresh random id and waits on the pipe with ``select`` up to the time limit. The
answer must be exactly one frame of strict JSON (:mod:`marketplace.jsonio`) of at most
``MAX_ANSWER`` bytes carrying that id, with nothing before the request or after it:
anything else means module code wrote on the pipe itself, so the sandbox is killed
and :class:`ModuleCrashed` raised (a caller never receives another call's answer).
Too late: the sandbox's whole process group is SIGKILLed, a fresh one started, and
:class:`ModuleTimeout` raised. A sandbox that dies mid-call (memory limit, ``os._exit``)
raises :class:`ModuleCrashed` and is replaced. Platform files: when running as root,
:func:`marketplace.confine.protect_platform_files` makes the instance folder 0700
and the secret key and SQLite files 0600 so sandboxes cannot read them.
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

from marketplace import jsonio
from marketplace.ops.metrics import sandbox_event
from marketplace.runtime.targets import (LIFECYCLE, SandboxHook, SandboxManager,  # noqa: F401
                                         context_dict)
from marketplace.sdk import ModuleError

WORKER = Path(__file__).with_name("_sandbox_worker.py")
HOOKSPECS = Path(__file__).resolve().parents[1] / "hookspecs.py"
SDK = Path(__file__).resolve().parents[1] / "sdk.py"
MAX_ANSWER = 32 << 20                   # bytes of an answer's JSON (the worker's limit too)
PIPE_BYTES = 1 << 20                    # pipe buffers (Linux's default unprivileged maximum)
_F_SETPIPE_SZ = 1031
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


MAX_SUBCALLS = 64                       # context.call frames one call may send
SubCall = Callable[[str, str, Any, float], Any]


class ModuleTimeout(Exception):
    """The module did not answer within the time limit."""


class ModuleBusy(ModuleTimeout):
    """Too many calls of this installation are running (or no sandbox is free); not called."""


class ModuleCrashed(Exception):
    """The sandbox running the module died during the call (memory limit, exit, crash)."""


class ModuleFailed(Exception):
    """Module code raised; ``kind`` is the exception's type name inside the sandbox."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def standin_package(root: Path) -> Path:
    """A PYTHONPATH folder whose ``marketplace`` package holds only ``sdk.py``."""
    pkg = root / "sdk" / "marketplace"
    if not (pkg / "sdk.py").exists():
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text('"""Stand-in: modules may import only marketplace.sdk."""\n')
        shutil.copyfile(SDK, pkg / "sdk.py")
        for path in (root, root / "sdk", pkg):
            path.chmod(0o755)
    return root / "sdk"


class Sandbox:
    """One child process and its two pipe ends; ``owner``: the one version it may run.

    A sandbox runs one module version (bundle sha256) for its whole life: module
    code shares the process with whatever else runs there, so two modules in one
    process could patch each other (or pluggy) and read or change each other's
    calls. A sandbox wanted for another version is killed and replaced.
    """

    def __init__(self, root: Path, memory_mb: int) -> None:
        self.tmp = tempfile.mkdtemp(prefix="tmp-", dir=root)    # TMPDIR where no tmpfs /tmp
        env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8",
               "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(standin_package(root)),
               "TMPDIR": self.tmp}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-B", str(WORKER), str(HOOKSPECS), str(memory_mb)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=root,
                start_new_session=True, bufsize=0)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self.wfd, self.rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        sandbox_event("start")
        for fd in (self.wfd, self.rfd):         # fewer, larger reads for large answers
            try:
                fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)
            except OSError:
                pass
        self.owner: str | None = None
        self.ready = False                      # its version is imported: no bundle to send
        self.ended = False                      # it exited after its last answer

    def call(self, request: dict, timeout: float, subcall: SubCall | None = None) -> dict:
        """Send one request and wait at most ``timeout`` seconds for its answer (same id).

        Call frames the module sends meanwhile (``context.call``) are answered with
        ``subcall(target, operation, payload, deadline)`` within the same deadline.
        """
        if self.wfd < 0:
            raise ModuleCrashed("no sandbox process could be started")
        ident = request["id"] = os.urandom(8).hex()
        if _readable(self.rfd, 0):              # written by module code between calls (or EOF)
            self._check(len(os.read(self.rfd, 1)))
            raise ModuleCrashed("the sandbox broke the answer protocol (bytes before the request)")
        self._send(_dumps(request).encode())
        deadline = time.monotonic() + timeout
        calls = 0
        while True:
            answer = self._answer(ident, deadline, timeout)
            if "call" not in answer:
                return answer
            calls += 1
            reply = _sub_answer(subcall, answer["call"], deadline, calls)
            self._send(_dumps({"id": ident, "answer": reply}).encode())

    def _send(self, data: bytes) -> None:
        """One frame to the sandbox."""
        try:
            view = memoryview(len(data).to_bytes(4, "big") + data)
            while view:
                view = view[os.write(self.wfd, view):]
        except OSError:
            raise ModuleCrashed("the sandbox process is gone") from None

    def _answer(self, ident: str, deadline: float, timeout: float) -> dict:
        """The next frame from the sandbox: an answer (or call) carrying ``ident``."""
        body = self._receive(deadline, timeout)
        try:
            answer = jsonio.loads(body, "the module's answer")
        except jsonio.JSONRefused as exc:
            raise ModuleCrashed(exc.message) from None
        if not isinstance(answer, dict) or answer.get("id") != ident:
            raise ModuleCrashed("the sandbox broke the answer protocol (an answer that is not "
                                "the one to this request)")
        return answer

    def _receive(self, deadline: float, timeout: float) -> bytes | bytearray:
        """The body of one answer frame; the whole answer and nothing after it."""
        first = self._read(1 << 16, deadline, timeout)
        while len(first) < 4:
            first += self._read(4 - len(first), deadline, timeout)
        size = int.from_bytes(first[:4], "big")
        if size > MAX_ANSWER:
            raise ModuleCrashed(f"the module's answer is larger than {MAX_ANSWER >> 20} MB")
        body: bytes | bytearray = first[4:]
        if len(body) < size:        # the rest straight into place: no quadratic ``buf += chunk``
            buf = bytearray(size)
            buf[:len(body)] = body
            view, got = memoryview(buf), len(body)
            while got < size:
                self._wait(deadline, timeout)
                got += self._check(os.readv(self.rfd, [view[got:]]))
            body = buf
        if len(body) > size or _readable(self.rfd, 0) and self._stray():
            raise ModuleCrashed("the sandbox broke the answer protocol (bytes after the answer)")
        return body

    def _stray(self) -> bool:
        """Whether readable means bytes (else it ended after answering: replace it)."""
        if os.read(self.rfd, 1):
            return True
        self.ended = True
        return False

    def _wait(self, deadline: float, timeout: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0 or not _readable(self.rfd, left):
            raise ModuleTimeout(f"no answer within {timeout:g} s")

    def _read(self, size: int, deadline: float, timeout: float) -> bytes:
        self._wait(deadline, timeout)
        chunk = os.read(self.rfd, size)
        self._check(len(chunk))
        return chunk

    def _check(self, count: int) -> int:
        if not count:
            raise ModuleCrashed(self._death())
        return count

    def _death(self) -> str:
        """Words for how the sandbox ended."""
        try:
            rc = self.proc.wait(1)
        except subprocess.TimeoutExpired:
            return "the sandbox closed its pipe"
        if rc < 0:
            name = signal.Signals(-rc).name
            return f"the sandbox was killed by {name} (memory limit or crash)"
        return f"the module ended its sandbox process (exit status {rc})"

    def kill(self) -> None:
        """SIGKILL the sandbox and anything it started; reap it. Its descriptors are
        forgotten (their numbers will be reused), so a dead sandbox is never written to."""
        if self.proc.returncode is None:        # not reaped: its process group is still its own
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
                sandbox_event("kill")
            except (ProcessLookupError, PermissionError):
                pass
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self.proc.wait()
        self.wfd = self.rfd = -1
        shutil.rmtree(self.tmp, ignore_errors=True)


class SandboxPool:
    """Sandboxes of one web worker process, handed out one call at a time."""

    def __init__(self, root: Path, processes: int, memory_mb: int) -> None:
        self.root, self.size, self.memory_mb = root, max(1, processes), memory_mb
        self.pid = os.getpid()
        self.per_installation = max(1, self.size - 1)
        self._idle = deque(Sandbox(root, memory_mb) for _ in range(self.size))
        self._ready = threading.Condition()
        self._live = self.size                  # sandboxes in the pool, extras included
        self._parked = 0                        # busy sandboxes whose call waits on a sub-call
        self._local = threading.local()         # this thread's calls waiting on a sub-call

    def park(self) -> None:
        """This thread's call waits on its sub-call (a composite's ``context.call``)."""
        with self._ready:
            self._parked += 1
            self._local.depth = getattr(self._local, "depth", 0) + 1
            self._ready.notify_all()

    def unpark(self) -> None:
        """The sub-call this thread's call waited on has ended."""
        with self._ready:
            self._parked -= 1
            self._local.depth -= 1

    def _acquire(self, sha256: str, timeout: float) -> Sandbox:
        """An idle sandbox of this version (the warmest), else a fresh one, else the coldest
        sandbox of another version, killed and replaced (never two versions in a process).

        A sub-call finding every busy sandbox held by a call waiting on a sub-call
        (composites filling the pool) gets one sandbox more, kept while calls still wait
        on sub-calls and ended after: nested calls always progress, never wait for each
        other until their deadline.
        """
        nested = getattr(self._local, "depth", 0) > 0
        with self._ready:
            if not self._ready.wait_for(lambda: self._idle or nested and self._parked >= self._live,
                                        timeout):
                raise ModuleBusy(f"all {self.size} sandboxes are busy")
            if not self._idle:
                self._live += 1
                return self._extra(sha256)
            idle = self._idle
            found = next((i for i in range(len(idle) - 1, -1, -1) if idle[i].owner == sha256),
                         None)
            if found is None:
                found = next((i for i in range(len(idle) - 1, -1, -1) if idle[i].owner is None), 0)
            box = idle[found]
            del idle[found]
        if box.owner not in (None, sha256):
            box.kill()
            box = self._fresh(box)
        box.owner = sha256
        return box

    def _extra(self, sha256: str) -> Sandbox:
        """One sandbox beyond the pool's size (called holding the lock: nested calls are rare)."""
        try:
            box = Sandbox(self.root, self.memory_mb)
        except BaseException:
            self._live -= 1
            raise
        box.owner = sha256
        return box

    def _release(self, box: Sandbox) -> None:
        """Back to the idle ones; beyond the pool's size only while calls still wait on sub-calls.

        Under composite load every busy sandbox may be held by a call waiting on its
        steps, so the steps run on extras: kept warm while any call is parked (killing
        each one would cold-start a sandbox per step), and ended once none waits.
        """
        with self._ready:
            if self._live <= self.size or self._parked:
                self._idle.append(box)
                self._ready.notify()
                return
            ended = [box]                       # an extra: the pool shrinks back to its size,
            while self._idle and self._live - len(ended) > self.size:
                ended.append(self._idle.popleft())     # idle extras too, the coldest first
            self._live -= len(ended)
        for old in ended:
            old.kill()

    def call(self, target: Any, hook: str, payload: Any, context: dict, timeout: float,
             lifecycle: bool = False, subcall: SubCall | None = None) -> Any:
        """Run ``hook`` of ``target`` (sha256, entry, bundle_dir, operations) in a sandbox."""
        started = time.monotonic()
        box = self._acquire(target.sha256, timeout)
        try:
            request = {"sha256": target.sha256, "hook": hook, "context": context}
            if not lifecycle:
                request["payload"] = payload
            if not box.ready:
                request.update(entry=target.entry, bundle_dir=target.bundle_dir,
                               operations=target.operations)
            answer = box.call(request, timeout - (time.monotonic() - started), subcall)
            if "ok" in answer or "module_error" in answer:
                box.ready = True                # it imported the version
            if answer.get("recycle") or box.ended:      # it exits after MemoryError/SystemExit
                box.kill()
                box = self._fresh(box)
        except BaseException:
            box.kill()                          # late or dead: its call may still be running
            box = self._fresh(box)
            raise
        finally:
            self._release(box)
        return _result(answer)

    def _fresh(self, old: Sandbox) -> Sandbox:
        """A new sandbox in place of a killed one (the old, dead one if none can start)."""
        try:
            return Sandbox(self.root, self.memory_mb)
        except OSError:
            return old                          # its next call fails fast and retries

    def close(self) -> None:
        """Stop every idle sandbox (busy ones end when their caller releases them)."""
        with self._ready:
            while self._idle:
                self._idle.pop().kill()


def _readable(fd: int, wait: float) -> bool:
    """Whether ``fd`` has bytes (or EOF) to read within ``wait`` seconds."""
    return bool(select.select((fd,), (), (), wait)[0])


def _sub_answer(subcall: SubCall | None, call: Any, deadline: float, calls: int) -> dict:
    """The host's answer frame to a ``context.call`` frame: the output or a module error.

    Only ``target``, ``operation`` and ``payload`` are read from the frame: who
    calls, under which installation, is the host's to know, never the sandbox's.
    """
    if not isinstance(call, dict) or not isinstance(call.get("target"), str) or not isinstance(
            call.get("operation"), str) or "payload" not in call:
        return {"module_error": "invalid_call", "message": "context.call(target, operation, "
                "payload) needs two strings and a payload"}
    if subcall is None:
        return {"module_error": "calls_unavailable", "message": "sub-calls are made only while "
                "serving an operation call"}
    if calls > MAX_SUBCALLS:
        return {"module_error": "too_many_calls", "message": f"one call may make at most "
                f"{MAX_SUBCALLS} sub-calls"}
    try:
        return {"ok": subcall(call["target"], call["operation"], call["payload"], deadline)}
    except ModuleError as exc:
        return {"module_error": exc.reason, "message": exc.message, "where": exc.where}


def _result(answer: dict) -> Any:
    """The output of an answer, or the matching exception."""
    if "ok" in answer:
        return answer["ok"]
    if "module_error" in answer:
        raise ModuleError(answer["module_error"], answer["message"], answer.get("where") or "")
    if answer["error"] == "MemoryError":
        raise ModuleCrashed(answer["message"])
    raise ModuleFailed(answer["error"], answer["message"])
