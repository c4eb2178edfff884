"""draft statements, adjustments, disputes (issue 19).

Revision ID: 0020_corrections
Revises: 0019_composites
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0020_corrections"
down_revision = "0019_composites"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet (slot reserved)."""


def downgrade() -> None:
    """Nothing yet (slot reserved)."""
