"""Installations as agreements: install, list, change version, switch implementation, uninstall.

Pure domain logic on a SQLAlchemy session (no Flask). ``who`` is anything with
``jurisdiction_code`` and either ``user_id`` (an API principal) or ``id`` (a User).
Callers commit, then call :func:`announce` to fire the module's lifecycle hook.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from marketplace import db, jsonio
from marketplace.accounts.models import Jurisdiction, User
from marketplace.accounts.service import audit
from marketplace.catalog.models import Module, ModuleVersion, Operation
from marketplace.catalog.store import ArtifactStore
from marketplace.clock import now
from marketplace.errors import Conflict, MarketplaceError, NotFound
from marketplace.metering import writer
from marketplace.metering.service import call_event
from marketplace.runtime import dependencies, loader
from marketplace.runtime.commits import event_id
from marketplace.runtime.invocation import GIVE_BACK, minute_now, reserve_call
from marketplace.runtime.models import Installation
from marketplace.sdk import Context, JurisdictionRef


class InstallError(MarketplaceError):
    """Refusal of an installation request (400 unless a subclass says otherwise)."""


def _user_id(who: Any) -> int | None:
    return getattr(who, "user_id", None) or getattr(who, "id", None)


def _actor(session: Session, who: Any) -> User | None:
    uid = _user_id(who)
    return session.get(User, uid) if uid else None


def find_module(session: Session, name: str) -> Module:
    """The module called ``name`` or 404 unknown_module."""
    module = session.scalar(sa.select(Module).where(Module.name == name))
    if module is None:
        raise NotFound("unknown_module", f"no module called {name!r} in the catalog")
    return module


def pick_version(session: Session, module: Module, version: str | None) -> ModuleVersion:
    """The named version (or the newest published one) if it may be installed now."""
    if version:
        found = session.scalar(sa.select(ModuleVersion).where(
            ModuleVersion.module_id == module.id, ModuleVersion.version == version))
        if found is None:
            raise NotFound("unknown_version", f"module {module.name} has no version {version}")
        if found.state != "published":
            raise Conflict("not_published", f"{module.name} {version} is {found.state}, "
                           "not published; only published versions can be installed")
        if found.yanked:
            raise Conflict("version_yanked", f"{module.name} {version} was yanked "
                           f"({found.yank_reason or 'no reason given'}); pick another version")
        return found
    published = [v for v in session.scalars(sa.select(ModuleVersion).where(
        ModuleVersion.module_id == module.id, ModuleVersion.state == "published"))]
    if not published:
        raise Conflict("not_published", f"module {module.name} has no published version yet")
    live = [v for v in published if not v.yanked]
    if not live:
        raise Conflict("version_yanked", f"every published version of {module.name} is yanked")
    return max(live, key=lambda v: v.sort_key)


def _require_acceptance(accept_terms: bool, version: ModuleVersion) -> None:
    if accept_terms is not True:
        raise InstallError("accept_terms_required",
                            f"installing {version.module.name} {version.version} is an agreement "
                            "under its terms; send \"accept_terms\": true to accept them",
                            terms=version.terms)


def _active(session: Session, code: str, module_id: int) -> Installation | None:
    return session.scalar(sa.select(Installation).where(
        Installation.jurisdiction_code == code, Installation.module_id == module_id,
        Installation.state == "active"))


def install(session: Session, who: Any, module: str, version: str | None = None,
            accept_terms: bool = False, config: dict | None = None) -> Installation:
    """Install a published version for the caller's jurisdiction, freezing its terms."""
    mod = find_module(session, module)
    chosen = pick_version(session, mod, version)
    _require_acceptance(accept_terms, chosen)
    existing = _active(session, who.jurisdiction_code, mod.id)
    if existing is not None:
        raise Conflict("already_installed", f"{module} is already installed for "
                       f"{who.jurisdiction_code} (installation {existing.id}); change its "
                       "version with PATCH or uninstall it first", installation=existing.id)
    dependencies.require_satisfied(session, who.jurisdiction_code, chosen)    # a composite's
    stamp = now()
    item = Installation(jurisdiction_code=who.jurisdiction_code, module_id=mod.id,
                        version_id=chosen.id, terms=dict(chosen.terms), state="active",
                        config=dict(config or {}), accepted_by=_user_id(who),
                        created_at=stamp, accepted_at=stamp)
    session.add(item)
    try:
        session.flush()
    except IntegrityError:          # a concurrent install won the partial unique index
        session.rollback()
        raise Conflict("already_installed", f"{module} is already installed for "
                       f"{who.jurisdiction_code}") from None
    audit(session, _actor(session, who), "installation.create", f"installation {item.id}",
          module=module, version=chosen.version, terms=item.terms)
    return item


