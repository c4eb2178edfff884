"""/healthz and /readyz (DESIGN §16): alive, and ready only when database, store and sandbox are."""
from __future__ import annotations

import sqlalchemy as sa

from marketplace.ops import health


def test_healthz_answers_alive(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.get_json() == {"status": "alive"}


def test_readyz_ready_with_every_check(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    checks = answer.get_json()["checks"]
    assert checks["database"] == "ok" and checks["artifact_store"] == "ok (file)"
    assert checks["sandbox"] in ("ok", "ok (thread mode: no sandbox processes)")


def test_readyz_503_when_schema_behind(app, client):
    with app.extensions["db"].engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0016_pages'"))
    answer = client.get("/readyz")
    body = answer.get_json()
    assert answer.status_code == 503 and body["error"] == "not_ready"
    assert "marketplace db upgrade" in body["checks"]["database"]


def test_readyz_503_when_store_unreachable(app, client, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    app.config["ARTIFACT_DIR"] = str(blocker / "artifacts")     # below a file: unusable
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["artifact_store"].startswith("failed")


def test_readyz_503_when_no_sandbox_starts(app, client, monkeypatch):
    from marketplace.runtime import sandbox

    monkeypatch.setattr(health, "_sandbox_ok_until", 0.0)
    monkeypatch.setattr(sandbox, "WORKER", sandbox.WORKER.with_name("no-such-worker.py"))
    app.config["SANDBOX"] = "process"
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert "sandbox" in answer.get_json()["message"]
