"""Who is calling: bearer tokens for the API, flask-login sessions for pages."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Callable, Iterable

import sqlalchemy as sa
from flask import g, request

from marketplace import db
from marketplace.accounts.models import ApiToken, User
from marketplace.accounts.service import TOKEN_PREFIX, token_digest
from marketplace.clock import now
from marketplace.errors import Forbidden, Unauthorized

LAST_USED_RESOLUTION = timedelta(seconds=60)
# Authenticated tokens are remembered per process so the gateway's hot path reads one
# counter instead of the token join. Each entry holds the generation it was read at
# (accounts.models bumps it with every revocation or user change, in that commit): a
# hit whose generation moved is a miss, so revocation works at once on every worker
# and host. Unknown tokens are never cached.
TOKEN_CACHE_SECONDS = 30.0
_token_cache: dict[str, tuple[float, int, "Principal"]] = {}
_GENERATION = sa.select(sa.column("n")).select_from(sa.table("route_generation")).where(
    sa.column("id") == 1)


def forget_cached_tokens() -> None:
    """Drop this process's remembered tokens (after a revocation)."""
    _token_cache.clear()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of an API request."""

    user_id: int
    email: str
    role: str
    jurisdiction_code: str
    scopes: frozenset[str]
    token_id: int

    @property
    def is_admin(self) -> bool:
        """Platform operator."""
        return self.role == "admin"


_TOKEN_QUERY = (
    sa.select(ApiToken.id, ApiToken.scopes, ApiToken.revoked_at, ApiToken.last_used_at,
              User.id, User.email, User.role, User.jurisdiction_code, User.active,
              _GENERATION.scalar_subquery())
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == sa.bindparam("digest"))
)


#: The request environ key of a remembered token's generation still to be confirmed (see
#: :func:`require`'s ``deferred``).
UNCONFIRMED = "marketplace.token_generation"


def load_principal(deferred: bool = False) -> Principal | None:
    """Authenticate the bearer token of the current request (None when absent).

    Raises Unauthorized for a malformed, unknown or revoked token. ``deferred``: a
    remembered token is returned without reading the route generation; the view
    confirms it with :func:`confirm_token` before it answers.
    """
    if "marketplace.principal" in request.environ:   # per request, even when g is shared
        g.principal = request.environ["marketplace.principal"]
        return g.principal
    principal = _authenticate(deferred)
    request.environ["marketplace.principal"] = g.principal = principal
    return principal


def confirm_token(current: int) -> Principal | None:
    """Confirm a deferred remembered token against ``current``, the route generation the
    view has just read; None when it holds (or nothing was deferred).

    When the generation has moved, the token is authenticated again in full and the
    fresh principal returned (Unauthorized if it was revoked or its user disabled
    meanwhile): the view starts over with it.
    """
    remembered = request.environ.pop(UNCONFIRMED, None)
    if remembered is None or remembered == current:
        return None
    request.environ.pop("marketplace.principal", None)
    principal = _authenticate(False, fresh=True)
    request.environ["marketplace.principal"] = g.principal = principal
    return principal


def _current_generation() -> int:
    """The route generation, read through the request's session (paths off the gateway's)."""
    return db.session().execute(_GENERATION).scalar()


def unconfirmed() -> bool:
    """Whether this request's remembered token still waits for :func:`confirm_token`."""
    return UNCONFIRMED in request.environ


