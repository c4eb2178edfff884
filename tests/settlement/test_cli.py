"""Settlement on the command line: settle, statement, ledger balance and pay."""
from __future__ import annotations

import json

from tests.settlement import worked_example as ex
from tests.settlement.conftest import fix_now


def test_settle_statement_and_ledger_verbs(app, market, runner):
    app.config["PLATFORM_FEE_BPS"] = ex.FEE_BPS
    ex.build(market)
    settled = runner.invoke(["settle", ex.PERIOD])
    assert settled.exit_code == 0, settled.output
    assert "charges 27520.00 = earnings 27244.80 + fees 275.20 CNY" in settled.output
    shown = runner.invoke(["statement", ex.PERIOD, "--jurisdiction", "440300"])
    body = json.loads(shown.output)
    assert {k: body[k] for k in ex.SHENZHEN} == ex.SHENZHEN
    csv = runner.invoke(["statement", ex.PERIOD, "--jurisdiction", "440300", "--csv"])
    assert csv.output.splitlines()[-1] == "net,,,,,,-15853.33,,"
    paid = runner.invoke(["ledger", "pay", "330100", "4000.00", "--period", ex.PERIOD])
    assert paid.exit_code == 0 and "receivable 6000.00" in paid.output
    balance = runner.invoke(["ledger", "balance", "330100"])
    assert balance.output.strip() == "330100\treceivable 6000.00\tpayable 0.00\tnet -6000.00 CNY"
    everyone = runner.invoke(["ledger", "balance"])
    assert len(everyone.output.splitlines()) == 5


def test_cli_errors_are_one_line(app, market, runner):
    fix_now(app, "2026-10-20T00:00:00+08:00")
    early = runner.invoke(["settle", ex.PERIOD])
    assert early.exit_code == 1
    assert early.output.strip().startswith("error: period 2026-10 has not ended yet")
    assert len(early.output.strip().splitlines()) == 1
    bad = runner.invoke(["settle", "2026-1"])
    assert bad.exit_code == 1 and "is not a month like 2026-10" in bad.output
    empty = runner.invoke(["statement", "2026-09", "--jurisdiction", "440300"])
    assert empty.exit_code == 0 and json.loads(empty.output)["charges"] == []   # no lines: empty
    missing = runner.invoke(["statement", "2026-09", "--jurisdiction", "999999"])
    assert missing.exit_code == 1 and "jurisdiction 999999 is not registered" in missing.output
    assert len(missing.output.strip().splitlines()) == 1


def test_ledger_pay_is_audited_and_refused_while_stripe_settles(app, market, runner):
    import sqlalchemy as sa

    from marketplace import db
    from marketplace.accounts.models import AuditEntry

    ex.build(market)
    assert runner.invoke(["settle", ex.PERIOD]).exit_code == 0
    paid = runner.invoke(["ledger", "pay", "330100", "12.00", "--period", ex.PERIOD,
                          "--reference", "bank-9"])
    assert paid.exit_code == 0, paid.output
    with app.app_context():
        entry = db.session().scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "ledger.payment")).one()
    assert (entry.actor, entry.subject, entry.detail["amount"]) == ("system", "330100", "¥12.00")
    app.config["SETTLEMENT_PROVIDER"] = "stripe"
    refused = runner.invoke(["ledger", "pay", "330100", "12.00", "--period", ex.PERIOD])
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    assert "the settlement provider is stripe" in refused.output
