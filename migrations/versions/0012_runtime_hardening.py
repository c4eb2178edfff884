"""runtime (gateway reservations: idempotency, quota).

Revision ID: 0012_runtime_hardening
Revises: 0011_route_generation
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0012_runtime_hardening"
down_revision = "0011_route_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
