"""CLI verbs: install, installations, uninstall (acting as a user of a jurisdiction)."""
from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add this area's commands to the main group."""
    from marketplace.accounts.service import find_user
    from marketplace.catalog.store import store_for
    from marketplace.cli import RowId, app_session, get_app
    from marketplace.runtime import service

    def announce(session, item, hook: str) -> None:
        config = get_app().config
        service.announce(session, store_for(config), item, hook, config["INVOKE_TIMEOUT"])

    @main.command("install")
    @click.argument("module")
    @click.option("--as", "email", required=True, help="e-mail of the adopting user")
    @click.option("--version", help="version to install (default: newest published)")
    @click.option("--accept-terms", is_flag=True, help="accept the version's licensing terms")
    @click.option("--with-dependencies", is_flag=True,
                  help="a composite: install the modules it calls with it (each its own terms)")
    @click.option("--choose", multiple=True, metavar="INTERFACE=MODULE",
                  help="the module serving an interface with several implementations")
    def install(module, email, version, accept_terms, with_dependencies, choose):
        """Install MODULE for the user's jurisdiction (an agreement under its terms)."""
        from marketplace.errors import MarketplaceError
        from marketplace.runtime import dependencies

        pairs = [c.split("=", 1) for c in choose]
        if any(len(p) != 2 for p in pairs):
            raise MarketplaceError("invalid_request", "--choose takes INTERFACE=MODULE")
        with app_session() as session:
            user = find_user(session, email)
            if with_dependencies:
                item, made = service.install_with_dependencies(
                    session, user, module, version, accept_terms,
                    choose=dependencies.check_choose(dict(pairs)))
            else:
                item, made = service.install(session, user, module, version, accept_terms), []
            session.commit()
            for each in made + [item]:
                announce(session, each, "module_installed")
                click.echo(f"{each.id}\t{each.module.name}\t{each.version.version}\t"
                           f"{each.terms.get('kind', '')}\t{each.state}")

    @main.command("installations")
    @click.option("--as", "email", required=True, help="e-mail of a user of the jurisdiction")
    @click.option("--all", "show_all", is_flag=True, help="include ended installations")
    def installations(email, show_all):
        """List the installations of the user's jurisdiction."""
        with app_session() as session:
            user = find_user(session, email)
            for item in service.list_installations(session, user.jurisdiction_code, show_all):
                click.echo(f"{item.id}\t{item.module.name}\t{item.version.version}\t"
                           f"{item.terms.get('kind', '')}\t{item.state}")

    @main.command("uninstall")
    @click.argument("installation_id", type=RowId("installation"))
    @click.option("--as", "email", required=True, help="e-mail of a user of the jurisdiction")
    def uninstall(installation_id, email):
        """End installation ID (usage so far stays billable)."""
        with app_session() as session:
            user = find_user(session, email)
            item = service.uninstall(session, user, installation_id)
            session.commit()
            announce(session, item, "module_uninstalled")
            click.echo(f"{item.id}\t{item.module.name}\tended")
