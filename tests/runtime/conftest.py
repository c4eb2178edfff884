"""Runtime fixtures: published module versions (built from folders), adopters, installations.

``catalog.publish`` runs the full publish-time check (a subprocess per bundle) and
refuses modules that hang or crash, which the gateway tests need on purpose. So
``Catalog.publish_folder`` builds the bundle, stores it and writes the catalog
rows directly in state "published"; ``Catalog.publish_via_service`` goes through
the real publish + review service for the sample modules.
"""
from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa

from marketplace import db
from marketplace.accounts import service as accounts
from marketplace.catalog.bundle import build_bundle, folder_files
from marketplace.catalog.manifest import validate_manifest
from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace.catalog.store import store_for

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "modules"

TOY_CODE = '''
"""Toy module for gateway tests."""
import time

from marketplace.sdk import ModuleError, hookimpl

VERSION = "{version}"
LIFECYCLE = []


@hookimpl
def echo(payload, context):
    return {{"text": payload["text"], "version": VERSION, "tenant": context.jurisdiction.code,
            "installation": context.installation_id}}


@hookimpl
def crash(payload, context):
    raise RuntimeError("boom")


@hookimpl
def bad_output(payload, context):
    return {{"text": 42}}


@hookimpl
def refuse(payload, context):
    raise ModuleError("not_eligible", "the applicant is not eligible")


@hookimpl
def hang(payload, context):
    time.sleep(payload.get("seconds", 3))
    return {{"text": "late", "version": VERSION}}


@hookimpl
def module_installed(context):
    LIFECYCLE.append(("installed", context.installation_id))


@hookimpl
def module_uninstalled(context):
    LIFECYCLE.append(("uninstalled", context.installation_id))
    raise RuntimeError("lifecycle errors are logged, not fatal")


@hookimpl
def module_health(context):
    return {{"status": "ok", "version": VERSION}}
'''

TEXT_IN = '{ type = "object", required = ["text"], additionalProperties = false, properties = { text = { type = "string", minLength = 1 } } }'
TEXT_OUT = '{ type = "object", required = ["text"], properties = { text = { type = "string" } } }'
ANY_IN = '{ type = "object" }'


def toy_manifest(name: str, version: str, terms: str, implements: str | None) -> str:
    """manifest.toml of the toy module."""
    ops = [("echo", 2, TEXT_IN), ("crash", 1, ANY_IN), ("bad_output", 1, ANY_IN),
           ("refuse", 1, ANY_IN), ("hang", 1, ANY_IN)]
    parts = [f'''[module]
name = "{name}"
version = "{version}"
title = "玩具模块"
summary = "Toy module for tests."
category = "public_service"
entry = "toy_{name.replace('-', '_')}"
source_license = "MIT"
''' + (f'implements = "{implements}"\n' if implements else "")]
    for op, units, schema in ops:
        parts.append(f'[[operations]]\nname = "{op}"\nunits = {units}\ninput = {schema}\n'
                     f'output = {TEXT_OUT}\n')
    parts.append(f"[terms]\n{terms}\n")
    return "\n".join(parts)


FREE = 'kind = "free"'
PAY = 'kind = "pay_per_use"\ncurrency = "CNY"\nmodel = "per_unit"\nunit_price = "0.01"'
PAY_MORE = 'kind = "pay_per_use"\ncurrency = "CNY"\nmodel = "per_unit"\nunit_price = "0.02"'


