"""Alembic, driven from code: the only way the schema changes."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at ``migrations/`` and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def revision(url: str, message: str) -> None:
    """Autogenerate a new revision from the models (development aid)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


def include_name(name: str | None, type_: str, _parents: dict) -> bool:
    """Alembic filter: skip engine objects no model describes (FTS5 tables, trigram indexes)."""
    from marketplace.models import Base

    if type_ not in ("table", "index") or not name:
        return True
    return not any(name == obj or name.startswith(obj + "_")
                   for obj in Base.metadata.info.get("engine_objects", ()))
