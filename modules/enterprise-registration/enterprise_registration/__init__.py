"""企业开办一件事: validate unified social credit codes and accept one-stop business applications.

Hook implementations for the ``enterprise-registration`` module; the rules live
in :mod:`.credit_code` (GB 32100-2015) and :mod:`.application`.
"""
from __future__ import annotations

from marketplace.sdk import hookimpl

from . import application, credit_code


@hookimpl
def validate_credit_code(payload, context):
    """Check a unified social credit code and describe its authority, type and region."""
    return credit_code.analyse(payload["credit_code"])


@hookimpl
def submit_application(payload, context):
    """Validate a 企业开办 application and return its id and registration checklist."""
    return application.assess(payload)
