"""composite modules: requirements, parent events (issue 18).

Revision ID: 0019_composites
Revises: 0018_governance
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0019_composites"
down_revision = "0018_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet (slot reserved)."""


def downgrade() -> None:
    """Nothing yet (slot reserved)."""