def install_with_dependencies(session: Session, who: Any, module: str, version: str | None = None,
                              accept_terms: bool = False, config: dict | None = None,
                              choose: dict[str, str] | None = None
                              ) -> tuple[Installation, list[Installation]]:
    """Install a composite and every missing dependency in the caller's one transaction.

    Each is an agreement of its own under its own terms (``accept_terms`` accepts
    them all, as listed by :func:`dependencies.plan`); returns (composite, dependencies).
    """
    chosen = pick_version(session, find_module(session, module), version)
    found = dependencies.plan(session, who.jurisdiction_code, chosen, choose)
    dependencies.ready(found, chosen)
    _require_acceptance(accept_terms, chosen)
    made = [install(session, who, step.version.module.name, step.version.version, accept_terms)
            for step in found.steps if step.requirement is not None]
    return install(session, who, module, chosen.version, accept_terms, config), made


def list_installations(session: Session, code: str, include_ended: bool = False) -> list[Installation]:
    """A jurisdiction's installations, newest first."""
    query = sa.select(Installation).where(Installation.jurisdiction_code == code)
    if not include_ended:
        query = query.where(Installation.state == "active")
    return list(session.scalars(query.order_by(Installation.id.desc())))


def get_installation(session: Session, code: str, installation_id: int) -> Installation:
    """One of the jurisdiction's installations; another tenant's id is 404 like a missing one."""
    item = session.get(Installation, installation_id)
    if item is None or item.jurisdiction_code != code:
        raise NotFound("unknown_installation", f"no installation {installation_id} for {code}")
    return item


def _require_active(item: Installation) -> None:
    if item.state != "active":
        raise Conflict("installation_ended", f"installation {item.id} has ended; install again")


def change_version(session: Session, who: Any, installation_id: int, version: str,
                   accept_terms: bool = False) -> Installation:
    """Upgrade or downgrade; the agreement stands if terms are equal, else needs acceptance."""
    item = get_installation(session, who.jurisdiction_code, installation_id)
    _require_active(item)
    chosen = pick_version(session, item.module, version)
    if chosen.terms != item.terms:
        if accept_terms is not True:
            raise Conflict("terms_changed", f"{item.module.name} {chosen.version} comes with "
                           "different terms; read them and send \"accept_terms\": true",
                           terms=chosen.terms, previous_terms=item.terms)
        item.terms = dict(chosen.terms)
        item.accepted_at = now()
        item.accepted_by = _user_id(who)
    before = item.version.version
    item.version_id = chosen.id
    session.flush()
    session.refresh(item, ["version"])
    dependencies.still_served(session, who.jurisdiction_code,
                              {item.module.name, item.module.implements})
    audit(session, _actor(session, who), "installation.version", f"installation {item.id}",
          before=before, after=chosen.version)
    return item


def uninstall(session: Session, who: Any, installation_id: int) -> Installation:
    """End an installation; usage recorded so far stays billable."""
    item = get_installation(session, who.jurisdiction_code, installation_id)
    _require_active(item)
    needers = dependencies.required_by(session, item)
    if needers:
        raise Conflict("required_by", f"{', '.join(needers)} still call {item.module.name}; "
                       "uninstall them first (or install another module serving them)",
                       required_by=needers)
    item.state = "ended"
    item.ended_at = now()
    session.flush()
    audit(session, _actor(session, who), "installation.end", f"installation {item.id}",
          module=item.module.name)
    return item


def switch_implementation(session: Session, who: Any, installation_id: int, module: str,
                          version: str | None = None, accept_terms: bool = False
                          ) -> tuple[Installation, Installation]:
    """Replace an installation by another module implementing the same interface, atomically.

    Returns (ended, new). Both changes are in the caller's transaction.
    """
    old = get_installation(session, who.jurisdiction_code, installation_id)
    _require_active(old)
    target = find_module(session, module)
    interface = old.module.implements
    if not interface or target.implements != interface or target.id == old.module_id:
        raise Conflict("not_same_interface", f"{module} does not implement "
                       f"{interface or '(no interface)'} as {old.module.name} does; only "
                       "modules sharing an `implements` interface can replace each other")
    pick_version(session, target, version)          # refuse early, before ending anything
    old.state = "ended"
    old.ended_at = now()
    session.flush()
    new = install(session, who, module, version, accept_terms, config=old.config)
    dependencies.still_served(session, who.jurisdiction_code, {old.module.name, interface})
    audit(session, _actor(session, who), "installation.switch", f"installation {old.id}",
          interface=interface, replaced_by=new.id)
    return old, new


def context_for(session: Session, item: Installation, request_id: str = "") -> Context:
    """The module's view of an installation."""
    juris = session.get(Jurisdiction, item.jurisdiction_code)
    return Context(jurisdiction=JurisdictionRef(juris.code, juris.name),
                   installation_id=item.id, config=dict(item.config or {}),
                   request_id=request_id, module=item.module.name, version=item.version.version)


