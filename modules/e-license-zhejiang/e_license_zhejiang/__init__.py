"""浙里办 电子证照查询: the ``gov.e-license-lookup`` interface for 浙江省.

Lookups answer from a deterministic SAMPLE registry (see :mod:`.registry`):
records are derived from the holder id, not read from any real licence
database. Number verification applies the real formats and check digits.
"""
from __future__ import annotations

from marketplace.sdk import hookimpl

from . import registry


@hookimpl
def lookup_license(payload, context):
    """Return the holder's electronic licence of one type from the sample registry."""
    return registry.lookup(payload)


@hookimpl
def verify_license(payload, context):
    """Check a licence number's format and check digit under this province's scheme."""
    return registry.verify(payload)
