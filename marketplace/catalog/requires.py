"""Publish checks of a composite's ``[[requires]]`` (DESIGN §14): targets, cycles, depth.

Every required module (or interface) must exist with a published version
having the operations named; the composite must not reach itself through the
graph of requirements (a module's edges: the ``[[requires]]`` of any of its
published or pending versions; an interface's: every module implementing
it), and it may nest at most :data:`MAX_DEPTH` composite calls deep. Each
failure is a located problem of ``manifest.toml: requires[i]``. What passes
gives the answers the check worker uses for sub-calls: each required
operation's own examples (:mod:`marketplace.catalog.example_answers`).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from marketplace.catalog.bundle import BundleError, problem
from marketplace.catalog.manifest import Manifest, Requirement, requirements_of
from marketplace.catalog.models import Module, ModuleVersion

MAX_DEPTH = 4                   # composite calls inside one another, the composite's own included
_LIVE = ("published", "pending_review")


def _published(session: Session, requirement: Requirement) -> ModuleVersion | None:
    """The version whose operations a requirement is checked against (newest published)."""
    query = sa.select(ModuleVersion).join(Module).where(ModuleVersion.state == "published",
                                                        ModuleVersion.yanked_at.is_(None))
    if requirement.module:
        query = query.where(Module.name == requirement.module)
    else:
        query = query.where(ModuleVersion.implements == requirement.interface)
    found = session.scalars(query.options(selectinload(ModuleVersion.operations))).all()
    return max(found, key=lambda v: v.sort_key) if found else None


class _Graph:
    """Requirement edges read from the catalog on demand (module and interface nodes)."""

    def __init__(self, session: Session, manifest: Manifest) -> None:
        self.session, self.manifest = session, manifest
        self.edges: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def targets(self, node: tuple[str, str]) -> set[tuple[str, str]]:
        found = self.edges.get(node)
        if found is not None:
            return found
        kind, name = node
        if kind == "interface":
            found = {("module", n) for n in self.session.scalars(
                sa.select(Module.name).join(ModuleVersion).where(
                    ModuleVersion.implements == name, ModuleVersion.state.in_(_LIVE)))}
            if self.manifest.implements == name:
                found.add(("module", self.manifest.name))
        elif name == self.manifest.name:
            found = {_node(r) for r in self.manifest.requires}
        else:
            found = set()
            for raw in self.session.scalars(sa.select(ModuleVersion.manifest).join(Module).where(
                    Module.name == name, ModuleVersion.state.in_(_LIVE))):
                found |= {_node(r) for r in requirements_of((raw or {}).get("requires"))}
        self.edges[node] = found
        return found

    def cycle(self, start: tuple[str, str]) -> list[str] | None:
        """A path from ``start`` back to the composite itself, or None."""
        me, seen = ("module", self.manifest.name), set()
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            if node == me:
                return [f"{k} {n}" for k, n in path]
            if node in seen:
                continue
            seen.add(node)
            stack += [(t, path + [t]) for t in self.targets(node)]
        return None

    def depth(self, node: tuple[str, str], below: int = 0) -> int:
        """How many composite calls deep calling ``node`` goes (0: it calls nothing)."""
        if below > MAX_DEPTH + 1:
            return below                    # deep enough to refuse; the walk stops here
        targets = self.targets(node)
        if node[0] == "interface":
            return max((self.depth(t, below) for t in targets), default=0)
        return max((1 + self.depth(t, below + 1) for t in targets), default=0)


def _examples(version: ModuleVersion, operation: Any) -> list:
    """An operation's examples (as stored with it, else as its version's manifest gives them)."""
    if operation.examples:
        return list(operation.examples)
    declared = (version.manifest or {}).get("operations", [])
    return next((list(op.get("examples") or []) for op in declared
                 if isinstance(op, dict) and op.get("name") == operation.name), [])


def _node(requirement: Requirement) -> tuple[str, str]:
    return ("module", requirement.module) if requirement.module else \
        ("interface", requirement.interface or "")


def check_requires(session: Session, manifest: Manifest) -> dict[str, Any]:
    """Check a composite's requirements; the sub-call answers for its examples.

    Returns ``{"requires": [...], "answers": {"target/operation": [examples]}}``
    (empty for a module requiring nothing); raises BundleError with every problem located.
    """
    if not manifest.requires:
        return {}
    problems, answers = [], {}
    graph = _Graph(session, manifest)
    for i, requirement in enumerate(manifest.requires):
        where = f"manifest.toml: requires[{i}]"
        kind = "module" if requirement.module else "interface"
        version = _published(session, requirement)
        if version is None:
            what = "called" if requirement.module else "implements"
            problems.append(problem(f"{where}.{kind}", f"no published module {what} "
                                    f"{requirement.target!r}; publish it first",
                                    "unknown_requirement"))
            continue
        operations = {op.name: op for op in version.operations}
        for j, name in enumerate(requirement.operations):
            if name not in operations:
                problems.append(problem(
                    f"{where}.operations[{j}]", f"{version.module.name} {version.version} has "
                    f"no operation {name!r} (it has {', '.join(sorted(operations))})",
                    "unknown_operation"))
            else:
                answers[f"{requirement.target}/{name}"] = _examples(version, operations[name])
        path = graph.cycle(_node(requirement))
        if path is not None:
            problems.append(problem(f"{where}.{kind}", "requirement cycle: "
                                    f"{manifest.name} → " + " → ".join(path), "cycle"))
    if not problems:
        depth = graph.depth(("module", manifest.name))
        if depth > MAX_DEPTH:
            problems.append(problem("manifest.toml: requires", f"composite calls would nest "
                                    f"{depth} deep; at most {MAX_DEPTH} are allowed", "too_deep"))
    if problems:
        raise BundleError(problems, f"{manifest.name} {manifest.version}: "
                          f"{problems[0]['where']}: {problems[0]['message']}")
    return {"requires": [r.to_dict() for r in manifest.requires], "answers": answers}
