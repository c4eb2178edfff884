"""co-owners, ownership history, proposals and votes (issue 17).

Revision ID: 0018_governance
Revises: 0017_ops
"""
import sqlalchemy as sa
from alembic import op

from marketplace.db import UTCDateTime

revision = "0018_governance"
down_revision = "0017_ops"
branch_labels = None
depends_on = None

# the same text as marketplace.settlement.models.PERIOD_CANONICAL, on effective_period
EFFECTIVE_CANONICAL = (
    "length(effective_period) = 7 AND substr(effective_period, 5, 1) = '-'"
    " AND trim(substr(effective_period, 1, 4), '0123456789') = ''"
    " AND substr(effective_period, 1, 4) BETWEEN '2000' AND '2999'"
    " AND substr(effective_period, 6, 2) IN ('01', '02', '03', '04', '05', '06', '07', '08', '09',"
    " '10', '11', '12')")


def upgrade() -> None:
    """Tables module_ownerships, module_owners, charge_shares."""
    op.create_table(
        "module_ownerships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("effective_period", sa.String(7), nullable=False),
        sa.Column("build_cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.String(254), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(EFFECTIVE_CANONICAL, name="ck_module_ownerships_period_canonical"),
        sa.CheckConstraint("build_cost_minor >= 0",
                           name="ck_module_ownerships_build_cost_not_negative"),
        sa.ForeignKeyConstraint(["module_id"], ["modules.id"],
                                name="fk_module_ownerships_module_id_modules"),
        sa.PrimaryKeyConstraint("id", name="pk_module_ownerships"),
    )
    op.create_index("ix_module_ownerships_module_period", "module_ownerships",
                    ["module_id", "effective_period"])
    op.create_table(
        "module_owners",
        sa.Column("ownership_id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_code", sa.String(6), nullable=False),
        sa.Column("share_bps", sa.Integer(), nullable=False),
        sa.CheckConstraint("share_bps > 0 AND share_bps <= 10000",
                           name="ck_module_owners_share_in_range"),
        sa.ForeignKeyConstraint(["ownership_id"], ["module_ownerships.id"],
                                name="fk_module_owners_ownership_id_module_ownerships"),
        sa.ForeignKeyConstraint(["jurisdiction_code"], ["jurisdictions.code"],
                                name="fk_module_owners_jurisdiction_code_jurisdictions"),
        sa.PrimaryKeyConstraint("ownership_id", "jurisdiction_code", name="pk_module_owners"),
    )
    op.create_table(
        "charge_shares",
        sa.Column("charge_id", sa.Integer(), nullable=False),
        sa.Column("owner_code", sa.String(6), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("share_bps", sa.Integer(), nullable=False),
        sa.Column("earnings_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("share_bps > 0 AND share_bps <= 10000",
                           name="ck_charge_shares_share_in_range"),
        sa.ForeignKeyConstraint(["charge_id"], ["charges.id"],
                                name="fk_charge_shares_charge_id_charges"),
        sa.ForeignKeyConstraint(["owner_code"], ["jurisdictions.code"],
                                name="fk_charge_shares_owner_code_jurisdictions"),
        sa.PrimaryKeyConstraint("charge_id", "owner_code", name="pk_charge_shares"),
    )
    op.create_index("ix_charge_shares_period_owner", "charge_shares", ["period", "owner_code"])
    # lines settled before co-ownership: their publisher was the one owner, with everything
    op.execute("INSERT INTO charge_shares (charge_id, owner_code, period, share_bps,"
               " earnings_minor, fee_minor) SELECT id, publisher_code, period, 10000,"
               " amount_minor - fee_minor, fee_minor FROM charges")


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_charge_shares_period_owner", table_name="charge_shares")
    op.drop_table("charge_shares")
    op.drop_table("module_owners")
    op.drop_index("ix_module_ownerships_module_period", table_name="module_ownerships")
    op.drop_table("module_ownerships")
