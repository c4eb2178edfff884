"""Publish, review, yank and list module versions: pure domain logic on a session (no Flask).

Publishing is a flat run of early-exit checks (DESIGN §3): archive safety and
manifest, ownership, the code check in a separate process, version
immutability, the shared interface; only then are the bytes stored and the
rows written. Every state change is written to the audit journal.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from marketplace.accounts.models import User
from marketplace.accounts.service import audit
from marketplace.catalog.bundle import BundleError, problem, read_bundle
from marketplace.catalog.checker import (CheckReport, check_module, compare_interfaces,
                                         implements_signature)
from marketplace.catalog.requires import check_requires
from marketplace.catalog.manifest import SEMVER_RE, Manifest, load_manifest
from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace.catalog.store import ArtifactStore
from marketplace.clock import now
from marketplace.errors import Conflict, Forbidden, MarketplaceError, NotFound

DECISIONS = {"approve": "published", "reject": "rejected"}
SEARCH_MODULE = "marketplace.catalog.search"


@dataclass
class PublishResult:
    """The version a publish produced (``created``) or found (same bytes uploaded again)."""

    version: ModuleVersion
    created: bool


def semver_parts(version: str) -> tuple[int, int, int, str]:
    """(major, minor, patch, prerelease) of a semver 2.0 string; build metadata is dropped."""
    match = SEMVER_RE.fullmatch(version)
    if match is None:
        raise ValueError(f"{version!r} is not a semantic version like 1.2.0")
    return int(match.group(1)), int(match.group(2)), int(match.group(3)), match.group(4) or ""


def find_module(session: Session, name: str) -> Module:
    """The module called ``name`` or NotFound."""
    module = session.scalar(sa.select(Module).where(Module.name == name))
    if module is None:
        raise NotFound("unknown_module", f"no module called {name!r} in the catalog")
    return module


def find_version(session: Session, name: str, version: str) -> ModuleVersion:
    """Version ``version`` of module ``name`` or NotFound."""
    found = session.scalar(sa.select(ModuleVersion).join(Module)
                           .where(Module.name == name, ModuleVersion.version == version))
    if found is None:
        raise NotFound("unknown_version", f"module {name!r} has no version {version!r}")
    return found


def _version_by_sha(session: Session, sha256: str) -> ModuleVersion | None:
    return session.scalar(sa.select(ModuleVersion).where(ModuleVersion.sha256 == sha256))


def _check_owner(module: Module | None, publisher: User, name: str) -> None:
    if module is not None and module.publisher_code != publisher.jurisdiction_code:
        raise Forbidden("not_owner", f"module {name!r} belongs to jurisdiction "
                        f"{module.publisher_code}; only it may publish new versions "
                        "(choose another module name)")


def _check_new_version(session: Session, module: Module | None, manifest: Manifest) -> None:
    """Versions are immutable: the same number with other bytes is refused.

    "The same number" is semver precedence, which ignores build metadata: 1.0.0+build
    would be a second 1.0.0 that no range or "latest" could tell from the first.
    """
    if module is None:
        return
    major, minor, patch, prerelease = semver_parts(manifest.version)
    taken = session.scalar(sa.select(ModuleVersion.version).where(
        ModuleVersion.module_id == module.id, ModuleVersion.major == major,
        ModuleVersion.minor == minor, ModuleVersion.patch == patch,
        ModuleVersion.prerelease == prerelease).limit(1))
    if taken == manifest.version:
        raise Conflict("version_exists", f"{manifest.name} {manifest.version} already exists "
                       "with different contents; versions are immutable, bump the version")
    if taken is not None:
        raise Conflict("version_exists", f"{manifest.name} {manifest.version} equals the existing "
                       f"version {taken} (build metadata after '+' does not make a new version); "
                       "bump the version")


def interface_version(session: Session, interface: str) -> ModuleVersion | None:
    """The version that defines a shared interface: the first one declaring it (not rejected)."""
    return session.scalar(sa.select(ModuleVersion)
                          .where(ModuleVersion.implements == interface,
                                 ModuleVersion.state != "rejected")
                          .options(selectinload(ModuleVersion.operations))
                          .order_by(ModuleVersion.id).limit(1))


def _check_implements(session: Session, manifest: Manifest) -> None:
    """A module declaring a known interface must have its operations and schemas exactly."""
    if not manifest.implements:
        return
    first = interface_version(session, manifest.implements)
    if first is None:
        return
    differences = compare_interfaces(
        implements_signature(SimpleNamespace(operations=first.operations)),
        implements_signature(manifest))
    if differences:
        where = f"manifest.toml: module.implements ({manifest.implements})"
        raise BundleError([problem(where, d, "interface_mismatch") for d in differences],
                          f"{manifest.name} does not match interface {manifest.implements} "
                          f"as defined by {first.module.name} {first.version}: {differences[0]}")


def _report_json(report: CheckReport) -> dict[str, Any]:
    return {"ok": report.ok, "errors": report.errors, "warnings": report.warnings,
            "examples_run": report.examples_run, "hookimpls": report.hookimpls,
            "duration": round(report.duration, 3), "stderr": report.stderr[-2000:]}


def _example_json(example: Any) -> dict[str, Any]:
    key = "output" if example.match == "exact" else "output_contains"
    return {"input": example.input, key: example.expected}


def _write_version(session: Session, module: Module | None, manifest: Manifest, bundle: Any,
                   report: CheckReport, publisher: User, state: str) -> ModuleVersion:
    if module is None:
        module = Module(name=manifest.name, publisher_code=publisher.jurisdiction_code)
        session.add(module)
    module.implements = manifest.implements
    major, minor, patch, prerelease = semver_parts(manifest.version)
    stamp = now()
    version = ModuleVersion(
        module=module, version=manifest.version, major=major, minor=minor, patch=patch,
        prerelease=prerelease, sha256=bundle.sha256, size=bundle.size, state=state,
        title=manifest.title, summary=manifest.summary, category=manifest.category,
        entry=manifest.entry, source_license=manifest.source_license,
        implements=manifest.implements, tags=list(manifest.tags), terms=dict(manifest.terms),
        terms_kind=manifest.terms["kind"], manifest=bundle.manifest, readme=bundle.readme or "",
        check_report=_report_json(report), uploaded_by=publisher.id, created_at=stamp,
        reviewed_at=stamp if state == "published" else None)
    version.operations = [
        Operation(name=op.name, summary=op.summary, units=op.units, input_schema=op.input_schema,
                  output_schema=op.output_schema, examples=[_example_json(e) for e in op.examples],
                  schema_links=op.schema_links)
        for op in manifest.operations]
    session.add(version)
    session.flush()
    return version


def publish(session: Session, data: bytes, publisher: User, store: ArtifactStore, *,
            require_review: bool = True, check_timeout: float = 10,
            check_memory_mb: int = 512, check_slots: int = 1) -> PublishResult:
    """Check and publish bundle bytes for ``publisher``'s jurisdiction (the caller commits).

    Raises BundleError (400 invalid_bundle, located details), Forbidden not_owner,
    Conflict version_exists, PublishBusy (503: ``check_slots`` checks are running here).
    Uploading the same bytes again returns the existing version.
    """
    bundle = read_bundle(data)
    manifest = load_manifest(bundle)
    module = session.scalar(sa.select(Module).where(Module.name == manifest.name))
    _check_owner(module, publisher, manifest.name)
    existing = _version_by_sha(session, bundle.sha256)
    if existing is not None:        # these exact bytes already passed every check
        return PublishResult(existing, created=False)
    subcalls = check_requires(session, manifest)       # a composite's targets, cycles, depth
    report = check_module(bundle, manifest, timeout=check_timeout, memory_mb=check_memory_mb,
                          slots=check_slots, subcalls=subcalls)
    report.raise_for_errors()
    _check_new_version(session, module, manifest)
    _check_implements(session, manifest)
    store.put(data)
    state = "pending_review" if require_review else "published"
    wait, acceptance = (False, None) if module is None else \
        _terms_await_owners(session, module, manifest.terms)
    if wait:
        state = "pending_owners"    # co-owned, other terms: the owners decide first (DESIGN §13)
    try:
        version = _write_version(session, module, manifest, bundle, report, publisher, state)
    except IntegrityError:          # a concurrent upload of the same version won the race
        session.rollback()          # publish is its own unit of work: nothing else is lost
        existing = _version_by_sha(session, bundle.sha256)
        if existing is not None:
            return PublishResult(existing, created=False)
        raise Conflict("version_exists", f"{manifest.name} {manifest.version} was just "
                       "published by another upload; bump the version") from None
    audit(session, publisher, "module.publish", f"{manifest.name} {manifest.version}",
          sha256=bundle.sha256, state=state)
    if acceptance is not None:      # the owners' accepted terms: this version uses them up
        from marketplace.governance.proposals import mark_released

        mark_released(session, acceptance, version.version, publisher)
    if state == "published":
        _release_current(session, version.module_id, publisher, require_review=False)
    _reindex(session, version.module_id)
    return PublishResult(version, created=True)


def review(session: Session, name: str, version: str, decision: str, reason: str,
           reviewer: User | None) -> ModuleVersion:
    """Approve (→ published) or reject (→ rejected, reason required) a pending version.

    ``reviewer`` None is the operator at the server console (journaled as "system").
    """
    if reviewer is not None and reviewer.role != "admin":
        raise Forbidden("admin_only", "only a platform administrator may review modules")
    if decision not in DECISIONS:
        raise MarketplaceError("invalid_decision", "decision must be \"approve\" or \"reject\"")
    reason = (reason or "").strip()
    if decision == "reject" and not reason:
        raise MarketplaceError("reason_required",
                               "say why the version is rejected, so the publisher can fix it")
    item = find_version(session, name, version)
    if item.state != "pending_review":
        raise Conflict("not_pending", f"{name} {version} is {item.state}, not pending_review")
    item.state = DECISIONS[decision]
    item.reviewed_at = now()
    item.reviewed_by = reviewer.id if reviewer else None
    item.review_reason = reason
    session.flush()
    audit(session, reviewer, f"module.{decision}", f"{name} {version}", reason=reason)
    if item.state == "published":   # its terms may now be the current ones
        _release_current(session, item.module_id, reviewer, require_review=True)
    _reindex(session, item.module_id)
    return item


def yank(session: Session, name: str, version: str, reason: str,
         actor: User | None) -> ModuleVersion:
    """Mark a version yanked (no new installs; never deleted): its publisher or an admin.

    ``actor`` None is the operator at the server console (journaled as "system").
    """
    item = find_version(session, name, version)
    if actor is not None and actor.role != "admin" \
            and actor.jurisdiction_code != item.module.publisher_code:
        raise Forbidden("not_owner", f"only the publisher ({item.module.publisher_code}) or an "
                        f"administrator may yank {name} {version}")
    reason = (reason or "").strip()
    if not reason:
        raise MarketplaceError("reason_required", "say why the version is yanked")
    if item.yanked_at is not None:
        return item                 # yanking twice changes nothing
    item.yanked_at = now()
    item.yank_reason = reason
    session.flush()
    audit(session, actor, "module.yank", f"{name} {version}", reason=reason)
    _reindex(session, item.module_id)
    return item


def list_versions(session: Session, name: str | None = None,
                  states: tuple[str, ...] | None = None) -> list[ModuleVersion]:
    """Versions (of one module, or all), by module name then semver precedence."""
    query = sa.select(ModuleVersion).join(Module).options(selectinload(ModuleVersion.module))
    if name is not None:
        find_module(session, name)
        query = query.where(Module.name == name)
    if states:
        query = query.where(ModuleVersion.state.in_(states))
    rows = list(session.scalars(query))
    return sorted(rows, key=lambda v: (v.module.name, v.sort_key))


def current_terms(session: Session, module_id: int) -> dict | None:
    """The terms of the module's newest published version (semver precedence), or None.

    A version the owners released becomes current only once it is published."""
    published = session.scalars(sa.select(ModuleVersion).where(
        ModuleVersion.module_id == module_id, ModuleVersion.state == "published")).all()
    return max(published, key=lambda v: v.sort_key).terms if published else None


def _terms_await_owners(session: Session, module: Module, terms: dict) -> tuple[bool, Any]:
    """``(must wait in pending_owners, the accepted terms proposal the version uses)``."""
    from marketplace.governance.proposals import terms_gate

    return terms_gate(session, module.id, terms, current_terms(session, module.id))


def _go_on(session: Session, item: ModuleVersion, actor: User | None, require_review: bool,
           why: str) -> None:
    """A version leaves ``pending_owners``: on to review (published at once without review)."""
    item.state = "pending_review" if require_review else "published"
    item.reviewed_at = None if require_review else now()
    audit(session, actor, "module.owners_accepted", f"{item.module.name} {item.version}",
          state=item.state, why=why)


def _waiting(session: Session, module_id: int) -> list[ModuleVersion]:
    """The module's versions in ``pending_owners``, by semver precedence."""
    return sorted(session.scalars(sa.select(ModuleVersion).where(
        ModuleVersion.module_id == module_id, ModuleVersion.state == "pending_owners")),
        key=lambda v: v.sort_key)


