"""CLI verbs: module build, publish (local or remote), review, yank, list."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from marketplace.errors import MarketplaceError

TIMEOUT = 120


def api_base(url: str) -> str:
    """``http://host:8000`` or ``…/api/v1`` → the API base ending in /api/v1."""
    url = url.rstrip("/")
    return url if url.endswith("/api/v1") else url + "/api/v1"


def remote(method: str, url: str, token: str | None, path: str, **kwargs: Any) -> dict:
    """Call a remote marketplace; its JSON error becomes a MarketplaceError."""
    import requests

    if not token:
        raise MarketplaceError("unauthorized", "--token (or MARKETPLACE_TOKEN) is needed with --url")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        response = requests.request(method, api_base(url) + path, headers=headers,
                                    timeout=TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        raise MarketplaceError("unreachable", f"cannot reach {url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        raise MarketplaceError(body.get("error", f"http_{response.status_code}"),
                               body.get("message", f"{url} answered {response.status_code}"),
                               status=response.status_code, details=body.get("details"))
    return body


def _user(session, email: str | None):
    """The acting user for local commands (None: the operator at the console)."""
    from marketplace.accounts.service import find_user

    return find_user(session, email) if email else None


def _line(item: dict) -> str:
    flags = " (yanked)" if item.get("yanked") else ""
    return f"{item['name']} {item['version']} {item['state']}{flags} sha256:{item['sha256']}"


def register(main: click.Group) -> None:
    """Add this area's commands to the main group."""
    from marketplace.cli import Group, Text, app_session, get_app

    @main.group(cls=Group)
    def module():
        """Module bundles: build, publish, review, yank, list."""

    @module.command("build")
    @click.argument("src_dir", type=click.Path(exists=True, file_okay=False))
    @click.option("-o", "--out", "out_dir", default="dist", show_default=True,
                  help="folder for NAME-VERSION.zip")
    def build(src_dir, out_dir):
        """Build the reproducible bundle of module folder SRC_DIR; prints its path."""
        import hashlib

        from marketplace.catalog.bundle import build_bundle

        target = build_bundle(src_dir, out_dir)
        click.echo(str(target))
        click.echo(f"sha256 {hashlib.sha256(target.read_bytes()).hexdigest()}", err=True)

    @module.command("publish")
    @click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--url", help="publish to a remote marketplace (base URL)")
    @click.option("--token", envvar="MARKETPLACE_TOKEN", help="API token with scope publish")
    @click.option("--as", "email", help="local publish: e-mail of the publishing user")
    def publish(bundle_file, url, token, email):
        """Publish BUNDLE_FILE (checks run as for an upload)."""
        data = Path(bundle_file).read_bytes()
        if url:
            files = {"bundle": (Path(bundle_file).name, data, "application/zip")}
            click.echo(_line(remote("POST", url, token, "/modules", files=files)))
            return
        if not email:
            raise click.UsageError("local publish needs --as EMAIL (the publishing user); "
                                   "or give --url and --token")
        from marketplace.catalog import service
        from marketplace.catalog.api import version_json
        from marketplace.catalog.store import store_for

        config = get_app().config
        with app_session() as session:
            result = service.publish(session, data, _user(session, email), store_for(config),
                                     require_review=bool(config.get("REQUIRE_REVIEW", True)),
                                     check_timeout=float(config.get("CHECK_TIMEOUT", 10)))
            line = _line(version_json(result.version))
        click.echo(line if result.created else f"{line} (already published: same bytes)")

    @module.command("review")
    @click.argument("name")
    @click.argument("version")
    @click.option("--approve/--reject", default=None, help="the decision")
    @click.option("--reason", default="", type=Text(1000), help="why (required to reject)")
    @click.option("--as", "email", help="e-mail of the reviewing admin (journaled)")
    @click.option("--url", help="review on a remote marketplace")
    @click.option("--token", envvar="MARKETPLACE_TOKEN", help="API token with scope admin")
    def review(name, version, approve, reason, email, url, token):
        """Approve or reject pending version VERSION of module NAME."""
        if approve is None:
            raise click.UsageError("say --approve or --reject")
        decision = "approve" if approve else "reject"
        if url:
            body = {"decision": decision, "reason": reason}
            click.echo(_line(remote("POST", url, token, f"/reviews/{name}/{version}", json=body)))
            return
        from marketplace.catalog import service
        from marketplace.catalog.api import version_json

        with app_session() as session:
            item = service.review(session, name, version, decision, reason,
                                  _user(session, email))
            line = _line(version_json(item))
        click.echo(line)

    @module.command("yank")
    @click.argument("name")
    @click.argument("version")
    @click.option("--reason", required=True, type=Text(1000),
                  help="why the version must not be installed")
    @click.option("--as", "email", help="e-mail of the acting publisher or admin (journaled)")
    @click.option("--url", help="yank on a remote marketplace")
    @click.option("--token", envvar="MARKETPLACE_TOKEN", help="API token (publish or admin)")
    def yank(name, version, reason, email, url, token):
        """Yank version VERSION of module NAME (kept and downloadable; no new installs)."""
        if url:
            path = f"/modules/{name}/{version}/yank"
            click.echo(_line(remote("POST", url, token, path, json={"reason": reason})))
            return
        from marketplace.catalog import service
        from marketplace.catalog.api import version_json

        with app_session() as session:
            item = service.yank(session, name, version, reason, _user(session, email))
            line = _line(version_json(item))
        click.echo(line)

    @module.command("list")
    @click.argument("name", required=False)
    @click.option("--pending", is_flag=True, help="only versions waiting for review")
    def list_(name, pending):
        """List module versions (all, or of module NAME), tab separated."""
        from marketplace.catalog import service

        with app_session() as session:
            states = ("pending_review",) if pending else None
            rows = [(v.module.name, v.version, v.state, "yanked" if v.yanked else "-",
                     v.module.publisher_code, v.terms_kind, v.sha256[:12])
                    for v in service.list_versions(session, name, states)]
        for row in rows:
            click.echo("\t".join(row))
        if not rows:
            click.echo("no module versions", err=True)
