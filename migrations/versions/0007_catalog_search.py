"""catalog search: module cards, tags, SQLite FTS5 table / PostgreSQL trigram index

Revision ID: 0007_catalog_search
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import marketplace.db
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0007_catalog_search"
down_revision = "0001"
branch_labels = None
depends_on = None

# column order = FTS5 bm25 weights order in marketplace.catalog.search
FTS_CREATE = ("CREATE VIRTUAL TABLE catalog_search_fts USING fts5("
              "title_text, label_text, summary_text, operations_text, readme_text, "
              "tokenize = 'porter unicode61 remove_diacritics 2')")


def upgrade() -> None:
    op.create_table(
        "catalog_search",
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("terms_kind", sa.String(length=20), nullable=False),
        sa.Column("publisher_code", sa.String(length=6), nullable=False),
        sa.Column("implements", sa.String(length=100), nullable=True),
        sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                  nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("published_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("title_text", sa.Text(), nullable=False),
        sa.Column("label_text", sa.Text(), nullable=False),
        sa.Column("summary_text", sa.Text(), nullable=False),
        sa.Column("operations_text", sa.Text(), nullable=False),
        sa.Column("readme_text", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["module_id"], ["modules.id"],
                                name=op.f("fk_catalog_search_module_id_modules")),
        sa.ForeignKeyConstraint(["version_id"], ["module_versions.id"],
                                name=op.f("fk_catalog_search_version_id_module_versions")),
        sa.PrimaryKeyConstraint("module_id", name=op.f("pk_catalog_search")),
    )
    for column in ("category", "terms_kind", "publisher_code", "implements", "published_at"):
        op.create_index(op.f(f"ix_catalog_search_{column}"), "catalog_search", [column])
    op.create_table(
        "catalog_search_tags",
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["module_id"], ["catalog_search.module_id"], ondelete="CASCADE",
                                name=op.f("fk_catalog_search_tags_module_id_catalog_search")),
        sa.PrimaryKeyConstraint("module_id", "tag", name=op.f("pk_catalog_search_tags")),
    )
    op.create_index(op.f("ix_catalog_search_tags_tag"), "catalog_search_tags", ["tag"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(FTS_CREATE)
    elif op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_catalog_search_document_trgm ON catalog_search "
                   "USING gin (document gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS catalog_search_fts")
    op.drop_table("catalog_search_tags")
    op.drop_table("catalog_search")
