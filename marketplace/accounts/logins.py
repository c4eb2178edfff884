"""Console logins: throttled password checks and server-side sessions that logout revokes.

Throttle design (DESIGN §12: per account *and* per client address, no lock-out by strangers):

* ``pair`` — one account at one client address: 5 attempts per 15 minutes. A stranger who
  guesses from their address locks only their own (account, address) pair; the owner,
  logging in from anywhere else, is never refused because of them.
* ``address`` — one client address over all accounts: 20 failed attempts per 15 minutes,
  so one client cannot spray passwords across accounts.
* ``account`` — one account over all addresses: 15 attempts per 15 minutes (60 an hour), so
  an attacker with N addresses does not get 5N guesses. Past this cap the account is
  *cooling down for strangers*: only addresses it has logged in from successfully in the
  last 90 days (its console sessions, revoked or not, remember them) may still try; others
  are refused (429) before any password is checked, known account or not. The owner, at
  home or at the office, is not locked out; a stranger would need one of those addresses.

Each attempt reserves its slots *before* the password is checked, in one atomic upsert per
counter (``INSERT … ON CONFLICT DO UPDATE … RETURNING``), committed at once: parallel tries
on any number of workers see each other, so exactly 5 passwords are tested, never more.
A correct password gives its reservations back (the pair's counter is cleared). Attempts
refused by the throttle check no password and say so (429), whatever the password.
The address is the one the app trusts (``TRUSTED_PROXY_HOPS``; default the socket peer).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from marketplace.accounts import service
from marketplace.accounts.emails import normal_email
from marketplace.accounts.models import LoginSession, LoginThrottle, User
from marketplace.clock import now
from marketplace.errors import MarketplaceError, Unauthorized

WINDOW = timedelta(minutes=15)
PAIR_MAX_ATTEMPTS = 5
ADDRESS_MAX_FAILURES = 20
ACCOUNT_MAX_ATTEMPTS = 15
KNOWN_ADDRESS_FOR = timedelta(days=90)
SESSION_HOURS = 12           # a console session's life (MARKETPLACE_LOGIN_SESSION_HOURS)
_T = LoginThrottle.__table__


class TooManyAttempts(MarketplaceError):
    """The throttle refused the attempt before any password was checked."""

    status = 429

    def __init__(self, cooling: bool = False) -> None:
        self.cooling = cooling
        super().__init__("too_many_attempts", "this account is cooling down after many failed logins "
                         "from elsewhere: log in from an address you have used before, or try again "
                         "in 15 minutes" if cooling else
                         "too many failed logins; try again in 15 minutes")


def _digest(*parts: str) -> str:
    """Throttle key: the table never holds e-mails or addresses in clear."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _keys(email: str, address: str) -> tuple[str, str, str]:
    """(address key, pair key, account key) of one attempt."""
    account = normal_email(email)
    return (_digest("address", address), _digest("pair", account, address),
            _digest("account", account))


def _known_address(session: Session, email: str, address: str) -> bool:
    """Whether the account has logged in from ``address`` lately (False for unknown accounts)."""
    return session.scalar(
        sa.select(LoginSession.id).join(User, User.id == LoginSession.user_id)
        .where(User.email == normal_email(email), LoginSession.address == address[:64],
               LoginSession.created_at > now() - KNOWN_ADDRESS_FOR).limit(1)) is not None


def _bump(session: Session, key: str, stamp) -> int:
    """Add one attempt to ``key``'s window (a fresh window when the old one ended); the new count."""
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)(_T).values(key=key, window_start=stamp, attempts=1)
    ended = _T.c.window_start <= stamp - WINDOW
    upsert = insert.on_conflict_do_update(index_elements=[_T.c.key], set_={
        "attempts": sa.case((ended, insert.excluded.attempts), else_=_T.c.attempts + 1),
        "window_start": sa.case((ended, insert.excluded.window_start), else_=_T.c.window_start),
    }).returning(_T.c.attempts)
    return session.execute(upsert).scalar_one()


def _give_back(session: Session, key: str) -> None:
    """Return one reserved attempt of ``key``."""
    session.execute(sa.update(_T).where(_T.c.key == key, _T.c.attempts > 0)
                    .values(attempts=_T.c.attempts - 1))


