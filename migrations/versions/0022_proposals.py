"""joint decisions: proposals and votes (issue 17).

Tables ``proposals`` and ``proposal_votes``; module versions may also be
``pending_owners`` (a co-owned module's new version whose terms the owners have
not yet accepted).

Revision ID: 0022_proposals
Revises: 0021_budgets
"""
import sqlalchemy as sa
from alembic import op

from marketplace.db import JSONType, UTCDateTime

revision = "0022_proposals"
down_revision = "0021_budgets"
branch_labels = None
depends_on = None

STATES_BEFORE = "state in ('pending_review', 'published', 'rejected')"
STATES_AFTER = "state in ('pending_review', 'pending_owners', 'published', 'rejected')"


def _version_states(condition: str) -> None:
    """Replace the check on module_versions.state (PostgreSQL in place; SQLite rebuilds the table)."""
    if op.get_bind().dialect.name == "sqlite":
        # The rebuild drops the old table, which installations and operations reference:
        # foreign keys are off meanwhile (SQLite's own recipe for a table change), and the
        # pragma is ignored inside a transaction, so the driver's open one is ended first.
        raw = op.get_bind().connection.driver_connection
        if raw.in_transaction:
            raw.commit()
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with op.batch_alter_table("module_versions", recreate="always") as batch:
                batch.drop_constraint(op.f("ck_module_versions_state_known"), type_="check")
                batch.create_check_constraint(op.f("ck_module_versions_state_known"), condition)
            if raw.in_transaction:
                raw.commit()
            broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"module_versions rebuild broke references: {broken[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys = ON")
        return
    op.drop_constraint(op.f("ck_module_versions_state_known"), "module_versions", type_="check")
    op.create_check_constraint(op.f("ck_module_versions_state_known"), "module_versions", condition)


def upgrade() -> None:
    """Proposals, their votes, and the pending_owners state of versions."""
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("open_kind", sa.String(10), nullable=True),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("proposer_code", sa.String(6), nullable=False),
        sa.Column("proposed_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("effective_period", sa.String(7), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind in ('owners', 'terms')", name="ck_proposals_kind_known"),
        sa.CheckConstraint("state in ('open', 'accepted', 'rejected', 'expired')",
                           name="ck_proposals_state_known"),
        sa.CheckConstraint("(state = 'open') = (open_kind IS NOT NULL)",
                           name="ck_proposals_open_kind_when_open"),
        sa.ForeignKeyConstraint(["module_id"], ["modules.id"], name="fk_proposals_module_id_modules"),
        sa.ForeignKeyConstraint(["proposer_code"], ["jurisdictions.code"],
                                name="fk_proposals_proposer_code_jurisdictions"),
        sa.ForeignKeyConstraint(["proposed_by"], ["users.id"], name="fk_proposals_proposed_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_proposals"),
        sa.UniqueConstraint("module_id", "open_kind", name="uq_proposals_module_id_open_kind"),
    )
    op.create_index("ix_proposals_module_id", "proposals", ["module_id"])
    op.create_index("ix_proposals_state", "proposals", ["state"])
    op.create_index("ix_proposals_expires_at", "proposals", ["expires_at"])
    op.create_table(
        "proposal_votes",
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("jurisdiction_code", sa.String(6), nullable=False),
        sa.Column("share_bps", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(10), nullable=True),
        sa.Column("voted_by", sa.Integer(), nullable=True),
        sa.Column("voted_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("decision IS NULL OR decision in ('approve', 'reject')",
                           name="ck_proposal_votes_decision_known"),
        sa.CheckConstraint("share_bps >= 0 AND share_bps <= 10000",
                           name="ck_proposal_votes_share_in_range"),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"],
                                name="fk_proposal_votes_proposal_id_proposals"),
        sa.ForeignKeyConstraint(["jurisdiction_code"], ["jurisdictions.code"],
                                name="fk_proposal_votes_jurisdiction_code_jurisdictions"),
        sa.ForeignKeyConstraint(["voted_by"], ["users.id"], name="fk_proposal_votes_voted_by_users"),
        sa.PrimaryKeyConstraint("proposal_id", "jurisdiction_code", name="pk_proposal_votes"),
    )
    op.create_index("ix_proposal_votes_jurisdiction_code", "proposal_votes", ["jurisdiction_code"])
    _version_states(STATES_AFTER)


def downgrade() -> None:
    """Drop proposals and votes; pending_owners versions go back to pending_review."""
    op.execute("UPDATE module_versions SET state = 'pending_review' WHERE state = 'pending_owners'")
    _version_states(STATES_BEFORE)
    op.drop_index("ix_proposal_votes_jurisdiction_code", table_name="proposal_votes")
    op.drop_table("proposal_votes")
    op.drop_index("ix_proposals_expires_at", table_name="proposals")
    op.drop_index("ix_proposals_state", table_name="proposals")
    op.drop_index("ix_proposals_module_id", table_name="proposals")
    op.drop_table("proposals")
