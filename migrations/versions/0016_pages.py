"""pages and manifests (issue 16).

Revision ID: 0016_pages
Revises: 0015_metering_hardening
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0016_pages"
down_revision = "0015_metering_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
