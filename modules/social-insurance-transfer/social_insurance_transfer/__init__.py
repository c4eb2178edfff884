"""社保关系转移: compute what moves when an enterprise employee's pension insurance moves region.

Hook implementation of the ``social-insurance-transfer`` module; the arithmetic
of 国办发〔2009〕66号 lives in :mod:`.calculation`.
"""
from __future__ import annotations

from marketplace.sdk import hookimpl

from . import calculation


@hookimpl
def compute_transfer(payload, context):
    """Merge contribution history and return months, transferable funds and the benefit region."""
    return calculation.compute(payload)
