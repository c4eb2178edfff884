"""budgets, outgoing webhooks and their deliveries (issue 19).

Revision ID: 0021_budgets
Revises: 0020_corrections
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from marketplace.db import UTCDateTime

revision = "0021_budgets"
down_revision = "0020_corrections"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _installation_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["installation_id"], ["installations.id"],
                                   name=f"fk_{table}_installation_id_installations")


def upgrade() -> None:
    """Tables budgets, budget_periods, budget_ranges, webhook_endpoints/deliveries/attempts."""
    op.create_table(
        "budgets",
        sa.Column("installation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("set_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_budgets_amount_not_negative"),
        _installation_fk("budgets"),
        sa.ForeignKeyConstraint(["set_by"], ["users.id"], name="fk_budgets_set_by_users"),
        sa.PrimaryKeyConstraint("installation_id", name="pk_budgets"),
    )
    op.create_table(
        "budget_periods",
        sa.Column("installation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("terms", JSONType, nullable=False),
        sa.Column("warned", sa.Integer(), nullable=False),
        sa.CheckConstraint("warned in (0, 80, 100)", name="ck_budget_periods_warned_known"),
        _installation_fk("budget_periods"),
        sa.PrimaryKeyConstraint("installation_id", "period", name="pk_budget_periods"),
    )
    op.create_table(
        "budget_ranges",
        sa.Column("installation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("lo", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hi", sa.BigInteger(), nullable=True),
        _installation_fk("budget_ranges"),
        sa.PrimaryKeyConstraint("installation_id", "period", "lo", name="pk_budget_ranges"),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("jurisdiction_code", sa.String(6), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(80), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["jurisdiction_code"], ["jurisdictions.code"],
                                name="fk_webhook_endpoints_jurisdiction_code_jurisdictions"),
        sa.ForeignKeyConstraint(["set_by"], ["users.id"], name="fk_webhook_endpoints_set_by_users"),
        sa.PrimaryKeyConstraint("jurisdiction_code", name="pk_webhook_endpoints"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("jurisdiction_code", sa.String(6), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("state in ('pending', 'delivered', 'failed')",
                           name="ck_webhook_deliveries_state_known"),
        sa.ForeignKeyConstraint(["jurisdiction_code"], ["jurisdictions.code"],
                                name="fk_webhook_deliveries_jurisdiction_code_jurisdictions"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("event_id", name="uq_webhook_deliveries_event_id"),
    )
    op.create_index("ix_webhook_deliveries_jurisdiction_code", "webhook_deliveries",
                    ["jurisdiction_code"])
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhook_deliveries.id"],
                                name="fk_webhook_attempts_delivery_id_webhook_deliveries"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_webhook_attempts_delivery_id", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_jurisdiction_code", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_table("budget_ranges")
    op.drop_table("budget_periods")
    op.drop_table("budgets")
