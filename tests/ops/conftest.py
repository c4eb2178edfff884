"""Fixtures of the operations tests: the runtime's catalog and adopters, an S3 server."""
from __future__ import annotations

from tests.runtime.conftest import catalog, fixed_clock, hangzhou, shenzhen  # noqa: F401
