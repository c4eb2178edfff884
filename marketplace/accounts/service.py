"""Jurisdictions, users and API tokens: pure domain logic on a session."""
from __future__ import annotations

import csv
import hashlib
import re
import secrets
from importlib import resources
from typing import Iterable

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from marketplace.accounts.emails import check_email, normal_email
from marketplace.accounts.models import (LEVELS, ROLE_SCOPES, ROLES, SCOPES, ApiToken, AuditEntry,
                                         Jurisdiction, User)
from marketplace.accounts.passwords import check_password
from marketplace.clock import now
from marketplace.errors import Conflict, Forbidden, MarketplaceError, NotFound

CODE_RE = re.compile(r"[1-9][0-9]{5}")      # fullmatch, ASCII digits only
TOKEN_PREFIX = "gm_"
_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)


class AccountError(MarketplaceError):
    """Refusal in the accounts area."""


def level_of(code: str) -> str:
    """GB/T 2260 level from the code's shape: ``XX0000`` province, ``XXYY00`` city, else county."""
    if code.endswith("0000"):
        return "province"
    return "city" if code.endswith("00") else "county"


def check_code(code: str) -> str:
    """Refuse anything that is not a six-digit division code."""
    if not isinstance(code, str) or not CODE_RE.fullmatch(code):
        raise AccountError("invalid_code",
                           f"jurisdiction code {code!r} is not a 6-digit GB/T 2260 code like 440300")
    return code


def get_jurisdiction(session: Session, code: str) -> Jurisdiction:
    """The jurisdiction with ``code`` or NotFound."""
    check_code(code)
    found = session.get(Jurisdiction, code)
    if found is None:
        raise NotFound("unknown_jurisdiction",
                       f"jurisdiction {code} is not registered; add it with "
                       f"`marketplace jurisdiction add {code} NAME` or load the divisions file")
    return found


def add_jurisdiction(session: Session, code: str, name: str, level: str | None = None,
                     parent_code: str | None = None) -> Jurisdiction:
    """Register a jurisdiction; the parent defaults to the code's province or city."""
    check_code(code)
    if not (name or "").strip():
        raise AccountError("invalid_name", "jurisdiction name must not be empty")
    level = level or level_of(code)
    if level not in LEVELS:
        raise AccountError("invalid_level", f"level must be one of {', '.join(LEVELS)}")
    if session.get(Jurisdiction, code) is not None:
        raise Conflict("jurisdiction_exists", f"jurisdiction {code} already exists")
    if parent_code is None and level != "province":
        for guess in (code[:4] + "00", code[:2] + "0000"):
            if guess != code and session.get(Jurisdiction, guess) is not None:
                parent_code = guess
                break
    if parent_code:
        get_jurisdiction(session, parent_code)
    item = Jurisdiction(code=code, name=name.strip(), level=level, parent_code=parent_code or None)
    session.add(item)
    session.flush()
    return item


