"""Commands of operations: backup, restore, moving bundles between stores, monitoring rollups."""
from __future__ import annotations

from pathlib import Path

import click

from marketplace.cli import app_session, get_app


def register(main: click.Group) -> None:
    """Add this area's commands to the main group."""

    @main.command("backup")
    @click.argument("folder", type=click.Path(path_type=Path))
    def backup_cmd(folder: Path):
        """Back up the database and every bundle into a new or empty FOLDER."""
        from marketplace.catalog.stores import store_for
        from marketplace.ops.backup import backup

        app = get_app()
        manifest = backup(app.config["DATABASE_URL"], store_for(app.config), folder)
        click.echo(f"backed up the {manifest['dialect']} database and "
                   f"{len(manifest['artifacts'])} bundles into {folder}")

    @main.command("restore")
    @click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
    def restore_cmd(folder: Path):
        """Restore FOLDER into the configured (absent or empty) database and artifact store."""
        from marketplace.catalog.stores import store_for
        from marketplace.ops.backup import restore

        app = get_app()
        manifest = restore(app.config["DATABASE_URL"], lambda: store_for(app.config), folder)
        click.echo(f"restored the {manifest['dialect']} database and "
                   f"{len(manifest['artifacts'])} bundles from {folder}; check it with "
                   "`marketplace usage verify`")

    @main.group()
    def store():
        """The artifact store (MARKETPLACE_ARTIFACT_STORE)."""

    @store.command("migrate")
    @click.option("--to", "target", required=True,
                  help="the new store: file:///path, db or s3://bucket/prefix")
    @click.option("--from", "source", default=None,
                  help="the old store (default: the configured one)")
    def store_migrate(target: str, source: str | None):
        """Copy every bundle into another store, each verified; then point the config at it."""
        from marketplace.catalog.stores import open_store, store_for

        config = get_app().config
        extra = {"artifact_dir": config["ARTIFACT_DIR"], "database_url": config["DATABASE_URL"],
                 "s3_endpoint": config.get("S3_ENDPOINT", "")}
        old = open_store(source, **extra) if source else store_for(config)
        new = open_store(target, **extra)
        copied = present = 0
        for sha in list(old.digests()):
            data = old.get(sha)                   # verified before it is copied
            if new.exists(sha):
                new.get(sha)                      # and the copy already there verified too
                present += 1
                continue
            new.put(data)
            new.get(sha)
            copied += 1
        click.echo(f"{copied} copied, {present} already there, all verified in {target}; "
                   f"now set MARKETPLACE_ARTIFACT_STORE={target}")

    @main.group()
    def monitor():
        """Operational monitoring (运行监测)."""

    @monitor.command("rollup")
    @click.option("--from", "start", required=True, help="first day, YYYY-MM-DD")
    @click.option("--to", "end", required=True, help="last day, YYYY-MM-DD")
    def monitor_rollup(start: str, end: str):
        """Recompute the daily rollups of [FROM, TO] from the usage events."""
        from marketplace.metering.series import parse_day
        from marketplace.ops import rollup

        first, last = rollup.window(parse_day(start), parse_day(end))
        with app_session() as session:
            rows = rollup.roll(session, first, last)
        click.echo(f"rolled up {rows} installation-days from {first} to {last}")
