"""Artifact stores selected by URL (DESIGN §16): ``file://`` (default), ``db``, ``s3://``.

Every store keeps bundles content-addressed by sha256 and verifies every read:
a bundle that no longer matches its digest raises :class:`ArtifactCorrupt`, one
that is absent a 404 ``artifact_missing``. Stores are built once per process and
spec (an S3 client or an engine is not cheap to make per request).
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from abc import ABC, abstractmethod
from typing import Iterator

from marketplace.errors import MarketplaceError, NotFound

SHA_RE = re.compile(r"[0-9a-f]{64}")   # fullmatch: "$" also matches before a newline


class ArtifactCorrupt(MarketplaceError):
    """A stored bundle no longer matches its digest."""

    status = 500


def check_digest(sha256: object) -> str:
    """``sha256`` if it is a lowercase hex digest, else ValueError."""
    if not isinstance(sha256, str) or not SHA_RE.fullmatch(sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return sha256


def verified(sha256: str, data: bytes | None) -> bytes:
    """``data`` if present and matching ``sha256`` (else 404 or ArtifactCorrupt)."""
    if data is None:
        raise NotFound("artifact_missing", f"bundle {sha256} is not in the artifact store")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactCorrupt("artifact_corrupt",
                              f"bundle {sha256} in the artifact store fails its sha256 check")
    return data


class Store(ABC):
    """What every store offers; subclasses implement ``_read``, ``_write``, ``exists``, ``digests``."""

    kind = "abstract"

    def put(self, data: bytes) -> str:
        """Store bytes (idempotent); returns their sha256."""
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._write(digest, bytes(data))
        return digest

    def get(self, sha256: str) -> bytes:
        """Read and verify; a mismatch raises ArtifactCorrupt, a missing bundle NotFound."""
        return verified(sha256, self._read(check_digest(sha256)))

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """True if the digest is stored."""

    @abstractmethod
    def digests(self) -> Iterator[str]:
        """Every stored digest."""

    def check(self) -> None:
        """Raise if the store cannot be reached (readiness)."""
        self.exists("0" * 64)

    @abstractmethod
    def _read(self, sha256: str) -> bytes | None:
        """The stored bytes, or None when absent (unverified)."""

    @abstractmethod
    def _write(self, sha256: str, data: bytes) -> None:
        """Store bytes under their digest."""


_stores: dict[tuple, Store] = {}
_lock = threading.Lock()


def parse_spec(spec: str, artifact_dir: str) -> tuple[str, str]:
    """``(kind, where)`` of a store URL; ValueError naming the accepted forms."""
    if not spec:
        return "file", artifact_dir
    if spec.startswith("file://"):
        path = spec[len("file://"):]
        if not path.startswith("/"):
            raise ValueError(f"artifact store {spec!r}: a file store needs an absolute path, "
                             "like file:///srv/marketplace/artifacts")
        return "file", path
    if spec == "db":
        return "db", ""
    if spec.startswith("s3://") and re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?",
                                                 spec):
        return "s3", spec[len("s3://"):]
    raise ValueError(f"artifact store {spec[:80]!r} is not understood: use file:///path, db "
                     "or s3://bucket/prefix (MARKETPLACE_ARTIFACT_STORE)")


def open_store(spec: str, *, artifact_dir: str = "", database_url: str = "",
               s3_endpoint: str = "") -> Store:
    """The store for ``spec`` in this process (built once per spec)."""
    kind, where = parse_spec(spec, artifact_dir)
    key = (os.getpid(), kind, where, database_url if kind == "db" else "",
           s3_endpoint if kind == "s3" else "")
    store = _stores.get(key)
    if store is None:
        with _lock:
            store = _stores.get(key)
            if store is None:
                store = _stores[key] = _build(kind, where, database_url, s3_endpoint)
    return store


def _build(kind: str, where: str, database_url: str, s3_endpoint: str) -> Store:
    """A new store of ``kind``."""
    if kind == "file":
        from marketplace.catalog.stores.files import FileStore

        return FileStore(where)
    if kind == "db":
        from marketplace.catalog.stores.dbstore import DbStore

        return DbStore(database_url)
    from marketplace.catalog.stores.s3 import S3Store

    bucket, _, prefix = where.partition("/")
    return S3Store(bucket, prefix, s3_endpoint)


def store_for(config: dict) -> Store:
    """The store configured by ``ARTIFACT_STORE`` (default: the folder ``ARTIFACT_DIR``)."""
    return open_store(config.get("ARTIFACT_STORE", ""), artifact_dir=config["ARTIFACT_DIR"],
                      database_url=config.get("DATABASE_URL", ""),
                      s3_endpoint=config.get("S3_ENDPOINT", ""))
