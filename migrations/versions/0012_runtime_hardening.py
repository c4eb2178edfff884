"""runtime (gateway reservations: idempotency, quota).

An Idempotency-Key is reserved before its call runs: ``idempotent_replies``
rows exist while the call runs (``status`` NULL), held by ``owner`` until
``lease_until``. The quota needs no new column: it is reserved by a
conditional update of ``quota_counters``.

Revision ID: 0012_runtime_hardening
Revises: 0011_route_generation
"""
import sqlalchemy as sa
from alembic import op

from marketplace.db import UTCDateTime

revision = "0012_runtime_hardening"
down_revision = "0011_route_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotent_replies") as batch:
        batch.alter_column("status", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("owner", sa.String(32), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM idempotent_replies WHERE status IS NULL")
    with op.batch_alter_table("idempotent_replies") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
        batch.alter_column("status", existing_type=sa.Integer(), nullable=False)