def release_pending_owners(session: Session, module_id: int, terms: dict, actor: User | None, *,
                           require_review: bool = True) -> ModuleVersion | None:
    """The owners accepted ``terms`` for the module's next version: the first version (semver)
    waiting in ``pending_owners`` with those terms by value goes on to review as usual
    (published at once when review is off), and only that one; None if none waits."""
    from marketplace.governance.terms_value import same_terms

    item = next((v for v in _waiting(session, module_id) if same_terms(v.terms, terms)), None)
    if item is None:
        return None
    _go_on(session, item, actor, require_review, "terms accepted")
    session.flush()
    if not require_review:
        _release_current(session, module_id, actor, require_review=False)
        _reindex(session, module_id)
    return item


def _release_current(session: Session, module_id: int, actor: User | None, *,
                     require_review: bool) -> None:
    """A version was published: versions waiting with the now current terms (by value) are
    no change any more and go on to review (published at once when review is off)."""
    from marketplace.governance.terms_value import same_terms

    while True:                     # without review a release publishes, which may change them
        terms = current_terms(session, module_id)
        due = [v for v in _waiting(session, module_id) if same_terms(v.terms, terms)]
        if not due:
            return
        for item in due:
            _go_on(session, item, actor, require_review, "current terms")
        session.flush()
        if require_review:
            return


