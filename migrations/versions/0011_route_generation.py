"""route_generation: one counter bumped with every change to what gateway routes are made of.

Revision ID: 0011_route_generation
Revises: 0010_usage_events_without_fk
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_route_generation"
down_revision = "0010_usage_events_without_fk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "route_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_generation")),
    )
    op.bulk_insert(table, [{"id": 1, "n": 0}])


def downgrade() -> None:
    op.drop_table("route_generation")
