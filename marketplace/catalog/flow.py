"""A composite's flow for its catalogue page: steps, who runs each, and the materials asked for.

The steps are the manifest's ``[[requires]]`` in declared order (DESIGN §14); the
department of a step is the publisher of the module that serves it (for an
interface, of each listed implementation). The materials are the required
properties of the composite's input schema, by their titles and descriptions,
nested objects one level down.
"""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.accounts.models import Jurisdiction
from marketplace.catalog.models import Module, ModuleVersion


def requirements(manifest: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The stored manifest's ``[[requires]]`` as ``{"kind", "target", "operations"}`` in order."""
    raw = (manifest or {}).get("requires")
    out = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        kind = "module" if "module" in item else "interface"
        out.append({"kind": kind, "target": str(item.get(kind, "")),
                    "operations": [str(op) for op in item.get("operations", [])]})
    return out


def _servers(session: Session, kind: str, target: str) -> list[dict[str, Any]]:
    """The listed modules that serve one step: title and the department (publisher) running it."""
    match = Module.name == target if kind == "module" else Module.implements == target
    rows = session.execute(
        sa.select(Module.id, Module.name, Module.publisher_code, Jurisdiction.name)
        .join(Jurisdiction, Jurisdiction.code == Module.publisher_code)
        .where(match).order_by(Module.name)).all()
    servers = []
    for module_id, name, code, place in rows:
        versions = session.scalars(sa.select(ModuleVersion).where(
            ModuleVersion.module_id == module_id, ModuleVersion.state == "published"))
        newest = max(versions, key=lambda v: v.sort_key, default=None)
        if newest is None:
            continue
        servers.append({"name": name, "title": newest.title, "version": newest.version,
                        "publisher": {"code": code, "name": place}})
    return servers


def materials(schema: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Required properties of an input schema as materials: name, title, description, parts."""
    schema = schema if isinstance(schema, Mapping) else {}
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    out = []
    for name in schema.get("required") or []:
        spec = props.get(name)
        spec = spec if isinstance(spec, Mapping) else {}
        item = {"name": name, "title": str(spec.get("title") or name),
                "description": str(spec.get("description") or "")}
        if spec.get("type") == "object":
            item["parts"] = [{k: v for k, v in part.items() if k != "parts"}
                             for part in materials(spec)]
        out.append(item)
    return out


def composite_flow(session: Session, name: str, version: str) -> dict[str, Any] | None:
    """The flow of ``name`` ``version``; None when that version requires nothing (not a composite)."""
    stored = session.scalar(sa.select(ModuleVersion).join(Module, Module.id == ModuleVersion.module_id)
                            .where(Module.name == name, ModuleVersion.version == version))
    steps = requirements(stored.manifest if stored else None)
    if not steps:
        return None
    for number, step in enumerate(steps, start=1):
        step["number"] = number
        step["servers"] = _servers(session, step["kind"], step["target"])
    operations = list(stored.operations)
    return {"steps": steps,
            "materials": materials(operations[0].input_schema if operations else None)}
