"""Confinement of a process about to run module code (the sandbox and the publish checker).

Standard library only: both worker scripts load this file by path before any
module code runs, and neither may import the platform. :func:`confine` is the
last step before the module's code:

* **Its own user.** Started as root, the process becomes uid and gid
  ``UID_BASE + pid``, with no supplementary groups. Each sandbox therefore has
  a user of its own: it cannot signal, trace or read the files of another
  tenant's sandbox, nor the platform's (0600/0700, see
  :func:`protect_platform_files`). In a user namespace that does not map those
  ids (a rootless container, say) it becomes ``nobody`` instead. Not started as
  root, it keeps the platform's user (a development setup); the two points
  below still hold.
* **No new processes or threads** (``RLIMIT_NPROC`` 0). A fork bomb fails at its
  first fork, and nothing can outlive the sandbox's SIGKILL by leaving its
  process group with ``setsid``.
* **Not dumpable** (``PR_SET_DUMPABLE`` 0). Processes of the same user cannot
  ptrace it or read its ``/proc/PID/mem`` or ``environ``.

:func:`isolate` comes before it (it needs the privileges :func:`confine` drops):
a network namespace of its own (only a loopback device, down: no address at all
is reachable, the platform's loopback ports included) and a mount namespace with
a private tmpfs on ``/tmp`` of ``TMP_MB`` (``TMPDIR`` points there; ``/var/tmp``
and ``/dev/shm`` are the same folder), gone with the process, and an empty
read-only ``/run`` (no local service's socket). As root directly; otherwise
inside an unprivileged user namespace where the kernel allows one. Where neither
is allowed it says so on stderr and the process keeps the host's network;
``TMPDIR`` then stays the private folder the host made (and deletes), though
``/tmp`` itself remains writable.
"""
from __future__ import annotations

import ctypes
import os
import re
import resource
import sys
from pathlib import Path

UID_BASE = 2_000_000_000            # above any real account; pid ≤ 4,194,304 keeps it < 2**31
TMP_MB = 64                         # the private /tmp (memory): the file size limit is 64 MB too
_PR_SET_DUMPABLE = 4
_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWNET = 0x20000, 0x10000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 4096, 1 << 14, 1 << 18


def sandbox_uid(pid: int) -> int:
    """The uid (and gid) a confined process with this pid runs as, when started as root."""
    return UID_BASE + pid


def _mapped(ident: int, id_map: str) -> bool:
    """Whether ``ident`` exists in this user namespace (``/proc/self/uid_map`` lines)."""
    try:
        with open(id_map, encoding="ascii") as fh:
            ranges = [tuple(int(x) for x in line.split()) for line in fh if line.strip()]
    except OSError:
        return True                                 # no user namespaces here: every id exists
    return any(first <= ident < first + count for first, _outside, count in ranges)


def confined_uid(pid: int) -> int:
    """The uid (= gid) the confined process ``pid`` runs as (what the platform expects)."""
    if os.getuid() != 0:
        return os.getuid()
    uid = sandbox_uid(pid)
    if _mapped(uid, "/proc/self/uid_map") and _mapped(uid, "/proc/self/gid_map"):
        return uid
    import pwd

    return pwd.getpwnam("nobody").pw_uid