def manager(session: Session, store: ArtifactStore, item: Installation):
    """The cached PluginManager of an installation."""
    version = item.version
    return loader.manager_for(store, item.id, version.id, version.sha256, version.entry,
                              lambda: session.scalars(sa.select(Operation.name).where(
                                  Operation.version_id == version.id)).all())


def announce(session: Session, store: ArtifactStore, item: Installation, hook: str,
             timeout: float = 5.0) -> None:
    """Fire ``module_installed`` / ``module_uninstalled``; failures are logged, never fatal."""
    try:
        pm = manager(session, store, item)
    except Exception:  # noqa: BLE001 - a module that fails to load must not block the agreement
        loader.log.warning("could not load installation %s for %s", item.id, hook, exc_info=True)
        return
    loader.call_lifecycle(pm, hook, context_for(session, item), item.id, timeout)
    if hook == "module_uninstalled":
        loader.forget(item.id)


HEALTH_OPERATION = "module_health"       # the operation name of a health check's usage event


class QuotaExceeded(MarketplaceError):
    """A module call refused because the installation's quota of the minute is used up."""

    status = 429


def health(session: Session, store: ArtifactStore, who: Any, installation_id: int,
           timeout: float = 5.0, quota: int = 600) -> dict:
    """Ask the module how it is (``module_health``), under the caller's quota, metered.

    Health checks run module code, so they are gateway calls in all but name: one
    call of the quota (``quota_per_minute`` or ``quota``) is granted and committed
    before the module runs, and a usage event of 0 units (never billed) records
    the outcome: ``ok`` when the module answered, ``error`` when it failed or
    timed out, ``rejected`` (and :class:`QuotaExceeded`) when the quota is used up.
    """
    item = get_installation(session, who.jurisdiction_code, installation_id)
    _require_active(item)
    return metered(session, item, HEALTH_OPERATION, quota,
                   lambda: _ask(session, store, item, timeout))


def metered(session: Session, item: Installation, operation: str, quota: int,
            run: Callable[[], tuple[Any, str, bool]]) -> Any:
    """Run module code outside the gateway as the gateway would: granted and metered.

    One call of the quota is committed before ``run()`` (which answers (result,
    event status, counted)); one usage event of 0 units (never billed) records
    the outcome; :class:`QuotaExceeded` (event ``rejected``) when the quota is used up.
    """
    engine, minute, started = session.get_bind(), minute_now(), time.perf_counter()
    limit = item.quota_per_minute or quota
    with db.sqlite_write_turn(engine), engine.begin() as conn:
        granted = reserve_call(conn, item.id, limit, minute)
    if not granted:
        _meter(engine, item.id, operation, "rejected", started)
        raise QuotaExceeded("quota_exceeded", f"quota of {limit} calls per minute used up "
                            "(health checks count like calls); retry in the next minute",
                            retry_after=60 - int(now().timestamp()) % 60)
    result, status, counted = run()
    _meter(engine, item.id, operation, status, started, None if counted else minute)
    return result


def _ask(session: Session, store: ArtifactStore, item: Installation,
         timeout: float) -> tuple[dict, str, bool]:
    """(answer, usage event status, whether the call counts against the quota)."""
    try:
        pm = manager(session, store, item)
        answer = loader.call_with_limit(item.id, timeout, pm.hook.module_health,
                                        context=context_for(session, item))
    except loader.ModuleTimeout as exc:
        return ({"status": "timeout", "message": str(exc)}, "error",
                not isinstance(exc, loader.ModuleBusy))
    except Exception as exc:  # noqa: BLE001 - reporting the failure is the point
        return {"status": "error", "message": f"{type(exc).__name__}: {exc}"}, "error", True
    if answer is None:
        return ({"status": "ok", "message": "the module has no health hook; it loads and "
                 "registers"}, "ok", True)
    answer = dict(answer) if isinstance(answer, dict) else {"status": str(answer)}
    try:
        jsonio.dumps(answer)
    except ValueError as exc:
        return ({"status": "error", "message": f"module_health answered no JSON: {exc}"},
                "error", True)
    return answer, "ok", True


def _meter(engine: sa.Engine, installation_id: int, operation: str, status: str,
           started: float, give_back: int | None = None) -> None:
    """Commit a usage event of 0 units and give back an uncounted grant."""
    event = call_event(installation_id=installation_id, event_id=event_id(),
                       operation=operation, units=0, status=status,
                       duration_ms=int((time.perf_counter() - started) * 1000))
    with db.sqlite_write_turn(engine), engine.begin() as conn:
        writer.insert_new(conn, [event])
        if give_back is not None:
            conn.execute(GIVE_BACK, {"iid": installation_id, "m": give_back})
