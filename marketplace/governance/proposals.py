"""Joint decisions (联合决策, DESIGN §13): propose, vote, decide — pure domain logic on a session.

Rules, in the contract's words:

* an ``owners`` proposal (new owners, shares and build cost) needs the approval of
  every jurisdiction in the old **or** the new owner list; one rejection rejects it;
  accepted, the new owners are in force from the **next** period (the period being
  settled keeps the owners in force at its start);
* a ``terms`` proposal (the ``[terms]`` of the module's next version) is accepted once
  approving owners hold more than 50 % of the shares, rejected once rejecting owners
  hold 50 % or more (shares as they were when it was proposed); the next co-owned
  module's version waiting in ``pending_owners`` with those terms (by value) then goes to
  review — one version: the acceptance is spent on it (``payload["released_version"]``);
* proposing is not voting; each jurisdiction votes once (409 ``already_voted``);
* an open proposal expires 30 days after it was made, evaluated lazily by the
  platform clock whenever proposals are read or voted on.

Nothing here commits: the caller (API, page, CLI) owns the transaction.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from marketplace.accounts.models import User
from marketplace.accounts.service import audit
from marketplace.catalog.models import Module
from marketplace.clock import now, period_of
from marketplace.errors import Conflict, Forbidden, MarketplaceError, NotFound
from marketplace.governance import shares
from marketplace.governance.models_proposals import DECISIONS, Proposal, ProposalVote
from marketplace.governance.proposal_input import BUILD_CURRENCY, ProposalInput
from marketplace.governance.terms_value import same_terms
from marketplace.money import format_amount

LIFETIME = timedelta(days=30)
HALF = shares.FULL_SHARE // 2
LIST_STATES = ("open", "accepted", "rejected", "expired", "all")


def next_period(period: str) -> str:
    """The calendar month after ``period`` (``2026-12`` → ``2027-01``)."""
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def _module(session: Session, name: str) -> Module:
    from marketplace.catalog.service import find_module

    return find_module(session, name)


#: the token scope each verb needs (API: checked by the route; CLI ``--as``: by the role)
VERB_SCOPES = {"show": "read", "list": "read", "create": "publish", "approve": "publish",
               "reject": "publish"}


def check_role(user: User | None, verb: str) -> None:
    """The scope check for a caller without a token (CLI ``--as``): ``user``'s role must be
    able to hold the scope the API route of ``verb`` needs (403 ``missing_scope``)."""
    from marketplace.accounts.models import ROLE_SCOPES

    scope = VERB_SCOPES[verb]
    if user is not None and scope not in ROLE_SCOPES[user.role]:
        raise Forbidden("missing_scope", f"a {user.role} cannot hold scope '{scope}', which "
                        f"{verb} needs; act as a publisher of the module's owners")


def _may_propose(user: User, codes: set[str], name: str) -> None:
    """Only a publisher of a current owner (``codes``) proposes; the refusal names no owner."""
    if user.role != "publisher" or user.jurisdiction_code not in codes:
        raise Forbidden("not_a_party", f"only a publisher of one of the current owners of "
                        f"{name} may propose changes to it; you are {user.role}")


def authorize(proposal: Proposal, user: User | None, verb: str = "show") -> None:
    """The one check of who may ``verb`` ("show", "approve", "reject") ``proposal``, for the
    API, the console and the CLI alike. Whoever may not see it gets the answer of a missing
    proposal (404, nothing said about its parties); a caller who sees it but may not vote
    (an administrator, a party's adopter) gets 403 ``not_a_party`` naming no party."""
    if not may_see(proposal, user):
        raise NotFound("unknown_proposal", f"no proposal {proposal.id}")
    if verb != "show" and (user is None or user.role != "publisher"
                           or user.jurisdiction_code not in parties(proposal)):
        raise Forbidden("not_a_party", f"only a publisher of a jurisdiction that decides "
                        f"proposal {proposal.id} votes on it (administrators see proposals but "
                        f"never vote); you are {'the console' if user is None else user.role}")


def expire_due(session: Session) -> int:
    """Expire every open proposal past its 30 days (journaled as "system"); how many."""
    stamp = now()
    due = session.execute(sa.select(Proposal.id, Proposal.module_id, Proposal.kind)
                          .where(Proposal.state == "open", Proposal.expires_at <= stamp)
                          .order_by(Proposal.id)).all()      # one lock order for every reader
    expired = 0
    for proposal_id, module_id, kind in due:
        done = session.execute(sa.update(Proposal)
                               .where(Proposal.id == proposal_id, Proposal.state == "open")
                               .values(state="expired", open_kind=None, decided_at=stamp)
                               .execution_options(synchronize_session="fetch"))
        if done.rowcount == 1:          # a concurrent reader may have expired it first
            expired += 1
            audit(session, None, "proposal.expire", f"proposal {proposal_id}",
                  module_id=module_id, kind=kind)
    return expired


def propose(session: Session, name: str, data: ProposalInput, user: User) -> Proposal:
    """Open a proposal on module ``name`` for ``user`` (a publisher of a current owner).

    Raises NotFound unknown_module, Forbidden not_a_party, Conflict proposal_open (one open
    proposal of each kind per module; concurrent proposals: exactly one is made).
    """
    module = _module(session, name)
    owners_now = shares.current_owners(session, module.id)
    _may_propose(user, {code for code, _ in owners_now}, name)
    expire_due(session)
    parties = dict(owners_now)
    if data.kind == "owners":
        for code, _ in data.owners:
            parties.setdefault(code, 0)
    stamp = now()
    proposal = Proposal(module_id=module.id, kind=data.kind, state="open", open_kind=data.kind,
                        payload=data.payload(), note=data.note, proposer_code=user.jurisdiction_code,
                        proposed_by=user.id, created_at=stamp, expires_at=stamp + LIFETIME,
                        votes=[ProposalVote(jurisdiction_code=code, share_bps=bps)
                               for code, bps in sorted(parties.items())])
    session.add(proposal)
    try:
        session.flush()
    except IntegrityError:          # another open proposal of this kind (maybe made just now)
        session.rollback()
        raise Conflict("proposal_open", f"module {name!r} already has an open {data.kind} "
                       "proposal; decide it (or let it expire) before proposing again") from None
    asked = {"terms": data.terms} if data.kind == "terms" else {
        "owners": proposal.payload["owners"],
        "build_cost": None if data.build_cost_minor is None
        else format_amount(data.build_cost_minor, BUILD_CURRENCY)}
    audit(session, user, "proposal.create", f"proposal {proposal.id}", module=name,
          kind=data.kind, note=data.note, **asked)
    return proposal


def find(session: Session, proposal_id: int) -> Proposal:
    """Proposal ``proposal_id`` or NotFound (nothing checked about the caller)."""
    proposal = session.get(Proposal, proposal_id, populate_existing=True,
                           options=[selectinload(Proposal.votes)])
    if proposal is None:
        raise NotFound("unknown_proposal", f"no proposal {proposal_id}")
    return proposal


def parties(proposal: Proposal) -> set[str]:
    """The jurisdictions that decide ``proposal`` (old and new owners; owners for terms)."""
    return {vote.jurisdiction_code for vote in proposal.votes}


def may_see(proposal: Proposal, user: User | None) -> bool:
    """Parties (any user of theirs), platform administrators and the operator at the
    server console (``user`` None) see a proposal."""
    return user is None or user.role == "admin" or user.jurisdiction_code in parties(proposal)


def show(session: Session, proposal_id: int, user: User | None) -> Proposal:
    """Proposal ``proposal_id`` as ``user`` may see it (expiry evaluated first), else 404."""
    expire_due(session)
    proposal = find(session, proposal_id)
    authorize(proposal, user, "show")
    return proposal


def vote(session: Session, proposal_id: int, user: User, decision: str, *,
         require_review: bool = True) -> Proposal:
    """Record ``user``'s jurisdiction's ``decision`` ("approve"/"reject") and decide if settled.

    Votes on one proposal are serialised (the proposal row is written first), so racing
    votes of one jurisdiction record exactly one, and the deciding vote is seen once.
    """
    if decision not in DECISIONS:
        raise MarketplaceError("invalid_decision", "decision must be \"approve\" or \"reject\"")
    expire_due(session)
    locked = session.execute(sa.update(Proposal).where(Proposal.id == proposal_id)
                             .values(revision=Proposal.revision + 1)
                             .execution_options(synchronize_session=False))
    if locked.rowcount != 1:
        raise NotFound("unknown_proposal", f"no proposal {proposal_id}")
    proposal = find(session, proposal_id)
    authorize(proposal, user, decision)
    if proposal.state != "open":
        raise Conflict("not_open", f"proposal {proposal_id} is {proposal.state}; only open "
                       "proposals take votes (make a new proposal)")
    ballot = next(v for v in proposal.votes if v.jurisdiction_code == user.jurisdiction_code)
    if ballot.decision is not None:
        raise Conflict("already_voted", f"{user.jurisdiction_code} already voted "
                       f"{ballot.decision} on proposal {proposal_id}; each jurisdiction votes once")
    ballot.decision, ballot.voted_by, ballot.voted_at = decision, user.id, now()
    session.flush()
    audit(session, user, f"proposal.{decision}", f"proposal {proposal_id}",
          module_id=proposal.module_id, kind=proposal.kind)
    outcome = _outcome(proposal)
    if outcome is not None:
        _decide(session, proposal, outcome, user, require_review)
    return proposal


def _outcome(proposal: Proposal) -> str | None:
    """"accepted", "rejected" or None (still open) by the rule of the proposal's kind."""
    approving = [v for v in proposal.votes if v.decision == "approve"]
    rejecting = [v for v in proposal.votes if v.decision == "reject"]
    if proposal.kind == "owners":
        if rejecting:
            return "rejected"
        return "accepted" if len(approving) == len(proposal.votes) else None
    if sum(v.share_bps for v in approving) > HALF:
        return "accepted"
    if sum(v.share_bps for v in rejecting) >= HALF:
        return "rejected"
    return None


def _decide(session: Session, proposal: Proposal, outcome: str, user: User,
            require_review: bool) -> None:
    """Close ``proposal`` as ``outcome`` and carry out an acceptance."""
    stamp = now()
    proposal.state, proposal.open_kind, proposal.decided_at = outcome, None, stamp
    detail: dict[str, Any] = {"module_id": proposal.module_id, "kind": proposal.kind}
    if outcome == "accepted" and proposal.kind == "owners":
        proposal.effective_period = next_period(period_of(stamp))
        owners = [(o["code"], o["share_bps"]) for o in proposal.payload["owners"]]
        shares.set_owners(session, proposal.module_id, owners,
                          proposal.payload.get("build_cost_minor"), proposal.effective_period,
                          user)
        detail["effective_period"] = proposal.effective_period
    elif outcome == "accepted":
        from marketplace.catalog.service import release_pending_owners

        released = release_pending_owners(session, proposal.module_id, proposal.payload["terms"],
                                          user, require_review=require_review)
        if released is not None:
            proposal.payload = {**proposal.payload, "released_version": released.version}
        detail["released"] = [] if released is None else [released.version]
    session.flush()
    audit(session, user, f"proposal.{outcome}", f"proposal {proposal.id}", **detail)


def unused_acceptance(session: Session, module_id: int) -> Proposal | None:
    """The module's newest accepted terms proposal if no version has used it yet, else None.

    An accepted terms proposal decides the terms of the module's *next* version: the first
    version with those terms (by value) takes it, and it is spent. A version the operator
    rejected in review gives it back (the owners' decision still awaits a version). An older
    acceptance is superseded by a newer one."""
    from marketplace.catalog.models import ModuleVersion

    proposal = session.scalar(sa.select(Proposal)
                              .where(Proposal.module_id == module_id, Proposal.kind == "terms",
                                     Proposal.state == "accepted")
                              .order_by(Proposal.decided_at.desc(), Proposal.id.desc()).limit(1)
                              .execution_options(populate_existing=True))
    if proposal is None:
        return None
    used = proposal.payload.get("released_version")
    if used is not None and session.scalar(sa.select(ModuleVersion.state).where(
            ModuleVersion.module_id == module_id, ModuleVersion.version == used)) \
            not in (None, "rejected"):
        return None
    return proposal


def _claim(session: Session, proposal: Proposal) -> bool:
    """Take ``proposal`` for one version: a conditional write on its revision, so of two
    uploads racing for one acceptance exactly one gets it (the other waits for the owners)."""
    taken = session.execute(sa.update(Proposal)
                            .where(Proposal.id == proposal.id,
                                   Proposal.revision == proposal.revision)
                            .values(revision=Proposal.revision + 1)
                            .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        return False
    proposal.revision += 1
    session.flush()
    return True


def terms_gate(session: Session, module_id: int, terms: dict,
               current_terms: dict | None) -> tuple[bool, Proposal | None]:
    """``(must wait, acceptance it uses)`` for a new version with ``terms`` (DESIGN §13).

    Only co-owned modules wait, only when the terms differ in value from the current ones,
    and not when an unused accepted terms proposal holds these terms (by value): the version
    then uses that acceptance up (record it with :func:`mark_released` once it is written).
    """
    if current_terms is None or same_terms(terms, current_terms):
        return False, None
    if len(shares.current_owners(session, module_id)) < 2:
        return False, None
    acceptance = unused_acceptance(session, module_id)
    if acceptance is not None and same_terms(acceptance.payload["terms"], terms) \
            and _claim(session, acceptance):
        return False, acceptance
    return True, None


def mark_released(session: Session, proposal: Proposal, version: str, actor: User | None) -> None:
    """Record that ``version`` used the accepted terms ``proposal``."""
    proposal.payload = {**proposal.payload, "released_version": version}
    session.flush()
    audit(session, actor, "proposal.released", f"proposal {proposal.id}",
          module_id=proposal.module_id, version=version)


def listing(session: Session, user: User | None, state: str = "open",
            module: str | None = None) -> list[Proposal]:
    """Proposals for ``user``: ``open`` = the decisions still awaiting its jurisdiction
    (admins and the console operator, ``user`` None: every open proposal); other states =
    those its jurisdiction is a party to (admins: all). Newest first; expiry evaluated first."""
    if state not in LIST_STATES:
        raise MarketplaceError("invalid_state", f"state must be one of {', '.join(LIST_STATES)}",
                               details=[{"where": "query.state", "message": "unknown state"}])
    expire_due(session)
    query = sa.select(Proposal).options(selectinload(Proposal.votes)) \
        .order_by(Proposal.created_at.desc(), Proposal.id.desc())
    if state != "all":
        query = query.where(Proposal.state == state)
    if module is not None:
        query = query.where(Proposal.module_id == _module(session, module).id)
    if user is not None and user.role != "admin":
        mine = sa.select(ProposalVote.proposal_id).where(
            ProposalVote.jurisdiction_code == user.jurisdiction_code)
        if state == "open":
            mine = mine.where(ProposalVote.decision.is_(None))
        query = query.where(Proposal.id.in_(mine))
    return list(session.scalars(query))


def module_names(session: Session, proposals: list[Proposal]) -> dict[int, str]:
    """Module names by id for a list of proposals (one query)."""
    ids = {p.module_id for p in proposals}
    if not ids:
        return {}
    return dict(session.execute(sa.select(Module.id, Module.name).where(Module.id.in_(ids))).all())


def jurisdiction_names(session: Session, codes: set[str]) -> dict[str, str]:
    """Names of jurisdictions by code (for pages)."""
    from marketplace.accounts.models import Jurisdiction

    if not codes:
        return {}
    return dict(session.execute(sa.select(Jurisdiction.code, Jurisdiction.name)
                                .where(Jurisdiction.code.in_(codes))).all())


def proposable_modules(session: Session, user: User) -> list[str]:
    """Names of the modules ``user``'s jurisdiction owns now (it may propose on them)."""
    if user.role != "publisher":
        return []
    modules = dict(session.execute(sa.select(Module.id, Module.publisher_code)).all())
    names = dict(session.execute(sa.select(Module.id, Module.name)).all())
    owners = shares.owners_for_period(session, modules, period_of(now()))
    return sorted(names[mid] for mid, listed in owners.items()
                  if user.jurisdiction_code in {code for code, _ in listed})
