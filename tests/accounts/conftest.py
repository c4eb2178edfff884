"""Accounts fixtures: cheap argon2 parameters unless a test measures hashing work."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch):
    """Argon2 at its cheapest: these tests create many users (the parameters are not under test)."""
    from marketplace.accounts import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
