"""The password policy every setter applies (CLI, pages, API, demo)."""
from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

from marketplace.accounts.emails import normal_email
from marketplace.errors import MarketplaceError

MIN_LENGTH = 12
MAX_LENGTH = 1024      # hashing cost grows with length: no megabyte "passwords"
MIN_DISTINCT = 4       # "aaaaaaaaaaaa", "121212121212"


class WeakPassword(MarketplaceError):
    """A password the policy refuses (400 ``weak_password``)."""

    def __init__(self, message: str, where: str = "password") -> None:
        super().__init__("weak_password", message, details=[{"where": where, "message": message}])


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords (lowercased; see data/common-passwords.LICENSE.txt)."""
    raw = resources.files("marketplace").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(raw).decode("utf-8").split("\n")) - {""}


def check_password(password: object, email: str = "", where: str = "password") -> str:
    """The password if the policy accepts it, else WeakPassword saying what to choose instead.

    Policy (DESIGN §12): at least 12 characters, not only whitespace, not a common
    password (compared lowercased and without surrounding spaces, so padding does not
    help), not the account's e-mail, and more than a few distinct characters.
    """
    if not isinstance(password, str):
        raise WeakPassword("password must be a string", where)
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must have at least {MIN_LENGTH} characters "
                           f"(a few unrelated words make a good one)", where)
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password must have at most {MAX_LENGTH} characters", where)
    core = password.strip().lower()
    if not core:
        raise WeakPassword("password must not be only whitespace", where)
    if core in common_passwords():
        raise WeakPassword("this password is on the list of common passwords; choose another", where)
    email = normal_email(email)
    if email and core in {email, email.split("@")[0]}:
        raise WeakPassword("password must not be the e-mail address", where)
    if len(set(core)) < MIN_DISTINCT:
        raise WeakPassword("password repeats too few characters; choose a less predictable one", where)
    return password
