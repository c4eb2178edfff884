"""The stateful model of the market on this run's database (SQLite, or PostgreSQL).

The suite's budget is small; ``MARKETPLACE_MODEL_EXAMPLES`` / ``MARKETPLACE_MODEL_STEPS``
raise it (``bench/settle_model.py`` runs a long one on both databases).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.settlement.model import MarketModel
from tests.settlement.model_stripe import StripeMarketModel

EXAMPLES = int(os.environ.get("MARKETPLACE_MODEL_EXAMPLES") or 12)
STEPS = int(os.environ.get("MARKETPLACE_MODEL_STEPS") or 30)
BUDGET = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
                  derandomize=not os.environ.get("MARKETPLACE_MODEL_SEED_RANDOM"),
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.reuse, Phase.generate]
                  if os.environ.get("MARKETPLACE_MODEL_NO_SHRINK") else list(Phase))


def test_settlement_agrees_with_the_model_after_every_step(app):
    class Model(MarketModel):
        pass
    Model.app = app
    run_state_machine_as_test(Model, settings=BUDGET)


def test_stripe_settlement_agrees_with_the_model(app, stripe_mock):
    """Every settlement makes real HTTP calls to stripe-mock (a few ms each)."""
    class Model(StripeMarketModel):
        pass
    Model.app, Model.stripe_url = app, stripe_mock
    run_state_machine_as_test(Model, settings=BUDGET)
