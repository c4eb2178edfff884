"""joint decisions: proposals and votes (issue 17).

Revision ID: 0022_proposals
Revises: 0021_budgets
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0022_proposals"
down_revision = "0021_budgets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet (slot reserved)."""


def downgrade() -> None:
    """Nothing yet (slot reserved)."""