def pending_reviews(session: Session) -> list[ModuleVersion]:
    """The review queue: pending versions, oldest first."""
    return list(session.scalars(sa.select(ModuleVersion)
                                .where(ModuleVersion.state == "pending_review")
                                .options(selectinload(ModuleVersion.module))
                                .order_by(ModuleVersion.id)))


def may_download(item: ModuleVersion, jurisdiction_code: str | None, is_admin: bool) -> bool:
    """Published bundles (yanked too) are public; others only for their publisher and admins."""
    return item.state == "published" or is_admin or \
        jurisdiction_code == item.module.publisher_code


def bundle_bytes(session: Session, store: ArtifactStore, name: str, version: str,
                 jurisdiction_code: str | None = None,
                 is_admin: bool = False) -> tuple[ModuleVersion, bytes]:
    """The verified bytes of a version's bundle, if the caller may see it (else NotFound)."""
    item = find_version(session, name, version)
    if not may_download(item, jurisdiction_code, is_admin):
        raise NotFound("unknown_version", f"module {name!r} has no published version {version!r}")
    return item, store.get(item.sha256)


def _reindex(session: Session, module_id: int) -> None:
    """Refresh the search index of a module, when the search area is installed."""
    try:
        from marketplace.catalog.search import reindex_module
    except ModuleNotFoundError as exc:
        if exc.name != SEARCH_MODULE:
            raise
        return
    reindex_module(session, module_id)
