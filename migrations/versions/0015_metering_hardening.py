"""metering and settlement (bounds): canonical periods only, 64-bit daily digest units.

* ``periods.period`` holds only the canonical ``YYYY-MM`` of years 2000–2999, so a
  period can never be stored (and settled) twice under two spellings. PostgreSQL
  gets a CHECK constraint; SQLite gets the same rule as triggers, because adding a
  CHECK there rebuilds the table, and dropping ``periods`` while settled charges
  and statements reference it fails under foreign keys.
* ``usage_digests.units`` is 64-bit: a day of events of up to 10⁹ units each
  overflows PostgreSQL's 32-bit integer.
* ``installation_terms`` keeps every agreement of an installation (settlement
  prices a period under the terms in force at its start, not under terms accepted
  later); filled with each installation's current agreement.

Revision ID: 0015_metering_hardening
Revises: 0014_catalog_hardening
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import marketplace.db

revision = "0015_metering_hardening"
down_revision = "0014_catalog_hardening"
branch_labels = None
depends_on = None

# the same text as marketplace.settlement.models.PERIOD_CANONICAL
PERIOD_CANONICAL = (
    "length(period) = 7 AND substr(period, 5, 1) = '-'"
    " AND trim(substr(period, 1, 4), '0123456789') = ''"
    " AND substr(period, 1, 4) BETWEEN '2000' AND '2999'"
    " AND substr(period, 6, 2) IN ('01', '02', '03', '04', '05', '06', '07', '08', '09', '10',"
    " '11', '12')")
_TRIGGER = """CREATE TRIGGER periods_canonical_{when} BEFORE {what} ON periods
WHEN NOT ({rule}) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: period_canonical'); END"""


def upgrade() -> None:
    """Canonical periods; 64-bit digest units."""
    if op.get_bind().dialect.name == "sqlite":
        rule = PERIOD_CANONICAL.replace("period", "NEW.period")
        op.execute(_TRIGGER.format(when="insert", what="INSERT", rule=rule))
        op.execute(_TRIGGER.format(when="update", what="UPDATE OF period", rule=rule))
    else:
        op.create_check_constraint(op.f("ck_periods_period_canonical"), "periods", PERIOD_CANONICAL)
    with op.batch_alter_table("usage_digests") as batch_op:
        batch_op.alter_column("units", existing_type=sa.Integer(), type_=sa.BigInteger(),
                              existing_nullable=False)
    op.create_table(
        "installation_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("accepted_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("terms", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(["installation_id"], ["installations.id"],
                                name=op.f("fk_installation_terms_installation_id_installations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation_terms")))
    op.create_index(op.f("ix_installation_terms_installation_id"), "installation_terms",
                    ["installation_id"], unique=False)
    op.execute("INSERT INTO installation_terms (installation_id, accepted_at, terms) "
               "SELECT id, accepted_at, terms FROM installations")


def downgrade() -> None:
    """Back to 0014."""
    op.drop_index(op.f("ix_installation_terms_installation_id"), table_name="installation_terms")
    op.drop_table("installation_terms")
    with op.batch_alter_table("usage_digests") as batch_op:
        batch_op.alter_column("units", existing_type=sa.BigInteger(), type_=sa.Integer(),
                              existing_nullable=False)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER periods_canonical_insert")
        op.execute("DROP TRIGGER periods_canonical_update")
    else:
        op.drop_constraint("ck_periods_period_canonical", "periods", type_="check")