class Catalog:
    """Publishes module versions into the test app's catalog and artifact store."""

    def __init__(self, app, factory, tmp_path: Path) -> None:
        self.app, self.factory, self.tmp = app, factory, tmp_path
        self.publisher = factory.user("publisher", "440000")

    def toy_folder(self, name: str = "toy-echo", version: str = "1.0.0", terms: str = FREE,
                   implements: str | None = None) -> Path:
        """Write a toy module folder and return it."""
        folder = self.tmp / "src" / f"{name}-{version}"
        pkg = folder / f"toy_{name.replace('-', '_')}"
        pkg.mkdir(parents=True, exist_ok=True)
        (folder / "manifest.toml").write_text(toy_manifest(name, version, terms, implements),
                                              encoding="utf-8")
        (pkg / "__init__.py").write_text(textwrap.dedent(TOY_CODE.format(version=version)),
                                         encoding="utf-8")
        return folder

    def toy(self, name: str = "toy-echo", version: str = "1.0.0", terms: str = FREE,
            implements: str | None = None, state: str = "published", yanked: bool = False) -> int:
        """Publish a toy module version; returns the version id."""
        return self.publish_folder(self.toy_folder(name, version, terms, implements), state, yanked)

    def publish_folder(self, folder: Path, state: str = "published", yanked: bool = False,
                       publisher_code: str = "440000") -> int:
        """Build, store and register a version directly (no publish-time check)."""
        zip_path = build_bundle(folder, self.tmp / "dist")
        data = zip_path.read_bytes()
        manifest = validate_manifest(tomllib.loads((folder / "manifest.toml").read_text("utf-8")),
                                     folder_files(folder))
        with self.app.app_context():
            session = db.session()
            sha = store_for(self.app.config).put(data)
            module = session.scalar(sa.select(Module).where(Module.name == manifest.name))
            if module is None:
                module = Module(name=manifest.name, publisher_code=publisher_code,
                                implements=manifest.implements)
                session.add(module)
            major, minor, patch = (int(p) for p in manifest.version.split("-")[0].split("."))
            version = ModuleVersion(
                module=module, version=manifest.version, major=major, minor=minor, patch=patch,
                sha256=sha, size=len(data), state=state, title=manifest.title,
                summary=manifest.summary, category=manifest.category, entry=manifest.entry,
                source_license=manifest.source_license, implements=manifest.implements,
                terms=dict(manifest.terms), terms_kind=manifest.terms["kind"],
                manifest=manifest.raw, yank_reason="withdrawn" if yanked else "")
            if yanked:
                from marketplace.clock import now

                version.yanked_at = now()
            version.operations = [Operation(name=op.name, summary=op.summary, units=op.units,
                                            input_schema=op.input_schema,
                                            output_schema=op.output_schema)
                                  for op in manifest.operations]
            session.add(version)
            session.commit()
            return version.id

    def publish_via_service(self, folder: Path) -> None:
        """Publish a folder through catalog.service.publish and approve it."""
        from marketplace.catalog import service as catalog

        data = build_bundle(folder, self.tmp / "dist").read_bytes()
        with self.app.app_context():
            session = db.session()
            publisher = accounts.find_user(session, self.publisher)
            result = catalog.publish(session, data, publisher, store_for(self.app.config))
            session.commit()
            catalog.review(session, result.version.module.name, result.version.version,
                           "approve", "", None)
            session.commit()


@pytest.fixture
def fixed_clock():
    """The platform clock at 10:00:30 of a day (quota minutes without waiting); ``fixed_clock(
    instant)`` moves it; real time again afterwards."""
    from marketplace.clock import clock

    def at(instant: str) -> None:
        clock.configure(instant, "Asia/Shanghai")
    at("2026-11-10T10:00:30+08:00")
    yield at
    clock.configure("", "Asia/Shanghai")


@pytest.fixture
def catalog(app, factory, tmp_path):
    """Publishes module versions for a test."""
    return Catalog(app, factory, tmp_path)


class Adopter:
    """A city's user with an install+invoke+read token, and helpers to install and call."""

    def __init__(self, client, factory, code: str) -> None:
        self.client, self.code = client, code
        self.email = factory.user("adopter", code)
        self.headers = {"Authorization":
                        f"Bearer {factory.token(self.email, 'read install invoke')}"}

    def install(self, module: str, version: str | None = None, accept_terms=True, **extra):
        """POST /api/v1/installations."""
        body = {"module": module, "accept_terms": accept_terms, **extra}
        if version:
            body["version"] = version
        return self.client.post("/api/v1/installations", json=body, headers=self.headers)

    def invoke(self, module: str, operation: str, payload=None, headers=None, interface=False):
        """POST /api/v1/invoke/…"""
        path = f"/api/v1/invoke/{'interface/' if interface else ''}{module}/{operation}"
        return self.client.post(path, json=payload if payload is not None else {},
                                headers={**self.headers, **(headers or {})})


@pytest.fixture
def shenzhen(client, factory):
    """An adopter in 深圳市 (440300)."""
    return Adopter(client, factory, "440300")


@pytest.fixture
def hangzhou(client, factory):
    """An adopter in 杭州市 (330100)."""
    return Adopter(client, factory, "330100")


def usage_rows(app, installation_id: int | None = None) -> list:
    """All usage events (optionally of one installation), oldest first."""
    from marketplace.metering.models import UsageEvent

    with app.app_context():
        query = sa.select(UsageEvent).order_by(UsageEvent.id)
        if installation_id is not None:
            query = query.where(UsageEvent.installation_id == installation_id)
        return list(db.session().scalars(query))