def sweep_expired(session: Session) -> None:
    """Delete up to 500 ended windows, in a transaction of their own that never waits on a lock.

    SKIP LOCKED (PostgreSQL) leaves rows other logins hold to them, so the sweep cannot
    deadlock with reservations; an ended row it leaves is reset by the next upsert anyway.
    """
    ended = sa.select(_T.c.key).where(_T.c.window_start <= now() - WINDOW).limit(500)
    if session.get_bind().dialect.name == "postgresql":
        ended = ended.with_for_update(skip_locked=True)
    session.execute(sa.delete(_T).where(_T.c.key.in_(ended.scalar_subquery())))
    # console sessions past any use: dead for login, and too old to make an address known
    old = sa.select(LoginSession.id).where(LoginSession.created_at <= now() - KNOWN_ADDRESS_FOR
                                           ).limit(500)
    if session.get_bind().dialect.name == "postgresql":
        old = old.with_for_update(skip_locked=True)
    session.execute(sa.delete(LoginSession).where(LoginSession.id.in_(old.scalar_subquery())))
    session.commit()


def reserve_attempt(session: Session, email: str, address: str) -> None:
    """Charge one password check to the address, the (account, address) pair and the account,
    or refuse (429).

    Commits: the reservation must be visible to every other worker before the check runs.
    """
    stamp = now()
    address_key, pair_key, account_key = _keys(email, address)
    cooling = False
    refused = _bump(session, address_key, stamp) > ADDRESS_MAX_FAILURES
    if not refused and _bump(session, pair_key, stamp) > PAIR_MAX_ATTEMPTS:
        _give_back(session, address_key)      # the address is not charged for a refused pair
        refused = True
    elif not refused and _bump(session, account_key, stamp) > ACCOUNT_MAX_ATTEMPTS \
            and not _known_address(session, email, address):
        _give_back(session, address_key)
        _give_back(session, pair_key)
        refused = cooling = True
    session.commit()
    if refused:
        raise TooManyAttempts(cooling)


def log_in(session: Session, email: str, password: str, address: str) -> tuple[User, str]:
    """Check a password under the throttle; on success a new console session: (user, secret).

    Known and unknown e-mails take the same path and the same hashing work.
    """
    session.rollback()   # nothing of the caller's rides on these commits
    sweep_expired(session)
    reserve_attempt(session, email, address)
    user = session.scalar(sa.select(User).where(User.email == normal_email(email)))
    if not service.verify_password(user, password):
        service.audit(session, None, "login.failed", f"login {normal_email(email)[:240]}",
                      ip=address[:64])
        session.commit()
        raise Unauthorized("login_failed", "the e-mail or the password is wrong")
    address_key, pair_key, account_key = _keys(email, address)
    session.execute(sa.delete(_T).where(_T.c.key == pair_key))
    _give_back(session, address_key)
    _give_back(session, account_key)
    secret = secrets.token_urlsafe(32)
    session.add(LoginSession(id=_digest("session", secret), user_id=user.id, address=address[:64]))
    user.last_login_at = now()
    session.commit()
    return user, secret


def session_user(session: Session, user_id: int, secret: object,
                 hours: float = SESSION_HOURS) -> User | None:
    """The active user of a live console session, or None (revoked, unknown, older than
    ``hours``, user disabled): a copied cookie dies with its session, at the latest after ``hours``.
    """
    if not isinstance(secret, str) or not secret:
        return None
    return session.scalar(
        sa.select(User).join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.id == _digest("session", secret), User.id == user_id,
               LoginSession.revoked_at.is_(None),
               LoginSession.created_at > now() - timedelta(hours=hours), User.active.is_(True)))


def log_out(session: Session, secret: object) -> None:
    """Revoke a console session: its cookie, replayed later, opens nothing."""
    if isinstance(secret, str) and secret:
        session.execute(sa.update(LoginSession).where(LoginSession.id == _digest("session", secret),
                                                      LoginSession.revoked_at.is_(None))
                        .values(revoked_at=now()))
        session.commit()


def revoke_sessions(session: Session, user: User) -> int:
    """Revoke every console session of ``user`` (password change, disabling); how many."""
    result = session.execute(sa.update(LoginSession).where(LoginSession.user_id == user.id,
                                                           LoginSession.revoked_at.is_(None))
                             .values(revoked_at=now()))
    return result.rowcount
