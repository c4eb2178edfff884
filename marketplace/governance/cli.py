"""CLI verbs of joint decisions: ``marketplace proposal create|list|show|approve|reject``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from marketplace.errors import MarketplaceError


def _owner(text: str) -> dict[str, Any]:
    """``330000:6000`` → {"code": "330000", "share_bps": 6000} (checked again by the service)."""
    code, sep, bps = text.partition(":")
    if not sep or not (bps.isascii() and bps.isdigit()) or len(bps) > 6:
        raise click.BadParameter(f"{text[:40]!r}: write CODE:BASIS_POINTS, e.g. 330000:6000",
                                 param_hint="--owner")
    return {"code": code, "share_bps": int(bps)}


def _terms(path: str) -> Any:
    """The [terms] table of a TOML file (a manifest, or the table alone) or a JSON file."""
    from marketplace.catalog.bundle import BundleError, parse_toml

    raw = Path(path).read_bytes()
    if len(raw) > 64 * 1024:
        raise MarketplaceError("too_large", f"{path}: a terms file holds at most 64 KiB")
    text = raw.decode("utf-8", errors="replace")
    if path.endswith(".json"):
        from marketplace import jsonio

        data = jsonio.loads(raw)
    else:
        try:
            data = parse_toml(text, Path(path).name)
        except BundleError as exc:
            raise MarketplaceError("invalid_terms", exc.details[0]["where"] + ": "
                                   + exc.details[0]["message"]) from None
    return data.get("terms", data) if isinstance(data, dict) else data


def _line(item: dict) -> str:
    """One proposal as a tab-separated line: id, module, kind, state, approvals, needed."""
    return "\t".join([str(item["id"]), item["module"], item["kind"], item["state"],
                      "approved:" + (",".join(item["approvals"]) or "-"),
                      "rejected:" + (",".join(item["rejections"]) or "-"),
                      "needed:" + (",".join(item["needed"]) or "-")])


def register(main: click.Group) -> None:
    """Add ``marketplace proposal …`` to the main group."""
    from marketplace.cli import Group, RowId, Text, app_session, get_app

    def user_of(session, email: str | None, needed: bool, verb: str):
        """The --as user, refused as the API refuses a token without ``verb``'s scope; the
        service then applies the API's party rules (proposals.authorize) to it."""
        from marketplace.accounts.service import find_user
        from marketplace.governance import proposals

        if email:
            user = find_user(session, email)
            proposals.check_role(user, verb)
            return user
        if needed:
            raise click.UsageError("say who acts: --as EMAIL (a publisher of a party)")
        return None

    def answer(session, item) -> dict:
        from marketplace.governance import proposals
        from marketplace.governance.api import proposal_json

        return proposal_json(item, proposals.module_names(session, [item])[item.module_id])

    @main.group(cls=Group)
    def proposal():
        """Joint decisions on co-owned modules: owners and shares, next terms (联合决策)."""

    def remote_options(command):
        """--url/--token: the verb runs against a remote marketplace with the caller's token."""
        command = click.option("--token", envvar="MARKETPLACE_TOKEN",
                               help="API token (publish to propose and vote, read to look)")(command)
        return click.option("--url", help="a remote marketplace (base URL)")(command)

    def remote(method: str, url: str, token: str | None, path: str, **kwargs) -> dict:
        from marketplace.catalog.cli import remote as call

        return call(method, url, token, path, **kwargs)

    @proposal.command("create")
    @click.argument("module")
    @click.option("--kind", type=click.Choice(["owners", "terms"]), required=True)
    @click.option("--owner", "owners", multiple=True, help="CODE:BASIS_POINTS, repeat per owner")
    @click.option("--build-cost", help="the module's build cost in yuan, e.g. 1200000.00")
    @click.option("--terms-file", type=click.Path(exists=True, dir_okay=False),
                  help="TOML (a manifest or its [terms] table) or JSON with the next terms")
    @click.option("--note", default="", type=Text(1000), help="why (shown to every party)")
    @click.option("--as", "email", help="e-mail of the proposing publisher")
    @remote_options
    def create(module, kind, owners, build_cost, terms_file, note, email, url, token):
        """Propose new owners (--owner …) or the next version's terms (--terms-file)."""
        from marketplace.governance import proposals
        from marketplace.governance.proposal_input import parse_proposal

        body: dict[str, Any] = {"kind": kind, "note": note}
        if kind == "owners":
            if terms_file:
                raise click.UsageError("--terms-file goes with --kind terms")
            body["owners"] = [_owner(text) for text in owners]
            if build_cost is not None:
                body["build_cost"] = build_cost
        else:
            if owners or build_cost is not None:
                raise click.UsageError("--owner and --build-cost go with --kind owners")
            if not terms_file:
                raise click.UsageError("--kind terms needs --terms-file")
            body["terms"] = _terms(terms_file)
        if url:
            click.echo(_line(remote("POST", url, token, f"/modules/{module}/proposals", json=body)))
            return
        with app_session() as session:
            item = proposals.propose(session, module, parse_proposal(session, body),
                                     user_of(session, email, True, "create"))
            line = _line(answer(session, item))
        click.echo(line)

    @proposal.command("list")
    @click.option("--state", type=click.Choice(["open", "accepted", "rejected", "expired", "all"]),
                  default="open", show_default=True)
    @click.option("--module", help="only proposals on this module")
    @click.option("--as", "email", help="e-mail of a user: its pending decisions (default: all)")
    @remote_options
    def list_(state, module, email, url, token):
        """Proposals (open: the decisions still awaiting --as's jurisdiction), tab separated."""
        from marketplace.governance import proposals

        if url:
            query = {"state": state, **({"module": module} if module else {})}
            items = remote("GET", url, token, "/proposals", params=query)["items"]
            lines = [_line(item) for item in items]
        else:
            with app_session() as session:
                found = proposals.listing(session, user_of(session, email, False, "list"), state,
                                          module)
                lines = [_line(answer(session, item)) for item in found]
        for line in lines:
            click.echo(line)
        if not lines:
            click.echo("no proposals", err=True)

    @proposal.command("show")
    @click.argument("proposal_id", type=RowId("proposal"))
    @click.option("--as", "email", help="e-mail of a party's user or an admin")
    @remote_options
    def show(proposal_id, email, url, token):
        """One proposal as JSON."""
        from marketplace.governance import proposals

        if url:
            body = remote("GET", url, token, f"/proposals/{proposal_id}")
            click.echo(json.dumps(body, ensure_ascii=False, indent=2))
            return
        with app_session() as session:
            body = answer(session, proposals.show(session, proposal_id,
                                                  user_of(session, email, False, "show")))
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))

    def vote(decision: str):
        @click.argument("proposal_id", type=RowId("proposal"))
        @click.option("--as", "email", help="e-mail of a publisher of a party")
        @remote_options
        def run(proposal_id, email, url, token):
            from marketplace.governance import proposals

            if url:
                click.echo(_line(remote("POST", url, token, f"/proposals/{proposal_id}/{decision}")))
                return
            review = bool(get_app().config.get("REQUIRE_REVIEW", True))
            with app_session() as session:
                item = proposals.vote(session, proposal_id, user_of(session, email, True, decision),
                                      decision, require_review=review)
                line = _line(answer(session, item))
            click.echo(line)
        run.__doc__ = f"{decision.capitalize()} proposal PROPOSAL_ID for your jurisdiction."
        return run

    proposal.command("approve")(vote("approve"))
    proposal.command("reject")(vote("reject"))
