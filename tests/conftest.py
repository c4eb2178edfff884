"""Fixtures: a migrated database per test on SQLite or PostgreSQL, app, client, runner, factories.

``MARKETPLACE_TEST_DB=postgresql`` runs the whole suite against a throwaway
PostgreSQL cluster that the suite starts itself; the default is SQLite.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from marketplace import create_app
from marketplace.accounts import service as accounts
from marketplace.db import make_engine
from marketplace.migrate import upgrade
from tests.support.services import PostgresCluster, StripeMock

BACKEND = os.environ.get("MARKETPLACE_TEST_DB", "sqlite")


def pytest_report_header(config):
    """Say which database this run uses."""
    return f"marketplace test database: {BACKEND}"


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory):
    """A private PostgreSQL cluster for the session (only in PostgreSQL runs)."""
    cluster = PostgresCluster(Path(f"/tmp/gm-pg-{uuid.uuid4().hex[:8]}"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory, request):
    """A database migrated to head with the divisions loaded, built once per session."""
    if BACKEND == "postgresql":
        url = request.getfixturevalue("pg_cluster").create_database("marketplace_test")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'template.db'}"
    upgrade(url)
    engine = make_engine(url)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        accounts.load_divisions(session)
        session.commit()
    engine.dispose()
    return url


def _heads(url: str) -> list[str]:
    """The migration heads of this code."""
    from alembic.script import ScriptDirectory

    from marketplace.migrate import alembic_config

    return list(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def _reset_postgres(url: str) -> None:
    """Empty every table and reload the reference divisions (fast: TRUNCATE)."""
    from sqlalchemy.orm import Session

    engine = make_engine(url)
    with engine.begin() as conn:
        kept = {"alembic_version", "route_generation"}      # bookkeeping rows, not data
        existing = set(sa.inspect(conn).get_table_names()) - kept
        names = ", ".join(f'"{t}"' for t in sorted(existing))
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # a test may set the schema's version back (readyz's "schema behind" case): every
        # test starts at the code's head, as a fresh database would
        conn.execute(sa.text("DELETE FROM alembic_version"))
        for head in _heads(url):
            conn.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                         {"v": head})
    with Session(engine) as session:
        accounts.load_divisions(session)
        session.commit()
    engine.dispose()


@pytest.fixture
def database_url(template_db, tmp_path):
    """A fresh migrated database for one test."""
    if BACKEND == "postgresql":
        _reset_postgres(template_db)
        return template_db
    path = tmp_path / "marketplace.db"
    shutil.copy(template_db[len("sqlite:///"):], path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url, tmp_path):
    """The app on a fresh database, review on, clock fixed unless a test changes it."""
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "NOW": "",
        "TIMEZONE": "Asia/Shanghai",
        "REQUIRE_REVIEW": True,
    })
    yield app
    if "gateway_routes" in app.extensions:
        app.extensions["gateway_routes"].close()
    app.extensions["db"].engine.dispose()


@pytest.fixture
def client(app):
    """Test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """CLI runner whose commands use this app."""
    from click.testing import CliRunner

    from marketplace.cli import main

    class Runner(CliRunner):
        def invoke(self, *args, **kwargs):
            kwargs.setdefault("obj", app)
            return super().invoke(main, *args, **kwargs)

    return Runner()


@pytest.fixture
def db_session(app):
    """A session on the test database (inside an app context)."""
    from marketplace import db

    with app.app_context():
        yield db.session()


class Factory:
    """Small factories for users and tokens in known jurisdictions."""

    def __init__(self, app) -> None:
        self.app = app
        self.counter = 0

    def user(self, role: str = "adopter", code: str = "440300", email: str | None = None):
        """Create a user; returns its e-mail."""
        from marketplace import db

        self.counter += 1
        email = email or f"{role}{self.counter}.{code}@gov.example.cn"
        with self.app.app_context():
            session = db.session()
            accounts.add_user(session, email, "correct horse battery", code, role)
            session.commit()
        return email

    def token(self, email: str, scopes: str = "read") -> str:
        """Issue a token for ``email``; returns the secret."""
        from marketplace import db

        with self.app.app_context():
            session = db.session()
            _, secret = accounts.issue_token(session, accounts.find_user(session, email), scopes)
            session.commit()
        return secret

    def headers(self, role: str = "adopter", code: str = "440300", scopes: str = "read") -> dict:
        """Authorization headers for a fresh user of ``role`` in ``code``."""
        return {"Authorization": f"Bearer {self.token(self.user(role, code), scopes)}"}


@pytest.fixture
def factory(app):
    """Factories bound to the test app."""
    return Factory(app)


@pytest.fixture(scope="session")
def stripe_mock():
    """stripe-mock (Stripe's own mock server) on a free port; yields its base URL."""
    server = StripeMock()
    url = server.start()
    yield url
    server.stop()
