"""accounts (login throttle, server-side sessions).

Revision ID: 0013_accounts_hardening
Revises: 0012_runtime_hardening
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0013_accounts_hardening"
down_revision = "0012_runtime_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
