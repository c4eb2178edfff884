"""composite modules: requirements, parent events (issue 18).

A composite's ``[[requires]]`` live in its version's stored manifest; usage
events gain ``parent_event``: the event id of the composite call a sub-call
was made for (NULL for every other event), indexed to read a call's tree.

Revision ID: 0019_composites
Revises: 0018_governance
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_composites"
down_revision = "0018_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add usage_events.parent_event and its index."""
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("parent_event", sa.String(100), nullable=True))
    op.create_index("ix_usage_events_parent_event", "usage_events", ["parent_event"])


def downgrade() -> None:
    """Drop usage_events.parent_event."""
    op.drop_index("ix_usage_events_parent_event", table_name="usage_events")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("parent_event")
