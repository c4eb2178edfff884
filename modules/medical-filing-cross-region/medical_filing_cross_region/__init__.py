"""异地就医备案: file cross-region medical treatment and estimate what the fund pays.

Hook implementations of the ``medical-filing-cross-region`` module; the policy
rules (医保发〔2022〕22号) live in :mod:`.rules` and :mod:`.settlement`.
Installations may lower the ratio reductions in ``context.config``
(``referral_reduction_points`` ≤ 10, ``temporary_reduction_points`` ≤ 20).
"""
from __future__ import annotations

from marketplace.sdk import hookimpl

from . import rules, settlement


@hookimpl
def file_record(payload, context):
    """Accept a cross-region filing; return its id, validity and ratio adjustment."""
    return rules.file_record(payload, context.config)


@hookimpl
def estimate_settlement(payload, context):
    """Estimate the fund payment and self payment of one visit under a filing."""
    return settlement.estimate(payload, context.config)
