"""Every agreement an installation has had, so a period is priced under the terms in force in it.

``installations.terms`` holds only the current agreement: an upgrade accepted
after a period ended would otherwise reprice that period when it is settled
late. Each time an installation is written with new terms (install, upgrade to
other terms, by any code path through the ORM) one row is kept here.

Rule (stated in the README): a period is priced under the agreements in force at
its start; an installation that began during the period, under its first one. A
change of terms takes effect from the next period.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from marketplace.db import Base, JSONType, UTCDateTime
from marketplace.runtime.models import Installation


class InstallationTerms(Base):
    """One agreement: the terms an installation's adopter accepted, and when."""

    __tablename__ = "installation_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    installation_id: Mapped[int] = mapped_column(sa.ForeignKey("installations.id"), index=True)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    terms: Mapped[dict] = mapped_column(JSONType, default=dict)


def _keep(connection: Any, target: Installation) -> None:
    connection.execute(InstallationTerms.__table__.insert().values(
        installation_id=target.id, accepted_at=target.accepted_at, terms=target.terms))


@event.listens_for(Installation, "after_insert")
def _first_agreement(mapper: Any, connection: Any, target: Installation) -> None:
    _keep(connection, target)


@event.listens_for(Installation, "after_update")
def _new_agreement(mapper: Any, connection: Any, target: Installation) -> None:
    if sa.inspect(target).attrs.terms.history.has_changes():
        _keep(connection, target)


def in_force(session: Session, rows: list[Any], start: datetime) -> dict[int, tuple[datetime, dict]]:
    """Per installation row (``id``, ``terms``, ``accepted_at``): (accepted at, terms) in force at ``start``.

    Only rows whose current terms were accepted after ``start`` need their
    history (one query for those); without history rows, the current terms stand.
    """
    result = {row.id: (row.accepted_at, row.terms or {"kind": "free"}) for row in rows}
    changed = [row.id for row in rows if row.accepted_at > start]
    if not changed:
        return result
    t = InstallationTerms
    history: dict[int, list[tuple[datetime, int, dict]]] = {}
    for iid, accepted, terms, key in session.execute(
            sa.select(t.installation_id, t.accepted_at, t.terms, t.id)
            .where(t.installation_id.in_(changed))):
        history.setdefault(iid, []).append((accepted, key, terms))
    for iid, agreements in history.items():
        agreements.sort(key=lambda a: (a[0], a[1]))
        before = [a for a in agreements if a[0] <= start]
        accepted, _, terms = before[-1] if before else agreements[0]
        result[iid] = (accepted, terms or {"kind": "free"})
    return result
