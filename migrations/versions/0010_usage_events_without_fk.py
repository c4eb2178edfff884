"""usage_events keeps no foreign key to installations (append-only fact table, checked by writers).

Revision ID: 0010_usage_events_without_fk
Revises: 0009_catalog_search_pg_fts
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_usage_events_without_fk"
down_revision = "0009_catalog_search_pg_fts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch_op:
        batch_op.drop_constraint("fk_usage_events_installation_id_installations", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch_op:
        batch_op.create_foreign_key("fk_usage_events_installation_id_installations",
                                    "installations", ["installation_id"], ["id"])
