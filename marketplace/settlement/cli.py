"""CLI verbs: settle, statement, ledger balance, ledger pay."""
from __future__ import annotations

import json

import click

from marketplace.settlement import service


def register(main: click.Group) -> None:
    """Add this area's commands to the main group."""
    from marketplace.cli import Group, app_session, get_app

    @main.command()
    @click.argument("period")
    @click.option("--provider", default=None, help="settlement provider (default: configured)")
    def settle(period, provider):
        """Settle PERIOD (YYYY-MM): price, write statements, close it, issue them. Idempotent."""
        from marketplace.plugins import get_provider

        config = get_app().config
        with app_session() as session:
            result = service.settle(session, service.check_period(period),
                                    get_provider(config, provider), actor="cli",
                                    fee_bps=int(config.get("PLATFORM_FEE_BPS") or 0),
                                    grace_days=int(config.get("GRACE_DAYS") or 0))
        totals = result["totals"]
        click.echo(f"period {period} {result['state']}: {totals['lines']} lines, "
                   f"{totals['statements']} statements, charges {totals['charges']} = "
                   f"earnings {totals['earnings']} + fees {totals['fees']} {totals['currency']}")

    @main.command()
    @click.argument("period")
    @click.option("--jurisdiction", "code", required=True)
    @click.option("--csv", "as_csv", is_flag=True, help="CSV instead of JSON")
    def statement(period, code, as_csv):
        """Print the statement of jurisdiction CODE for PERIOD (a draft while it is not settled)."""
        from marketplace.settlement import drafts

        fee_bps = int(get_app().config.get("PLATFORM_FEE_BPS") or 0)
        with app_session() as session:
            if as_csv:
                click.echo(drafts.statement_csv(session, period, code, fee_bps)[0], nl=False)
            else:
                click.echo(json.dumps(drafts.statement(session, period, code, fee_bps),
                                      ensure_ascii=False, indent=2))

    @main.group(cls=Group)
    def ledger():
        """The built-in ledger provider: balances and payments."""

    @ledger.command("balance")
    @click.argument("code", required=False)
    def ledger_balance(code):
        """Balances per jurisdiction (or of CODE): receivable, payable, net."""
        from marketplace.plugins import get_ledger

        from marketplace.accounts.service import get_jurisdiction

        ledger = get_ledger(get_app().config)
        with app_session() as session:
            if code is not None:
                get_jurisdiction(session, code)     # an unknown code is an error, not no lines
            for item in ledger.balances(session, code):
                click.echo(f"{item['jurisdiction']}\treceivable {item['receivable']}\t"
                           f"payable {item['payable']}\tnet {item['net']} {item['currency']}")

    @ledger.command("pay")
    @click.argument("code")
    @click.argument("amount")
    @click.option("--period", required=True)
    @click.option("--out", "payout", is_flag=True, help="the platform paid CODE (a payout)")
    @click.option("--reference", default="", help="payment reference; books it only once")
    def ledger_pay(code, amount, period, payout, reference):
        """Record that CODE paid AMOUNT (e.g. 495.00) for PERIOD (--out: was paid)."""
        from flask import current_app

        from marketplace.accounts.service import get_jurisdiction
        from marketplace.money import parse_money

        with app_session() as session:
            get_jurisdiction(session, code)
            item = service.book_payment(
                session, None, current_app.config, code, parse_money(amount, "CNY"),
                period, "out" if payout else "in", reference)
        click.echo(f"{item['jurisdiction']}\treceivable {item['receivable']}\t"
                   f"payable {item['payable']}\tnet {item['net']}")