def load_divisions(session: Session, rows: Iterable[dict] | None = None) -> int:
    """Load the bundled GB/T 2260 divisions (parents first); returns how many were new."""
    if rows is None:
        text = resources.files("marketplace").joinpath("data/divisions.csv").read_text("utf-8")
        rows = list(csv.DictReader(text.splitlines()))
    rows = sorted(rows, key=lambda r: LEVELS.index(r["level"]))
    existing = set(session.scalars(sa.select(Jurisdiction.code)))
    added = 0
    for row in rows:
        if row["code"] in existing:
            continue
        session.add(Jurisdiction(code=check_code(row["code"]), name=row["name"], level=row["level"],
                                 parent_code=row.get("parent") or None))
        session.flush()
        added += 1
    return added


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """Check a password; for no user (or an inactive one) spend the same work and say no.

    Unknown e-mails are checked against a dummy hash made with the same parameters, so
    the answer takes as long as for a known user: timing tells nobody who has an account.
    """
    known = user is not None and user.active
    target = user.password_hash if known else _dummy_hash(_hasher)
    try:
        ok = _hasher.verify(target, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        ok = False
    return ok and known


_dummies: dict[str, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of a random secret with ``hasher``'s parameters (made once per parameter set)."""
    params = f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
    if params not in _dummies:
        _dummies[params] = hasher.hash(secrets.token_hex(16))
    return _dummies[params]


def add_user(session: Session, email: str, password: str, jurisdiction_code: str, role: str,
             name: str = "") -> User:
    """Create a user of a jurisdiction with one role."""
    email = check_email(email)
    if role not in ROLES:
        raise AccountError("invalid_role", f"role {role!r} is not one of {', '.join(ROLES)}")
    check_password(password, email)
    get_jurisdiction(session, jurisdiction_code)
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise Conflict("email_taken", f"a user with e-mail {email} already exists")
    user = User(email=email, name=name or email.split("@")[0], role=role,
                password_hash=hash_password(password), jurisdiction_code=jurisdiction_code)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace a user's password under the policy; open console sessions end (fingerprint changes)."""
    user.password_hash = hash_password(check_password(password, user.email))
    audit(session, None, "user.password", user.email)


def find_user(session: Session, email: str) -> User:
    """The user with this e-mail or NotFound."""
    user = session.scalar(sa.select(User).where(User.email == normal_email(email)))
    if user is None:
        raise NotFound("unknown_user", f"no user with e-mail {email}")
    return user


def _scope_error(where: str, message: str) -> AccountError:
    """A located ``invalid_scope`` refusal."""
    return AccountError("invalid_scope", f"{where}: {message}",
                        details=[{"where": where, "message": message}])


def parse_scopes(value: object, where: str = "scopes") -> list[str]:
    """The one parser of requested scopes (API, CLI, pages): a string or a list of strings.

    A string is split on commas and spaces (``"read,invoke"``); a list must hold scope
    names only. Anything else (numbers, nested lists, objects) is a located 400.
    """
    choose = f"choose from {' '.join(SCOPES)}"
    if isinstance(value, str):
        items = re.split(r"[,\s]+", value.strip())
    elif isinstance(value, (list, tuple)):
        items = list(value)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise _scope_error(f"{where}[{index}]", f"each scope is a string; {choose}")
    else:
        raise _scope_error(where, f'send scopes as a list like ["read", "invoke"]; {choose}')
    scopes = [s for s in items if s]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        shown = ", ".join(repr(s[:40]) for s in unknown[:5]) or "(none)"
        raise _scope_error(where, f"unknown scope {shown}; {choose}")
    return sorted(set(scopes), key=SCOPES.index)


def token_digest(token: str) -> str:
    """SHA-256 of a token: tokens carry 256 random bits, so a fast hash is safe."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, scopes: object, name: object = "",
                granted: Iterable[str] | None = None) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the secret, which is never stored.

    ``granted`` is what the creating credential holds: a token's own scopes, so a token
    never mints or widens scopes beyond itself (None: a console session or the CLI,
    bounded by the user's role).
    """
    wanted = parse_scopes(scopes)
    name = "" if name is None else name
    if not isinstance(name, str) or len(name) > 100:
        raise AccountError("invalid_name", "name: a token's name is a string of at most 100 characters",
                           details=[{"where": "name", "message": "a string of at most 100 characters"}])
    denied = [s for s in wanted if s not in ROLE_SCOPES[user.role]]
    if denied:
        raise AccountError("scope_not_allowed",
                           f"a {user.role} may not hold scope {', '.join(denied)}")
    wider = [s for s in wanted if granted is not None and s not in set(granted)]
    if wider:
        raise Forbidden("scope_not_held",
                        f"a token cannot grant scope {', '.join(wider)} it does not hold itself; "
                        "create it from the console or with a token that holds it")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=secret[:10], scopes=" ".join(wanted),
                     token_hash=token_digest(secret))
    session.add(token)
    session.flush()
    audit(session, user, "token.issue", f"token {token.id}", scopes=wanted)
    return token, secret


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """A user's tokens, oldest first (never their secrets: only digests are stored)."""
    return list(session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int, by: User | None = None) -> ApiToken:
    """Revoke a token (idempotent); only its owner or an admin may."""
    token = session.get(ApiToken, token_id)
    if token is None or (by is not None and by.role != "admin" and token.user_id != by.id):
        raise NotFound("unknown_token", f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now()
        audit(session, by, "token.revoke", f"token {token.id}")
    return token


def authenticate_token(session: Session, secret: str) -> ApiToken | None:
    """The live token for a presented secret, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_digest(secret)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    return token


def audit(session: Session, actor: User | None, action: str, subject: str, **detail) -> None:
    """Append to the audit journal."""
    session.add(AuditEntry(actor_id=actor.id if actor else None,
                           actor=actor.email if actor else "system",
                           jurisdiction_code=actor.jurisdiction_code if actor else None,
                           action=action, subject=subject, detail=detail))
