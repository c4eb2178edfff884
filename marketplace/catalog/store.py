"""Content-addressed artifact store: bundles kept by sha256, verified on every read."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from marketplace.errors import MarketplaceError

SHA_RE = re.compile(r"[0-9a-f]{64}")   # fullmatch: "$" also matches before a newline


class ArtifactCorrupt(MarketplaceError):
    """A stored bundle no longer matches its digest."""

    status = 500


class ArtifactStore:
    """Bundles in ``root/ab/cd/<sha256>.zip``; writes are atomic, reads verified."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where a digest lives (refuses anything but a lowercase hex digest)."""
        if not isinstance(sha256, str) or not SHA_RE.fullmatch(sha256):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.zip"

    def put(self, data: bytes) -> str:
        """Store bytes (idempotent); returns their sha256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        return digest

    def get(self, sha256: str) -> bytes:
        """Read and verify; a mismatch raises ArtifactCorrupt, a missing file NotFound."""
        target = self.path(sha256)
        if not target.exists():
            from marketplace.errors import NotFound

            raise NotFound("artifact_missing", f"bundle {sha256} is not in the artifact store")
        data = target.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArtifactCorrupt("artifact_corrupt",
                                  f"bundle {sha256} in the artifact store fails its sha256 check")
        return data

    def exists(self, sha256: str) -> bool:
        """True if the digest is stored."""
        return self.path(sha256).exists()


def store_for(config: dict) -> ArtifactStore:
    """The store configured by ``ARTIFACT_DIR``."""
    return ArtifactStore(config["ARTIFACT_DIR"])