def confine(writable: tuple[str, ...] = (), readable: tuple[str, ...] = ()) -> None:
    """Confine this process. First, as root: ``writable`` folders (recursively) become its
    own; ``readable`` folders (0700 and the platform's) open to its group alone (0750)."""
    if os.getuid() == 0:
        uid = confined_uid(os.getpid())
        if uid != sandbox_uid(os.getpid()):
            print(f"confine: uid {sandbox_uid(os.getpid())} is not mapped in this user namespace; "
                  "running as nobody, which other confined processes share", file=sys.stderr)
        for folder in writable:
            _chown_tree(folder, uid)
        for folder in readable:
            os.chown(folder, -1, uid)
            os.chmod(folder, 0o750)
        _keep_import_paths()
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        os.environ["HOME"] = "/nonexistent"
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def isolate(tmp_mb: int = TMP_MB) -> bool:
    """Own network and mount namespaces with a private tmpfs ``/tmp`` (True); False when no
    private ``/tmp`` could be made. Once per process, before :func:`confine`."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    user_ns = False
    if libc.unshare(_CLONE_NEWNET | _CLONE_NEWNS) != 0:
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWNS) != 0:
            print("isolate: no network or mount namespace allowed here (not root, no user "
                  "namespaces): module code keeps the host's network and /tmp", file=sys.stderr)
            return False
        user_ns = True                              # the same ids, mapped onto themselves
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w", encoding="ascii") as fh:
                fh.write(text)
    try:        # private first: a shared / would carry the tmpfs into the host's /tmp
        _mount(libc, b"none", b"/", None, _MS_REC | _MS_PRIVATE, None)
        _mount(libc, b"tmpfs", b"/tmp", b"tmpfs", _MS_NOSUID | _MS_NODEV,
               f"size={tmp_mb}m,mode=1777".encode())
        for shared in (b"/var/tmp", b"/dev/shm"):   # the other folders anyone may write in
            if os.path.isdir(shared):
                _mount(libc, b"/tmp", shared, None, _MS_BIND, None)
        if os.path.isdir("/run"):       # sockets of local services (files: no namespace hides
            _mount(libc, b"tmpfs", b"/run", b"tmpfs",       # them), /run/lock anyone may write
                   _MS_RDONLY | _MS_NOSUID | _MS_NODEV, b"size=4k,mode=755")
    except OSError as exc:                          # (an LSM may forbid mounts): network only
        print(f"isolate: no private /tmp ({exc}); TMPDIR stays the host's folder",
              file=sys.stderr)
        return False
    finally:
        if user_ns:
            _drop_capabilities(libc)                # could otherwise unmount the private /tmp
    os.environ["TMPDIR"] = "/tmp"
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None
    return True


def _mount(libc: ctypes.CDLL, source: bytes, target: bytes, kind: bytes | None, flags: int,
           data: bytes | None) -> None:
    if libc.mount(source, target, kind, flags, data) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target.decode()}: {os.strerror(errno)}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    """Give up every capability (those a new user namespace grants inside it)."""
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()     # _LINUX_CAPABILITY_VERSION_3
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _chown_tree(folder: str, uid: int) -> None:
    os.chown(folder, uid, uid)
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            os.chown(os.path.join(top, name), uid, uid, follow_symlinks=False)


def _keep_import_paths() -> None:
    """Reach the interpreter's own import paths once root's folders are closed to us.

    The interpreter may live where other users can't pass (``/root/.pyenv``). A
    folder descriptor opened now, as root, stays usable: ``/proc/self/fd/N`` needs
    no search permission on the folders above it.
    """
    base = sys.base_prefix
    own = [p for p in sys.path if os.path.isabs(p) and p.startswith(base + os.sep)]
    if own:
        via = f"/proc/self/fd/{os.open(base, os.O_RDONLY | os.O_DIRECTORY)}"
        sys.path[:] = [via + p[len(base):] if p in own else p for p in sys.path]
        sys.path_importer_cache.clear()


def protect_platform_files(instance_path: str | None, database_url: str) -> None:
    """Make the instance folder 0700 and secret key / SQLite files 0600 (root only).

    Run by the platform (not the confined process): at app start and again when a
    web worker starts its sandboxes (the SQLite file may be newer than the app).
    """
    if os.getuid() != 0:
        return
    paths: list[tuple[Path, int]] = []
    if instance_path and os.path.isdir(instance_path):
        paths += [(Path(instance_path), 0o700), (Path(instance_path) / "secret_key", 0o600)]
    sqlite = re.match(r"sqlite(\+\w+)?:///([^?]+)", database_url)     # any driver, no query
    if sqlite and sqlite.group(2) != ":memory:":
        db_file = Path(sqlite.group(2))
        paths += [(db_file.with_name(db_file.name + s), 0o600) for s in ("", "-wal", "-shm")]
    for path, mode in paths:
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(mode)
        except OSError:
            pass
