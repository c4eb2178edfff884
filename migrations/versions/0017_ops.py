"""ops: bundles in the database, daily monitoring rollups (issue 20).

Revision ID: 0017_ops
Revises: 0016_pages
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from marketplace.db import UTCDateTime

revision = "0017_ops"
down_revision = "0016_pages"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Tables artifacts, ops_daily_calls, ops_rolled_days."""
    op.create_table(
        "artifacts",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_artifacts"),
    )
    op.create_table(
        "ops_daily_calls",
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("buckets", JSONType, nullable=False),
        sa.ForeignKeyConstraint(["installation_id"], ["installations.id"],
                                name="fk_ops_daily_calls_installation_id_installations"),
        sa.PrimaryKeyConstraint("installation_id", "day", name="pk_ops_daily_calls"),
    )
    op.create_index("ix_ops_daily_calls_day", "ops_daily_calls", ["day"])
    op.create_table(
        "ops_rolled_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rolled_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_ops_rolled_days"),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("ops_rolled_days")
    op.drop_index("ix_ops_daily_calls_day", table_name="ops_daily_calls")
    op.drop_table("ops_daily_calls")
    op.drop_table("artifacts")
