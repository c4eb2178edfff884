"""CLI verbs: db upgrade, jurisdiction, user, token, serve."""
from __future__ import annotations

import click

from marketplace.accounts import service


def register(main: click.Group) -> None:
    """Add this area's commands to the main group."""
    from marketplace.cli import Group, RowId, Text, app_session, get_app

    @main.group(cls=Group)
    def db():
        """Database schema (Alembic migrations are the only schema path)."""

    @db.command("upgrade")
    @click.option("--revision", default="heads", show_default=True)
    def db_upgrade(revision: str):
        """Apply migrations up to REVISION."""
        from marketplace.migrate import upgrade

        upgrade(get_app().config["DATABASE_URL"], revision)
        click.echo(f"database at {revision}", err=True)

    @main.group(cls=Group)
    def jurisdiction():
        """Jurisdictions (GB/T 2260 administrative divisions)."""

    @jurisdiction.command("add")
    @click.argument("code")
    @click.argument("name", type=Text(100))
    @click.option("--level", type=click.Choice(["province", "city", "county"]))
    @click.option("--parent", "parent_code")
    def jurisdiction_add(code, name, level, parent_code):
        """Register jurisdiction CODE called NAME."""
        with app_session() as session:
            item = service.add_jurisdiction(session, code, name, level, parent_code)
            click.echo(f"{item.code} {item.name} ({item.level})")

    @jurisdiction.command("load")
    def jurisdiction_load():
        """Load the bundled GB/T 2260 divisions file (idempotent)."""
        with app_session() as session:
            added = service.load_divisions(session)
        click.echo(f"loaded {added} new jurisdictions")

    @main.group(cls=Group)
    def user():
        """Users of the web console and owners of API tokens."""

    @user.command("add")
    @click.argument("email")
    @click.option("--jurisdiction", "code", required=True)
    @click.option("--role", type=click.Choice(["publisher", "adopter", "admin"]), required=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--name", default="", type=Text(100))
    def user_add(email, code, role, password, name):
        """Create user EMAIL of a jurisdiction with a role."""
        with app_session() as session:
            item = service.add_user(session, email, password, code, role, name)
            click.echo(f"user {item.email} ({item.role}, {item.jurisdiction_code})")

    @user.command("password")
    @click.argument("email")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    def user_password(email, password):
        """Set EMAIL's password (≥ 12 characters, not a common one); their console sessions end."""
        with app_session() as session:
            service.set_password(session, service.find_user(session, email), password)
        click.echo(f"password of {email} changed", err=True)

    @main.group(cls=Group)
    def token():
        """API tokens for machines."""

    @token.command("issue")
    @click.argument("email")
    @click.option("--scopes", required=True, help="comma separated: read,publish,install,invoke,usage,admin")
    @click.option("--name", default="cli", type=Text(100))
    def token_issue(email, scopes, name):
        """Issue a token for EMAIL; prints the token alone on stdout (shown once)."""
        with app_session() as session:
            _, secret = service.issue_token(session, service.find_user(session, email), scopes, name)
        click.echo(secret)

    @token.command("revoke")
    @click.argument("token_id", type=RowId("token"))
    def token_revoke(token_id):
        """Revoke token TOKEN_ID."""
        with app_session() as session:
            service.revoke_token(session, token_id)
        click.echo(f"token {token_id} revoked", err=True)

    @token.command("list")
    @click.argument("email")
    def token_list(email):
        """List EMAIL's tokens (never the secrets)."""
        with app_session() as session:
            owner = service.find_user(session, email)
            for t in service.list_tokens(session, owner):
                state = "revoked" if t.revoked_at else "active"
                click.echo(f"{t.id}\t{t.prefix}…\t{t.scopes}\t{state}\t{t.last_used_at or '-'}")

    @main.command()
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
    @click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
    def serve(host, port, workers):
        """Serve the marketplace with gunicorn (real worker processes)."""
        from marketplace.server import serve as run

        run(host, port, workers)
