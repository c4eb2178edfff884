"""Backup and restore drills (DESIGN §16) on the test's database engine: statements identical,
``usage verify`` clean, every bundle verified, refusals that name what to fix."""
from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from marketplace import create_app
from marketplace.catalog.stores import store_for
from tests.conftest import BACKEND
from tests.runtime.conftest import PAY

LATER = "2026-11-10T10:00:30+08:00"


def _empty_database(request, tmp_path) -> str:
    """A URL of a database that does not exist yet (SQLite) or has no tables (PostgreSQL)."""
    if BACKEND == "postgresql":
        return request.getfixturevalue("pg_cluster").create_database(
            f"restored_{uuid.uuid4().hex[:8]}")
    return f"sqlite:///{tmp_path / 'restored' / 'marketplace.db'}"


def _app_on(url: str, artifacts) -> object:
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": url,
                       "ARTIFACT_DIR": str(artifacts), "NOW": LATER, "TIMEZONE": "Asia/Shanghai"})


def _runner(app):
    from click.testing import CliRunner

    from marketplace.cli import main

    class Runner(CliRunner):
        def invoke(self, *args, **kwargs):
            kwargs.setdefault("obj", app)
            return super().invoke(main, *args, **kwargs)
    return Runner()


@pytest.fixture
def settled(app, client, runner, factory, catalog, shenzhen, fixed_clock):
    """October: a paid module installed and called; settled in November; days sealed."""
    fixed_clock("2026-10-05T10:00:30+08:00")
    catalog.toy(terms=PAY)
    catalog.toy(name="toy-other", version="2.0.0")
    assert shenzhen.install("toy-echo").status_code == 201
    for _ in range(3):
        assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    fixed_clock(LATER)
    assert runner.invoke(["settle", "2026-10"]).exit_code == 0
    assert runner.invoke(["usage", "seal"]).exit_code == 0
    admin = factory.headers("admin", "110000", "read admin")
    statement = client.get("/api/v1/statements/2026-10?jurisdiction=440300", headers=admin)
    assert statement.status_code == 200 and statement.get_json()["charges"]
    return admin, statement.get_json()


def test_restore_drill_statements_identical_usage_verified_bundles_verified(
        app, runner, settled, tmp_path, request):
    admin, statement = settled
    backup = runner.invoke(["backup", str(tmp_path / "bk")])
    assert backup.exit_code == 0, backup.output
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    assert len(manifest["artifacts"]) == 2 and manifest["dialect"] == app.extensions[
        "db"].engine.dialect.name

    restored = _app_on(_empty_database(request, tmp_path), tmp_path / "restored-artifacts")
    try:
        cli = _runner(restored)
        result = cli.invoke(["restore", str(tmp_path / "bk")])
        assert result.exit_code == 0, result.output
        verify = cli.invoke(["usage", "verify"])
        assert verify.exit_code == 0, verify.output
        again = restored.test_client().get("/api/v1/statements/2026-10?jurisdiction=440300",
                                           headers=admin)
        assert again.status_code == 200 and again.get_json() == statement
        store = store_for(restored.config)
        assert sorted(store.digests()) == sorted(manifest["artifacts"])
        assert all(store.get(sha) for sha in manifest["artifacts"])      # each verified
        with restored.app_context():
            from marketplace import db
            count = db.session().scalar(sa.text("SELECT count(*) FROM usage_events"))
        assert count == 3
    finally:
        restored.extensions["db"].engine.dispose()


def test_backup_needs_a_new_or_empty_folder(runner, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    refused = runner.invoke(["backup", str(tmp_path / "full")])
    assert refused.exit_code == 1 and "not an empty folder" in refused.output


def test_restore_refuses_a_database_with_tables(runner, settled, tmp_path):
    assert runner.invoke(["backup", str(tmp_path / "bk")]).exit_code == 0
    refused = runner.invoke(["restore", str(tmp_path / "bk")])
    assert refused.exit_code == 1 and "absent or empty database" in refused.output


def test_restore_refuses_tampered_backups_before_writing(app, runner, settled, tmp_path,
                                                         request):
    assert runner.invoke(["backup", str(tmp_path / "bk")]).exit_code == 0
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    sha = sorted(manifest["artifacts"])[0]
    (tmp_path / "bk" / "artifacts" / sha[:2] / f"{sha}.zip").write_bytes(b"tampered")
    url = _empty_database(request, tmp_path)
    restored = _app_on(url, tmp_path / "restored-artifacts")
    try:
        refused = _runner(restored).invoke(["restore", str(tmp_path / "bk")])
        assert refused.exit_code == 1 and "fails its sha256 check" in refused.output
        from marketplace.ops.backup import _tables
        assert _tables(url) == []
        db_file = tmp_path / "bk" / manifest["database"]["file"]
        db_file.write_bytes(db_file.read_bytes() + b"\0")
        refused = _runner(restored).invoke(["restore", str(tmp_path / "bk")])
        assert refused.exit_code == 1 and "fails its sha256 sum" in refused.output
    finally:
        restored.extensions["db"].engine.dispose()


def test_backup_while_writes_go_on_is_a_consistent_snapshot(app, runner, settled, tmp_path,
                                                            request):
    import threading

    from marketplace.db import make_engine
    from marketplace.metering import writer
    from marketplace.metering.service import call_event

    admin, statement = settled
    engine = make_engine(app.config["DATABASE_URL"])
    with engine.connect() as conn:
        iid = conn.scalar(sa.text("SELECT id FROM installations"))
        before = conn.scalar(sa.text("SELECT count(*) FROM usage_events"))
    stop, written = threading.Event(), [0]

    def serve():
        while not stop.is_set():
            with engine.begin() as conn:
                rows = [call_event(installation_id=iid, event_id=uuid.uuid4().hex,
                                   operation="echo", units=1, status="ok") for _ in range(20)]
                written[0] += writer.insert_new(conn, rows)
    writer_thread = threading.Thread(target=serve)
    writer_thread.start()
    try:
        result = runner.invoke(["backup", str(tmp_path / "bk")])
    finally:
        stop.set()
        writer_thread.join()
        engine.dispose()
    assert result.exit_code == 0, result.output
    assert written[0] > 0
    restored = _app_on(_empty_database(request, tmp_path), tmp_path / "restored-artifacts")
    try:
        assert _runner(restored).invoke(["restore", str(tmp_path / "bk")]).exit_code == 0
        with restored.extensions["db"].engine.connect() as conn:
            count = conn.scalar(sa.text("SELECT count(*) FROM usage_events"))
            if BACKEND != "postgresql":
                assert conn.scalar(sa.text("PRAGMA integrity_check")) == "ok"
        assert before <= count <= before + written[0] and (count - before) % 20 == 0
        again = restored.test_client().get("/api/v1/statements/2026-10?jurisdiction=440300",
                                           headers=admin)
        assert again.get_json() == statement
        assert _runner(restored).invoke(["usage", "verify"]).exit_code == 0
    finally:
        restored.extensions["db"].engine.dispose()


def test_restore_refuses_a_backup_of_another_engine(runner, settled, tmp_path):
    assert runner.invoke(["backup", str(tmp_path / "bk")]).exit_code == 0
    path = tmp_path / "bk" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["dialect"] = "mysql"
    path.write_text(json.dumps(manifest))
    refused = runner.invoke(["restore", str(tmp_path / "bk")])
    assert refused.exit_code == 1 and "backup is of a mysql database" in refused.output
