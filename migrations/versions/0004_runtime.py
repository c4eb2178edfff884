"""runtime: per-installation quota counters for the gateway

Revision ID: 0004_runtime
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_runtime"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_counters",
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["installation_id"], ["installations.id"],
                                name=op.f("fk_quota_counters_installation_id_installations")),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_quota_counters")),
    )


def downgrade() -> None:
    op.drop_table("quota_counters")
