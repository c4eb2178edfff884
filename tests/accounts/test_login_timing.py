"""Unknown and known e-mails cost the same hashing work, so timing tells nobody who has an account."""
from __future__ import annotations

import statistics
import time

import pytest
from argon2 import PasswordHasher

from marketplace.accounts import service

PASSWORD = "correct horse battery"


@pytest.fixture
def counted(monkeypatch):
    """Count argon2 verifications (the expensive step) with the production parameters."""
    calls = []
    real = PasswordHasher()

    class Counting(PasswordHasher):
        def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
            calls.append(hash)
            return real.verify(hash, password)
    monkeypatch.setattr(service, "_hasher", Counting())
    return calls


def _post(app, email: str, password: str) -> int:
    return app.test_client().post("/login", data={"email": email, "password": password}).status_code


def test_unknown_disabled_and_known_users_each_cost_one_verification(app, factory, counted):
    app.config["WTF_CSRF_ENABLED"] = False
    email = factory.user("adopter")
    assert _post(app, email, "wrong password!") == 401 and len(counted) == 1
    assert _post(app, "nobody@gov.example.cn", "wrong password!") == 401 and len(counted) == 2
    assert counted[1].startswith("$argon2id$v=19$m=65536,t=3,p=4$")     # same parameters as real
    assert _post(app, email, PASSWORD) == 302 and len(counted) == 3


def test_unknown_users_take_as_long_as_known_ones(app, factory, counted):
    app.config["WTF_CSRF_ENABLED"] = False
    email = factory.user("adopter")
    known, unknown = [], []
    for n in range(3):               # under the throttle (5 tries per account and address)
        for sample, who in ((known, email), (unknown, f"ghost{n}@gov.example.cn")):
            start = time.perf_counter()
            assert _post(app, who, "wrong password!") == 401
            sample.append(time.perf_counter() - start)
    # the attack run measured 237 ms against 7 ms; equal work keeps them within noise
    assert statistics.median(unknown) > 0.5 * statistics.median(known)
