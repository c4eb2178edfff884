"""The demo's joint decision: an open owners proposal that awaits 广东's publisher (待我决定)."""
from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace.accounts.service import find_user
from marketplace.catalog.models import Module
from marketplace.governance import proposals, shares
from marketplace.governance.proposal_input import ProposalInput
from marketplace.settlement.pricing import largest_remainder

AWAITS = "440000"                       # the demo publisher whose decision is awaited
FALLBACK = "medical-filing-cross-region"    # 上海's module, when no module is co-owned yet
JOINING_BPS = 2000                       # 广东 would take 20 %; the others keep theirs pro rata
BUILD_COST_MINOR = 120_000_000          # ¥1,200,000.00
NOTE = "长三角与广东联合共建：成本分担、收益共享（下一账期起生效）"


def open_demo_proposal(session: Session, publishers: dict[str, str],
                       say: Callable[[str], None]) -> int | None:
    """Propose that 广东 joins the owners of the demo's co-owned module (or of FALLBACK);
    its first owner's publisher proposes and approves. Returns the proposal id (None: no
    module fits). ``publishers`` maps jurisdiction codes to the demo publishers' e-mails."""
    module, owners = _candidate(session)
    if module is None or not (proposer := next((c for c, _ in owners if c in publishers), None)):
        return None
    kept = largest_remainder(shares.FULL_SHARE - JOINING_BPS, owners)
    new_owners = tuple(sorted([*kept.items(), (AWAITS, JOINING_BPS)]))
    user = find_user(session, publishers[proposer])
    proposal = proposals.propose(session, module.name, ProposalInput(
        "owners", NOTE, owners=new_owners, build_cost_minor=BUILD_COST_MINOR), user)
    proposals.vote(session, proposal.id, user, "approve")
    session.commit()
    waiting = [v.jurisdiction_code for v in proposal.votes if v.decision is None]
    say(f"proposal {proposal.id} on {module.name}: {AWAITS} joins the owners; "
        f"awaiting {', '.join(waiting)}")
    return proposal.id


def _candidate(session: Session) -> tuple[Module | None, list[tuple[str, int]]]:
    """The first co-owned module 广东 does not own yet, else FALLBACK (if 广东 does not own it)."""
    modules = list(session.scalars(sa.select(Module).order_by(Module.name)))
    owned = {m.id: shares.current_owners(session, m.id) for m in modules}
    for module in modules:
        codes = {code for code, _ in owned[module.id]}
        if len(codes) > 1 and AWAITS not in codes:
            return module, owned[module.id]
    fallback = next((m for m in modules if m.name == FALLBACK), None)
    if fallback is None or AWAITS in {code for code, _ in owned[fallback.id]}:
        return None, []
    return fallback, owned[fallback.id]
