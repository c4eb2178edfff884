"""Join the area branches; covering index for period aggregation of usage events.

Revision ID: 0008_usage_covering_index
Revises: 0004_runtime, 0005_metering, 0006_settlement, 0007_catalog_search
"""
from alembic import op

revision = "0008_usage_covering_index"
down_revision = ("0004_runtime", "0005_metering", "0006_settlement", "0007_catalog_search")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch_op:
        batch_op.drop_index("ix_usage_events_period_installation")
        batch_op.create_index("ix_usage_events_period_totals",
                              ["period", "status", "installation_id", "units"])


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch_op:
        batch_op.drop_index("ix_usage_events_period_totals")
        batch_op.create_index("ix_usage_events_period_installation",
                              ["period", "installation_id", "status"])
