"""Modules, their immutable versions and the operations of each version."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.clock import now
from marketplace.db import Base, JSONType, UTCDateTime

VERSION_STATES = ("pending_review", "pending_owners", "published", "rejected")
TERMS_KINDS = ("free", "transfer", "pay_per_use", "cost_share")


class Module(Base):
    """A named, reusable service owned by its publisher jurisdiction."""

    __tablename__ = "modules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    publisher_code: Mapped[str] = mapped_column(sa.ForeignKey("jurisdictions.code"), index=True)
    implements: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    versions: Mapped[list["ModuleVersion"]] = relationship(
        back_populates="module", order_by="ModuleVersion.id")


class ModuleVersion(Base):
    """An immutable published bundle of a module, with its interface and terms."""

    __tablename__ = "module_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(sa.ForeignKey("modules.id"), index=True)
    version: Mapped[str] = mapped_column(sa.String(64))
    # numeric semver parts for ordering; prerelease sorts before its release
    major: Mapped[int] = mapped_column(default=0)
    minor: Mapped[int] = mapped_column(default=0)
    patch: Mapped[int] = mapped_column(default=0)
    prerelease: Mapped[str] = mapped_column(sa.String(64), default="")
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    size: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(sa.String(20), default="pending_review", index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    category: Mapped[str] = mapped_column(sa.String(40))
    entry: Mapped[str] = mapped_column(sa.String(100))
    source_license: Mapped[str] = mapped_column(sa.String(64))
    implements: Mapped[str | None] = mapped_column(sa.String(100))
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    terms: Mapped[dict] = mapped_column(JSONType, default=dict)
    terms_kind: Mapped[str] = mapped_column(sa.String(20))
    manifest: Mapped[dict] = mapped_column(JSONType, default=dict)
    readme: Mapped[str] = mapped_column(sa.Text, default="")
    check_report: Mapped[dict] = mapped_column(JSONType, default=dict)
    uploaded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    review_reason: Mapped[str] = mapped_column(sa.Text, default="")
    yanked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    yank_reason: Mapped[str] = mapped_column(sa.Text, default="")

    module: Mapped[Module] = relationship(back_populates="versions")
    operations: Mapped[list["Operation"]] = relationship(
        back_populates="version", order_by="Operation.id", cascade="all, delete-orphan")

    __table_args__ = (
        sa.UniqueConstraint("module_id", "version"),
        sa.CheckConstraint(
            "state in ('pending_review', 'pending_owners', 'published', 'rejected')",
            name="state_known"),
        sa.CheckConstraint(
            "terms_kind in ('free', 'transfer', 'pay_per_use', 'cost_share')", name="terms_known"),
    )

    @property
    def yanked(self) -> bool:
        """Yanked versions take no new installs; running installs keep working."""
        return self.yanked_at is not None

    @property
    def sort_key(self) -> tuple:
        """Semver precedence (releases after their prereleases)."""
        return (self.major, self.minor, self.patch, self.prerelease == "", self.prerelease)


class Operation(Base):
    """One operation of a version's interface: schemas and billing weight."""

    __tablename__ = "operations"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("module_versions.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    units: Mapped[int] = mapped_column(default=1)
    input_schema: Mapped[dict] = mapped_column(JSONType, default=dict)
    output_schema: Mapped[dict] = mapped_column(JSONType, default=dict)
    examples: Mapped[list] = mapped_column(JSONType, default=list)
    # the bundle schema files input/output refs reach ({"input": {"base", "resources"}}):
    # stored at publish so no schema is ever fetched afterwards
    schema_links: Mapped[dict] = mapped_column(JSONType, default=dict, server_default="{}")

    version: Mapped[ModuleVersion] = relationship(back_populates="operations")

    __table_args__ = (sa.UniqueConstraint("version_id", "name"),)


# --- search index (maintained by marketplace.catalog.search.reindex_module) ---

# Engine-specific objects the migrations create beside these tables (the SQLite
# FTS5 table and its shadow tables, the PostgreSQL GIN index on search_vector and
# the trigram index it replaced); schema comparison skips them because no model
# can describe them.
SEARCH_ENGINE_OBJECTS = ("catalog_search_fts", "ix_catalog_search_vector_gin", "ix_catalog_search_document_trgm")
Base.metadata.info.setdefault("engine_objects", set()).update(SEARCH_ENGINE_OBJECTS)


class SearchEntry(Base):
    """The searchable card of a module: its newest published, non-yanked version."""

    __tablename__ = "catalog_search"

    module_id: Mapped[int] = mapped_column(sa.ForeignKey("modules.id"), primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("module_versions.id"))
    name: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    category: Mapped[str] = mapped_column(sa.String(40), index=True)
    terms_kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    publisher_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    implements: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    # what 10,000 calls a month cost (transfer: the fee; cost_share: the period cost)
    price_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # analysed text per field (CJK runs as bigrams), lower case; document = all of them.
    # Both engines keep them empty here: SQLite's copy lives in FTS5, PostgreSQL's in search_vector
    title_text: Mapped[str] = mapped_column(sa.Text, default="")
    label_text: Mapped[str] = mapped_column(sa.Text, default="")
    summary_text: Mapped[str] = mapped_column(sa.Text, default="")
    operations_text: Mapped[str] = mapped_column(sa.Text, default="")
    readme_text: Mapped[str] = mapped_column(sa.Text, default="")
    document: Mapped[str] = mapped_column(sa.Text, default="")
    # PostgreSQL: the fields above as one weighted tsvector (they stay empty there); SQLite: NULL
    search_vector: Mapped[str | None] = mapped_column(sa.Text().with_variant(TSVECTOR(), "postgresql"))


class SearchTag(Base):
    """One tag of a searchable module (for the tag filter and facet)."""

    __tablename__ = "catalog_search_tags"

    module_id: Mapped[int] = mapped_column(sa.ForeignKey("catalog_search.module_id", ondelete="CASCADE"),
                                           primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(100), primary_key=True, index=True)
