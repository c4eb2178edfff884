"""metering: usage_events.day (platform-zone calendar day) and its index

Revision ID: 0005_metering
Revises: 0001
"""
import os
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0005_metering"
down_revision = "0001"
branch_labels = None
depends_on = None


def _backfill_days(zone_name: str) -> None:
    """Give rows written before this revision their platform-zone day."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("UPDATE usage_events SET day = (occurred_at AT TIME ZONE :zone)::date "
                             "WHERE day IS NULL"), {"zone": zone_name})
        return
    from marketplace.clock import as_utc

    zone = ZoneInfo(zone_name)
    rows = bind.execute(sa.text("SELECT id, occurred_at FROM usage_events WHERE day IS NULL")).all()
    for row_id, occurred in rows:
        value = sa.DateTime().result_processor(bind.dialect, None)(occurred) if isinstance(occurred, str) \
            else occurred
        day = as_utc(value).astimezone(zone).date().isoformat()
        bind.execute(sa.text("UPDATE usage_events SET day = :day WHERE id = :id"),
                     {"day": day, "id": row_id})


def upgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("day", sa.Date(), nullable=True))
    _backfill_days(os.environ.get("MARKETPLACE_TIMEZONE") or "Asia/Shanghai")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.alter_column("day", existing_type=sa.Date(), nullable=False)
        batch_op.create_index("ix_usage_events_installation_day", ["installation_id", "day"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_events_installation_day")
        batch_op.drop_column("day")
