"""catalog (publish checks, jobs).

``operations.schema_links``: the bundle schema files an operation's schemas
$ref, stored at publish so the gateway never retrieves a schema.

Revision ID: 0014_catalog_hardening
Revises: 0013_accounts_hardening
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

from marketplace.db import JSONType

revision = "0014_catalog_hardening"
down_revision = "0013_accounts_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Operations keep the schema files their refs reach."""
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("schema_links", JSONType, nullable=False, server_default="{}"))


def downgrade() -> None:
    """Drop the stored schema links."""
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("schema_links")
