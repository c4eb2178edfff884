"""CLI verbs: ``marketplace webhooks deliver`` (what the scheduler runs every minute)."""
from __future__ import annotations

import time

import click


def register(main: click.Group) -> None:
    """Add this area's commands to the main group."""
    from marketplace.cli import app_session
    from marketplace.webhooks.delivery import deliver_due

    @main.group("webhooks")
    def webhooks():
        """Outgoing webhooks (budget warnings)."""

    @webhooks.command("deliver")
    @click.option("--loop", type=click.IntRange(1, 3600), default=None,
                  help="keep delivering, one round every N seconds")
    def deliver(loop):
        """Send the queued webhook events that are due (retries with backoff)."""
        while True:
            with app_session() as session:
                counts = deliver_due(session)
            click.echo(f"delivered {counts['delivered']}, to retry {counts['pending']}, "
                       f"given up {counts['failed']}")
            if loop is None:
                return
            time.sleep(loop)
