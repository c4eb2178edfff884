"""Login throttling is exact under parallel tries on real gunicorn workers (counters in the database).

The server trusts one proxy hop, so each request's X-Forwarded-For stands for a client
address (only loopback traffic is sent; the addresses are documentation ranges).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa

from marketplace.accounts.logins import ADDRESS_MAX_FAILURES, PAIR_MAX_ATTEMPTS
from tests.security.conftest import CSRF_RE, PASSWORD


def _attempt(url: str, email: str, password: str, address: str) -> int:
    """One browser: fetch the form (CSRF), post the password; the status of the post."""
    with requests.Session() as browser:
        headers = {"X-Forwarded-For": address}
        page = browser.get(url + "/login", headers=headers, timeout=60)
        token = CSRF_RE.search(page.text).group(1)
        answer = browser.post(url + "/login", headers=headers, timeout=60, allow_redirects=False,
                              data={"email": email, "password": password, "csrf_token": token})
        return answer.status_code


def _failed_logins(app) -> int:
    from marketplace import db
    from marketplace.accounts.models import AuditEntry

    with app.app_context():
        return db.session().scalar(sa.select(sa.func.count()).where(
            AuditEntry.action == "login.failed"))


def test_forty_parallel_guesses_test_exactly_five_passwords(app, factory, live_server):
    server = live_server(workers=2, MARKETPLACE_TRUSTED_PROXY_HOPS="1")
    email = factory.user("adopter", "440300")
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda n: _attempt(server.url, email, f"guess number {n}",
                                                    "198.51.100.7"), range(40)))
    assert sorted(statuses) == [401] * PAIR_MAX_ATTEMPTS + [429] * (40 - PAIR_MAX_ATTEMPTS)
    assert _failed_logins(app) == PAIR_MAX_ATTEMPTS
    # the guesser locked only its own (account, address) pair: the owner logs in from elsewhere
    assert _attempt(server.url, email, PASSWORD, "198.51.100.7") == 429
    assert _attempt(server.url, email, PASSWORD, "203.0.113.20") == 302


def test_one_client_spraying_many_accounts_in_parallel_is_stopped(app, factory, live_server):
    server = live_server(workers=2, MARKETPLACE_TRUSTED_PROXY_HOPS="1")
    emails = [factory.user("adopter", "440300") for _ in range(30)]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda e: _attempt(server.url, e, "wrong password!",
                                                    "198.51.100.8"), emails))
    assert sorted(statuses) == [401] * ADDRESS_MAX_FAILURES + [429] * (30 - ADDRESS_MAX_FAILURES)
    assert _failed_logins(app) == ADDRESS_MAX_FAILURES
    assert _attempt(server.url, emails[0], PASSWORD, "203.0.113.21") == 302
