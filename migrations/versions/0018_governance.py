"""co-owners, ownership history, proposals and votes (issue 17).

Revision ID: 0018_governance
Revises: 0017_ops
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0018_governance"
down_revision = "0017_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet (slot reserved)."""


def downgrade() -> None:
    """Nothing yet (slot reserved)."""
