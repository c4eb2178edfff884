"""Every model, imported once so metadata (and Alembic) sees the whole schema."""
from marketplace.accounts.models import ApiToken, AuditEntry, Jurisdiction, User  # noqa: F401
from marketplace.catalog.models import Module, ModuleVersion, Operation  # noqa: F401
from marketplace.db import Base  # noqa: F401
from marketplace.governance.models import ChargeShare, Owner, Ownership  # noqa: F401
from marketplace.governance.models_proposals import Proposal, ProposalVote  # noqa: F401
from marketplace.metering.models import UsageDigest, UsageEvent  # noqa: F401
from marketplace.ops.models import Artifact, DailyCalls, RolledDay  # noqa: F401
from marketplace.runtime.models import IdempotentReply, Installation, QuotaCounter  # noqa: F401
from marketplace.settlement.agreements import InstallationTerms  # noqa: F401
from marketplace.settlement.correction_models import Adjustment, Dispute  # noqa: F401
from marketplace.settlement.budget_models import Budget, BudgetPeriod, BudgetRange  # noqa: F401
from marketplace.settlement.models import (Charge, JournalEntry, Period,  # noqa: F401
                                          ProviderRecord, Statement)
from marketplace.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: F401
