"""Content-addressed artifact store (kept for its importers; the stores live in ``stores``)."""
from __future__ import annotations

from marketplace.catalog.stores import (SHA_RE, ArtifactCorrupt, Store,  # noqa: F401
                                        open_store, store_for)
from marketplace.catalog.stores.files import FileStore

ArtifactStore = FileStore           # the folder store, and the type hint of every store's users
