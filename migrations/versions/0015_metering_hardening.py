"""metering and settlement (bounds).

Revision ID: 0015_metering_hardening
Revises: 0014_catalog_hardening
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0015_metering_hardening"
down_revision = "0014_catalog_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
