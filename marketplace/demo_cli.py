"""`marketplace demo`: bring up a populated marketplace on the embedded default and serve it."""
from __future__ import annotations

from pathlib import Path

import click

MODULES_DIR = Path(__file__).resolve().parent.parent / "modules"


def register(main: click.Group) -> None:
    """Add the demo command to the main group."""
    from marketplace.cli import get_app

    @main.command("demo")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
    @click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
    @click.option("--no-serve", is_flag=True, help="populate and print the logins, then exit")
    @click.option("--reset", is_flag=True, help="wipe the embedded SQLite database first")
    @click.option("--modules", "modules_dir", default=str(MODULES_DIR), show_default=True,
                  type=click.Path(exists=True, file_okay=False), help="sample modules folder")
    def demo(host, port, workers, no_serve, reset, modules_dir):
        """A populated marketplace: provinces publish, cities adopt, three months of usage, settled."""
        from marketplace import demo as demo_data

        app = get_app()
        if reset:
            demo_data.reset(app)
            click.echo("wiped the demo database", err=True)
        say = lambda text: click.echo(f"· {text}", err=True)  # noqa: E731
        summary = demo_data.populate(app, Path(modules_dir), say)
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        if no_serve:   # nothing listens: say how to serve it instead of printing an address
            click.echo(f"\n政务模块市场 demo data ready (not serving); serve it with: "
                       f"marketplace serve --port {port}")
        else:
            click.echo(f"\n政务模块市场 demo: http://{shown_host}:{port}/")
        click.echo(f"settled periods: {', '.join(summary.settled)}")
        click.echo("logins (role, e-mail, password):")
        for role, email, password in summary.logins:
            click.echo(f"  {role:<9} {email:<26} {password}")
        if no_serve:
            return
        from marketplace.server import serve

        app.extensions["db"].engine.dispose()  # workers open their own connections
        serve(host, port, workers)
