"""Bundles in a folder: ``root/ab/cd/<sha256>.zip``, written atomically."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

from marketplace.catalog.stores import SHA_RE, Store, check_digest


class FileStore(Store):
    """The default store: one folder (shared by hosts only through a shared file system)."""

    kind = "file"

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where a digest lives (refuses anything but a lowercase hex digest)."""
        check_digest(sha256)
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.zip"

    def exists(self, sha256: str) -> bool:
        """True if the digest is stored."""
        return self.path(sha256).exists()

    def digests(self) -> Iterator[str]:
        """Every stored digest, in order."""
        for path in sorted(self.root.glob("??/??/*.zip")):
            if SHA_RE.fullmatch(path.stem):
                yield path.stem

    def check(self) -> None:
        """The folder exists (created on first use) and is writable."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"artifact folder {self.root} is not writable")

    def _read(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, sha256: str, data: bytes) -> None:
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