def _authenticate(deferred: bool = False, fresh: bool = False) -> Principal | None:
    """Resolve the Authorization header to a Principal (None when absent).

    A remembered token counts only while the route generation it was read at is
    still the current one: one primary-key read here, or (``deferred``) the read
    the view makes anyway (:func:`confirm_token`). ``fresh``: never the remembered one.
    """
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(TOKEN_PREFIX):
        raise Unauthorized("invalid_token",
                           "send the API token as 'Authorization: Bearer gm_…'")
    digest = token_digest(secret)
    cached = None if fresh else _token_cache.get(digest)
    if cached is not None and cached[0] > time.monotonic() and cached[1] is not None:
        if deferred:
            request.environ[UNCONFIRMED] = cached[1]
            return cached[2]
        if _current_generation() == cached[1]:
            return cached[2]
    session = db.session()
    row = session.execute(_TOKEN_QUERY, {"digest": digest}).first()
    if row is None or row[2] is not None or not row[8]:
        _token_cache.pop(digest, None)
        raise Unauthorized("invalid_token", "the API token is unknown, revoked or its user disabled")
    stamp = now()
    if row[3] is None or stamp - row[3] > LAST_USED_RESOLUTION:
        session.execute(sa.update(ApiToken).where(ApiToken.id == row[0]).values(last_used_at=stamp))
        session.commit()
    principal = Principal(user_id=row[4], email=row[5], role=row[6], jurisdiction_code=row[7],
                          scopes=frozenset(row[1].split()), token_id=row[0])
    if len(_token_cache) > 10_000:
        _token_cache.clear()
    _token_cache[digest] = (time.monotonic() + TOKEN_CACHE_SECONDS, row[9], principal)
    return principal


#: Scopes that carry others. An ``admin`` token reads whatever its user may already see
#: (statements of any jurisdiction, disputes, its own usage events…); it never publishes,
#: installs, invokes or reports usage on its own: those need their scope.
IMPLIED_SCOPES: dict[str, frozenset[str]] = {"admin": frozenset({"read"})}


def satisfying(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope a token may hold to pass a check accepting any one of ``scopes``."""
    accepted = frozenset(scopes)
    return accepted | {held for held, implied in IMPLIED_SCOPES.items() if implied & accepted}


def scope_words(scopes: Iterable[str]) -> str:
    """``'read' or 'publish'``: the accepted scopes as a refusal names them."""
    return " or ".join(f"'{scope}'" for scope in scopes)


def require(*scopes: str, deferred: bool = False) -> Callable:
    """Decorator: the request needs a valid token holding one of ``scopes`` (or a scope
    implying one of them, see ``IMPLIED_SCOPES``).

    ``deferred`` (the gateway): a remembered token is confirmed by the view itself,
    from the route generation its first read returns anyway, before it answers
    anything (:func:`confirm_token`; a changed principal is checked by
    :func:`check_scopes` again).

    The first scope is the one a refusal suggests issuing; the view carries
    ``required_scope`` (that first scope) and ``accepted_scopes`` (all of them) for the
    authorization matrix and the OpenAPI document.
    """
    if not scopes or not all(isinstance(s, str) and s for s in scopes):
        raise TypeError("require() needs at least one scope name")
    allowed = satisfying(scopes)
    refusal = f"the token lacks scope {scope_words(scopes)}; issue one with --scopes {scopes[0]}"

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            principal = load_principal(deferred)
            if principal is not None and allowed.isdisjoint(principal.scopes) and unconfirmed():
                # a 403 tells the token is known: confirm a remembered one first (401 if revoked)
                principal = confirm_token(_current_generation()) or principal
            check_scopes(principal, allowed, refusal)
            return view(*args, **kwargs)
        wrapped.required_scope = scopes[0]      # read by the authorization-matrix test
        wrapped.accepted_scopes = tuple(scopes)
        wrapped.allowed_scopes, wrapped.scope_refusal = allowed, refusal
        return wrapped
    return decorate


def check_scopes(principal: Principal | None, allowed: frozenset[str], refusal: str) -> Principal:
    """``principal``, if it is one and holds a scope of ``allowed``; else 401 or 403."""
    if principal is None:
        raise Unauthorized("unauthorized",
                           "this endpoint needs an API token: 'Authorization: Bearer gm_…'")
    if allowed.isdisjoint(principal.scopes):
        raise Forbidden("missing_scope", refusal)
    return principal


def require_admin(principal: Principal) -> None:
    """Refuse non-admins (for admin-only actions inside a view)."""
    if not principal.is_admin:
        raise Forbidden("admin_only", "only a platform administrator may do this")
