"""Backup and restore (DESIGN §16): the database, the bundles, and a manifest of sha256 sums.

``backup`` is consistent while serving: the database is copied first as one
snapshot (SQLite's online backup API, ``pg_dump``), then every bundle (bundles
are content-addressed, written before the version that names them and never
deleted, so every bundle the snapshot names is there). ``restore`` checks every
sum, creates the schema in an absent or empty database from the snapshot and
puts every bundle into the configured store, verified.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from marketplace.catalog.stores import Store, verified
from marketplace.clock import now
from marketplace.errors import MarketplaceError

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"


class BackupError(MarketplaceError):
    """A backup or restore refused (what to fix in the message)."""


def _sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: the newest server's own, else the one on PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                         else 0, reverse=True):
        if (Path(folder) / name).exists():
            return str(Path(folder) / name)
    found = shutil.which(name)
    if not found:
        raise BackupError("pg_tools_missing", f"{name} is not installed: install the PostgreSQL "
                          "client (Debian: postgresql-client)")
    return found


def _libpq(url: str) -> tuple[str, dict]:
    """A libpq URI (without password) and the environment carrying the password."""
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _empty_folder(folder: Path) -> None:
    """Create ``folder``, refusing one that holds anything."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError("backup_folder_not_empty", f"{folder} is not an empty folder: back up "
                          "into a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)


def backup(url: str, store: Store, folder: Path) -> dict:
    """Write the database snapshot, the bundles and the manifest into ``folder``."""
    folder = Path(folder)
    _empty_folder(folder)
    started = now()
    dialect = make_url(url).get_backend_name()
    if dialect == "sqlite":
        name = SQLITE_FILE
        source = sqlite3.connect(make_url(url).database or "")
        target = sqlite3.connect(folder / name)
        try:
            source.execute("PRAGMA busy_timeout=30000")
            source.backup(target)            # one consistent snapshot, writers keep going
        finally:
            target.close()
            source.close()
    elif dialect == "postgresql":
        name = PG_FILE
        uri, env = _libpq(url)
        run = subprocess.run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl",
                              "--file", str(folder / name), uri],
                             env=env, capture_output=True, text=True)
        if run.returncode:
            raise BackupError("backup_failed", f"pg_dump failed: {run.stderr.strip()[:300]}")
    else:
        raise BackupError("unsupported_database", f"cannot back up a {dialect} database")
    artifacts = {}
    for sha in store.digests():
        data = store.get(sha)                # verified: a corrupt bundle fails the backup
        path = folder / "artifacts" / sha[:2] / f"{sha}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        artifacts[sha] = len(data)
    manifest = {"format": FORMAT, "created_at": started.isoformat(), "dialect": dialect,
                "database": {"file": name, "sha256": _sha256(folder / name)},
                "artifacts": artifacts}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), "utf-8")
    return manifest


def read_manifest(folder: Path) -> dict:
    """The manifest, with the database file's sum checked."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError("backup_unreadable", f"{folder} holds no readable {MANIFEST}: "
                          f"{exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("backup_unreadable", f"{folder}/{MANIFEST} is not a backup manifest "
                          f"of format {FORMAT}")
    database = folder / manifest["database"]["file"]
    if not database.is_file() or _sha256(database) != manifest["database"]["sha256"]:
        raise BackupError("backup_corrupt", f"{database} is missing or fails its sha256 sum "
                          "in the manifest")
    return manifest


def _tables(url: str) -> list[str]:
    """The tables of the database at ``url`` (none when absent or empty)."""
    from marketplace.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()


def restore(url: str, store_factory, folder: Path) -> dict:
    """Restore ``folder`` into the absent or empty database at ``url``; bundles into the store."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    dialect = make_url(url).get_backend_name()
    if dialect != manifest["dialect"]:
        raise BackupError("backup_dialect", f"this backup is of a {manifest['dialect']} "
                          f"database; the configured database is {dialect}")
    for sha in manifest["artifacts"]:        # every bundle checked before anything is written
        verified(sha, (folder / "artifacts" / sha[:2] / f"{sha}.zip").read_bytes()
                 if (folder / "artifacts" / sha[:2] / f"{sha}.zip").is_file() else None)
    if dialect == "sqlite":
        path = Path(make_url(url).database or "")
        if path.exists() and _tables(url):
            raise BackupError("database_not_empty", f"{path} already holds tables: restore into "
                              "an absent or empty database")
        path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(folder / manifest["database"]["file"])
        target = sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    else:
        if _tables(url):
            raise BackupError("database_not_empty", "the configured PostgreSQL database already "
                              "holds tables: restore into an absent or empty database")
        uri, env = _libpq(url)
        run = subprocess.run([pg_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error",
                              "--dbname", uri, str(folder / manifest["database"]["file"])],
                             env=env, capture_output=True, text=True)
        if run.returncode:
            raise BackupError("restore_failed", f"pg_restore failed: {run.stderr.strip()[:300]}")
    store = store_factory()
    for sha in manifest["artifacts"]:
        data = (folder / "artifacts" / sha[:2] / f"{sha}.zip").read_bytes()
        if store.put(data) != sha or store.get(sha) != data:
            raise BackupError("restore_failed", f"bundle {sha} did not read back from the store")
    return manifest
