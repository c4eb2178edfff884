"""budgets, outgoing webhooks and their deliveries (issue 19).

Revision ID: 0021_budgets
Revises: 0020_corrections
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0021_budgets"
down_revision = "0020_corrections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet (slot reserved)."""


def downgrade() -> None:
    """Nothing yet (slot reserved)."""
