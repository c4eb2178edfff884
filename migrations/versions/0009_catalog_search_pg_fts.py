"""catalog search on PostgreSQL: weighted tsvector over the analysed text, GIN index

Replaces the pg_trgm ``LIKE`` scan (broad queries such as 跨域通办 scanned and
re-scored 8,000 rows with LIKE) by PostgreSQL's own full-text search over the
same CJK-bigram tokens. SQLite keeps its FTS5 table; there the column stays NULL.

Revision ID: 0009_catalog_search_pg_fts
Revises: 0008_usage_covering_index
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0009_catalog_search_pg_fts"
down_revision = "0008_usage_covering_index"
branch_labels = None
depends_on = None

# same expression as marketplace.catalog.search._vector: title A, label B, summary C, rest D
VECTOR = ("setweight(to_tsvector('simple', title_text), 'A') || "
          "setweight(to_tsvector('simple', label_text), 'B') || "
          "setweight(to_tsvector('simple', summary_text), 'C') || "
          "setweight(to_tsvector('simple', operations_text), 'D') || "
          "setweight(to_tsvector('simple', readme_text), 'D')")


def upgrade() -> None:
    with op.batch_alter_table("catalog_search") as batch_op:
        batch_op.add_column(sa.Column(
            "search_vector", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_catalog_search_document_trgm")
        # rows indexed before this revision: build their vector, then keep only the vector
        op.execute(f"UPDATE catalog_search SET search_vector = {VECTOR}, title_text = '', label_text = '', "
                   "summary_text = '', operations_text = '', readme_text = '', document = ''")
        # no pending list: catalogue writes are rare, and every query would scan an unmerged list
        op.execute("CREATE INDEX ix_catalog_search_vector_gin ON catalog_search "
                   "USING gin (search_vector) WITH (fastupdate = off)")
        # keep vectors inline: fetching a TOASTed vector per hit cost more than matching it
        op.execute("ALTER TABLE catalog_search SET (toast_tuple_target = 8160)")
        op.execute("ALTER TABLE catalog_search ALTER COLUMN search_vector SET STORAGE MAIN")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_catalog_search_vector_gin")
        op.execute("ALTER TABLE catalog_search RESET (toast_tuple_target)")
        # the text columns are empty now: run catalog reindex_all after downgrading
        op.execute("CREATE INDEX ix_catalog_search_document_trgm ON catalog_search "
                   "USING gin (document gin_trgm_ops)")
    with op.batch_alter_table("catalog_search") as batch_op:
        batch_op.drop_column("search_vector")
