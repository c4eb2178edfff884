"""CLI verbs of corrections (DESIGN §15): ``marketplace adjustment …`` and ``marketplace dispute …``.

The command line acts as the operator (an administrator): it adjusts closed
periods, lists and resolves disputes; an adopter's dispute is opened for a
named jurisdiction from a CSV of its records.
"""
from __future__ import annotations

import json

import click

from marketplace.settlement import adjustments, disputes, evidence


def register(main: click.Group) -> None:
    """Add the ``adjustment`` and ``dispute`` groups to the main group."""
    from marketplace.cli import Group, app_session, get_app

    @main.group(cls=Group)
    def adjustment():
        """Adjust closed periods (booked into the next settlement)."""

    @adjustment.command("create", context_settings={"ignore_unknown_options": True})
    @click.argument("period")
    @click.argument("installation", type=click.IntRange(1, 2**31 - 1))
    @click.argument("amount")
    @click.option("--reason", required=True, help="why (shown to the adopter and owners)")
    def adjustment_create(period, installation, amount, reason):
        """Credit (-12.34) or debit (5.00) INSTALLATION for closed PERIOD."""
        if len(reason) > 1000:
            raise click.BadParameter("at most 1,000 characters", param_hint="--reason")
        with app_session() as session:
            item = adjustments.create(session, None, period, installation,
                                      adjustments.parse_signed(amount), reason)
            session.commit()
            click.echo(_adjustment_line(adjustments.adjustment_json(item)))

    @adjustment.command("list")
    @click.option("--period", default=None, help="only adjustments of this period")
    def adjustment_list(period):
        """Adjustments, newest first."""
        with app_session() as session:
            for item in adjustments.list_adjustments(session, period):
                click.echo(_adjustment_line(adjustments.adjustment_json(item)))

    @main.group(cls=Group)
    def dispute():
        """Disputes of settled usage: list, show, open, answer, resolve."""

    @dispute.command("list")
    @click.option("--state", type=click.Choice(["open", "answered", "resolved"]), default=None)
    def dispute_list(state):
        """All disputes (the operator sees every one)."""
        with app_session() as session:
            for item in disputes.list_for(session, None, state):
                rec = item.reconciliation
                click.echo(f"{item.id}\t{item.state}\t{item.period}\t{item.module_name}\t"
                           f"{item.adopter_code}\tmatched {rec['matched']}\tonly platform "
                           f"{rec['only_platform']}\tonly adopter {rec['only_adopter']}")

    @dispute.command("show")
    @click.argument("dispute_id", type=click.IntRange(1, 2**31 - 1))
    def dispute_show(dispute_id):
        """One dispute as JSON."""
        with app_session() as session:
            item = disputes.get(session, dispute_id, None)
            click.echo(json.dumps(disputes.dispute_json(session, item), ensure_ascii=False, indent=2))

    @dispute.command("open")
    @click.argument("period")
    @click.argument("module")
    @click.option("--jurisdiction", "code", required=True, help="the adopter disputing")
    @click.option("--records", type=click.File("rb"), required=True,
                  help="CSV of its records: id[,occurred_at,units]")
    @click.option("--reason", required=True)
    def dispute_open(period, module, code, records, reason):
        """Open a dispute of jurisdiction CODE on its use of MODULE in PERIOD."""
        from marketplace.accounts.service import get_jurisdiction

        if len(reason) > 1000 or len(module) > 64:
            raise click.BadParameter("reason at most 1,000 characters, module at most 64")
        rows = evidence.from_csv(records.read(evidence.MAX_CSV_BYTES + 1))
        with app_session() as session:
            get_jurisdiction(session, code)
            item = disputes.open_dispute(session, None, code, period, module, reason, rows,
                                         int(get_app().config.get("DISPUTE_DAYS") or 30))
            session.commit()
            rec = item.reconciliation
            click.echo(f"dispute {item.id} open: matched {rec['matched']}, only platform "
                       f"{rec['only_platform']}, only adopter {rec['only_adopter']}, "
                       f"duplicates {rec['duplicates']}")

    @dispute.command("answer")
    @click.argument("dispute_id", type=click.IntRange(1, 2**31 - 1))
    @click.argument("text")
    def dispute_answer(dispute_id, text):
        """Record the owners' answer TEXT (open → answered)."""
        if len(text) > 1000:
            raise click.BadParameter("at most 1,000 characters", param_hint="TEXT")
        with app_session() as session:
            item = disputes.answer(session, None, dispute_id, None, text)
            session.commit()
            click.echo(f"dispute {item.id} {item.state}")

    @dispute.command("resolve")
    @click.argument("dispute_id", type=click.IntRange(1, 2**31 - 1))
    @click.argument("decision", type=click.Choice(["uphold", "adjust"]))
    @click.option("--amount", default=None, help="with adjust: e.g. -12.34 (a credit)")
    def dispute_resolve(dispute_id, decision, amount):
        """Resolve a dispute: uphold the bill, or adjust it by --amount."""
        with app_session() as session:
            item = disputes.resolve(session, None, dispute_id, decision,
                                    None if amount is None else adjustments.parse_signed(amount),
                                    answer_days=int(get_app().config.get("DISPUTE_ANSWER_DAYS",
                                                                         disputes.ANSWER_DAYS)))
            session.commit()
            click.echo(f"dispute {item.id} resolved: {item.decision}")


def _adjustment_line(item: dict) -> str:
    """One adjustment as a tab-separated line."""
    return (f"{item['id']}\t{item['period']}\tinstallation {item['installation']}\t"
            f"{item['amount']} {item['currency']}\t{item['state']}"
            f"{' in ' + item['booked_period'] if item['booked_period'] else ''}\t{item['reason']}")
