"""marketplace usage import / seal / verify."""
from __future__ import annotations

import json

import sqlalchemy as sa

from marketplace import db
from marketplace.metering.models import UsageEvent
from tests.metering.conftest import event


def test_import_jsonl_in_batches_with_summary(runner, factory, modules, tmp_path, app):
    modules.install(modules.module(), "440300")
    email = factory.user("adopter", "440300")
    events = [event(f"e{i}") for i in range(2500)] + [event("e1"), event("bad", module="nope")]
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    result = runner.invoke(["usage", "import", str(path), "--as", email])
    assert result.exit_code == 0, result.output
    assert "2502 events for 440300: 2500 accepted, 1 duplicates, 1 rejected" in result.stdout
    assert "rejected event 2502 (id 'bad'): not_installed" in result.stderr
    with app.app_context():
        assert db.session().scalar(sa.select(sa.func.count()).select_from(UsageEvent)) == 2500
    again = runner.invoke(["usage", "import", str(path), "--as", email])
    assert "0 accepted, 2501 duplicates, 1 rejected" in again.stdout


def test_import_csv(runner, factory, modules, tmp_path, app):
    modules.install(modules.module(), "440300")
    email = factory.user("adopter", "440300")
    path = tmp_path / "usage.csv"
    path.write_text("id,module,operation,units,occurred_at\n"
                    "c1,enterprise-registration,submit_application,3,2026-10-05T08:00:00+08:00\n"
                    "c2,enterprise-registration,query_status,,2026-10-05T09:00:00+08:00\n"
                    "c3,enterprise-registration,submit_application,1.5,2026-10-05T09:00:00+08:00\n")
    result = runner.invoke(["usage", "import", str(path), "--as", email])
    assert result.exit_code == 0, result.output
    assert "3 events for 440300: 2 accepted, 0 duplicates, 1 rejected" in result.stdout
    assert "invalid_units" in result.stderr
    with app.app_context():
        units = dict(db.session().execute(sa.select(UsageEvent.event_id, UsageEvent.units)).all())
    assert units == {"c1": 3, "c2": 2}


def test_import_unknown_user_is_one_line_error(runner, tmp_path):
    path = tmp_path / "usage.jsonl"
    path.write_text("")
    result = runner.invoke(["usage", "import", str(path), "--as", "nobody@gov.example.cn"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: no user")


def test_seal_and_verify_exit_codes(runner, factory, modules, tmp_path, app):
    installation = modules.install(modules.module(), "440300")
    email = factory.user("adopter", "440300")
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(json.dumps(event(f"e{i}", occurred_at=f"2026-10-0{i}T08:00:00+08:00"))
                              for i in range(1, 4)))
    runner.invoke(["usage", "import", str(path), "--as", email])
    sealed = runner.invoke(["usage", "seal", "--up-to", "2026-10-31"])
    assert "sealed 3 installation-days" in sealed.stdout
    assert runner.invoke(["usage", "verify"]).exit_code == 0
    with app.app_context():
        db.session().execute(sa.delete(UsageEvent).where(UsageEvent.event_id == "e2"))
        db.session().commit()
    result = runner.invoke(["usage", "verify", "--installation", str(installation)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"installation {installation} day 2026-10-02: deleted — 1 event(s) missing; "
        "sealed 1 events/1 units, found 0/0"]
