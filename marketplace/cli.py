"""The ``marketplace`` command line: one readable line on error, never a traceback."""
from __future__ import annotations

import contextlib
import os
import sys
from importlib import import_module
from typing import Iterator

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from marketplace.errors import MarketplaceError

# modules whose ``register(main)`` adds their commands
COMMAND_MODULES = [
    "marketplace.metering.cli",
    "marketplace.accounts.cli",
    "marketplace.catalog.cli",
    "marketplace.runtime.cli",
    "marketplace.settlement.cli",
    "marketplace.settlement.cli_corrections",
    "marketplace.demo_cli",
    "marketplace.ops.cli",
    "marketplace.governance.cli",
    "marketplace.webhooks.cli",
]


class Group(click.Group):
    """Turns every failure into one line on stderr and a non-zero exit."""

    def main(self, *args, **kwargs):
        """Click's own usage errors too: one ``error:`` line (with the command's usage) and exit 1."""
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            usage = exc.ctx.get_usage() if exc.ctx is not None else ""
            _fail(" ".join(exc.format_message().split()) + (f" ({' '.join(usage.split())})" if usage else ""))
        except click.Abort:
            _fail("aborted")
        except click.ClickException as exc:
            _fail(exc.format_message())
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except MarketplaceError as exc:
            _fail(exc.message + _details(exc))
        except SQLAlchemyError as exc:
            _fail(f"database error: {str(exc.orig if hasattr(exc, 'orig') and exc.orig else exc).splitlines()[0]}"
                  " (did you run `marketplace db upgrade`?)")
        except (OSError, ValueError) as exc:
            _fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - the CLI promise: no tracebacks
            if os.environ.get("MARKETPLACE_DEBUG"):
                raise
            _fail(f"unexpected {type(exc).__name__}: {exc} (MARKETPLACE_DEBUG=1 shows the traceback)")


def _details(exc: MarketplaceError) -> str:
    """Located details appended on the same line, those that add something to the message."""
    parts = []
    for d in exc.details or ():
        where, message = str(d.get("where", "") or ""), str(d.get("message", "") or "")
        if message and message in exc.message:
            continue        # the message already says it
        parts.append(f"{where}: {message}" if where else message)
    return " — " + "; ".join(parts) if parts else ""


class RowId(click.ParamType):
    """An id of a stored row: a positive integer the id columns can hold, else 'no such …'."""

    name = "id"
    MAX = 2**31 - 1     # ids are 32-bit integer columns

    def __init__(self, noun: str) -> None:
        self.noun = noun

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not (text.isascii() and text.isdigit()):
                self.fail(f"{value!r} is not a {self.noun} id (a positive whole number)", param, ctx)
            number = int(text) if len(text) <= 12 else self.MAX + 1
        if not 1 <= number <= self.MAX:
            self.fail(f"no such {self.noun} {str(value)[:40]}", param, ctx)
        return number


class Text(click.ParamType):
    """Free text of at most ``limit`` characters (names: their column, 100; reasons 1,000)."""

    name = "text"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def convert(self, value, param, ctx):
        text = str(value)
        if len(text) > self.limit:
            self.fail(f"holds {len(text):,} characters; at most {self.limit:,} are accepted",
                      param, ctx)
        return text


def _fail(message: str) -> None:
    """Print ``error: …`` and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def get_app():
    """The Flask app for this invocation (built once)."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        from marketplace import create_app

        root.obj = create_app()
    return root.obj


@contextlib.contextmanager
def app_session() -> Iterator[Session]:
    """An app context and its database session; commits on success."""
    from marketplace import db

    app = get_app()
    with app.app_context():
        session = db.session()
        yield session
        session.commit()


@click.group(cls=Group)
@click.version_option(package_name="gov-module-marketplace")
def main() -> None:
    """Gov Module Marketplace (政务模块市场)."""


for _module in COMMAND_MODULES:
    import_module(_module).register(main)
