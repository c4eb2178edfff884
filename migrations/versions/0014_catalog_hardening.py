"""catalog (publish checks, jobs).

Revision ID: 0014_catalog_hardening
Revises: 0013_accounts_hardening
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0014_catalog_hardening"
down_revision = "0013_accounts_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
