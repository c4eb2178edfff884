"""draft statements, adjustments, disputes (issue 19).

Revision ID: 0020_corrections
Revises: 0019_composites
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from marketplace.db import UTCDateTime

revision = "0020_corrections"
down_revision = "0019_composites"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Tables disputes and adjustments; charges.adjusts_period (one adjustment line per period)."""
    with op.batch_alter_table("charges") as batch:
        batch.add_column(sa.Column("adjusts_period", sa.String(7), nullable=False, server_default=""))
        batch.drop_constraint("uq_charges_period_installation_id", type_="unique")
        batch.create_unique_constraint("uq_charges_period_installation_id_adjusts_period",
                                       ["period", "installation_id", "adjusts_period"])
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("module_name", sa.String(64), nullable=False),
        sa.Column("adopter_code", sa.String(6), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("reconciliation", JSONType, nullable=False),
        sa.Column("opened_by", sa.String(254), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("answer", sa.String(1000), nullable=False),
        sa.Column("answered_by", sa.String(254), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("resolved_by", sa.String(254), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("state in ('open', 'answered', 'resolved')",
                           name="ck_disputes_state_known"),
        sa.CheckConstraint("decision in ('', 'uphold', 'adjust')",
                           name="ck_disputes_decision_known"),
        sa.ForeignKeyConstraint(["period"], ["periods.period"], name="fk_disputes_period_periods"),
        sa.ForeignKeyConstraint(["installation_id"], ["installations.id"],
                                name="fk_disputes_installation_id_installations"),
        sa.ForeignKeyConstraint(["module_id"], ["modules.id"], name="fk_disputes_module_id_modules"),
        sa.ForeignKeyConstraint(["adopter_code"], ["jurisdictions.code"],
                                name="fk_disputes_adopter_code_jurisdictions"),
        sa.PrimaryKeyConstraint("id", name="pk_disputes"),
    )
    op.create_index("ix_disputes_period", "disputes", ["period"])
    op.create_index("ix_disputes_module_id", "disputes", ["module_id"])
    op.create_index("ix_disputes_adopter_code", "disputes", ["adopter_code"])
    op.create_table(
        "adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("module_name", sa.String(64), nullable=False),
        sa.Column("adopter_code", sa.String(6), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("booked_period", sa.String(7), nullable=False),
        sa.Column("key", sa.String(100), nullable=True),
        sa.CheckConstraint("amount_minor <> 0", name="ck_adjustments_amount_not_zero"),
        sa.ForeignKeyConstraint(["period"], ["periods.period"], name="fk_adjustments_period_periods"),
        sa.ForeignKeyConstraint(["installation_id"], ["installations.id"],
                                name="fk_adjustments_installation_id_installations"),
        sa.ForeignKeyConstraint(["adopter_code"], ["jurisdictions.code"],
                                name="fk_adjustments_adopter_code_jurisdictions"),
        sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"],
                                name="fk_adjustments_dispute_id_disputes"),
        sa.PrimaryKeyConstraint("id", name="pk_adjustments"),
        sa.UniqueConstraint("key", name="uq_adjustments_key"),
    )
    op.create_index("ix_adjustments_period", "adjustments", ["period"])
    op.create_index("ix_adjustments_installation_id", "adjustments", ["installation_id"])
    op.create_index("ix_adjustments_booked_period", "adjustments", ["booked_period"])


def downgrade() -> None:
    """Drop them (adjustment lines first: the old key cannot hold them)."""
    op.drop_table("adjustments")
    op.drop_table("disputes")
    op.execute("DELETE FROM charge_shares WHERE charge_id IN "
               "(SELECT id FROM charges WHERE adjusts_period <> '')")
    op.execute("DELETE FROM charges WHERE adjusts_period <> ''")
    with op.batch_alter_table("charges") as batch:
        batch.drop_constraint("uq_charges_period_installation_id_adjusts_period", type_="unique")
        batch.create_unique_constraint("uq_charges_period_installation_id",
                                       ["period", "installation_id"])
        batch.drop_column("adjusts_period")
