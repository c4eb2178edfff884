"""The password policy every setter applies (CLI, pages, API, demo)."""
from __future__ import annotations

import gzip
import re
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
    help), not the account's e-mail, and more than a few distinct characters. The
    guessable structure is refused as a class (:func:`predictable`): keyboard rows,
    alphabet and digit runs, a repeated word, a common password repeated or padded.
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
    if len(set(core)) < max(MIN_DISTINCT, min(8, len(core) // 3)):
        raise WeakPassword("password repeats too few characters; choose a less predictable one", where)
    if (why := predictable(core)) is not None:
        raise WeakPassword(f"password is {why}; a few unrelated words make a good one", where)
    return password


# neighbours on a keyboard row or in the alphabet/digits, either direction
_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "1234567890", "qwertyuiop",
              "asdfghjkl", "zxcvbnm")
_NEIGHBOURS = frozenset(pair for seq in _SEQUENCES for a, b in zip(seq, seq[1:])
                        for pair in ((a, b), (b, a)))
_SEPARATORS = re.compile(r"[\W_]+")
_PADDING = " \t0123456789!@#$%^&*()-_=+.,;:?~`'\"/\\|[]{}<>"
MIN_SURPRISE = 8       # characters left once runs and repeats count as one each


def _repeated_unit(text: str) -> str:
    """The shortest piece of which ``text`` is whole repeats ("abcabc" → "abc")."""
    at = (text + text).find(text, 1)
    return text[:at] if 0 < at < len(text) else text


def _surprise(text: str) -> int:
    """Characters of ``text`` once every run of ≥ 3 keyboard/alphabet neighbours or equal
    characters ("qwerty", "4321", "aaa") counts as one."""
    total, run = 0, 1
    for prev, cur in zip(text, text[1:]):
        if prev == cur or (prev, cur) in _NEIGHBOURS:
            run += 1
            continue
        total, run = total + (1 if run >= 3 else run), 1
    return total + (1 if run >= 3 else run) if text else 0


def predictable(core: str) -> str | None:
    """What makes a (lowercased, trimmed) password guessable, or None."""
    common = common_passwords()
    if core.strip(_PADDING) in common:
        return "a common password with digits or symbols around it"
    letters = _SEPARATORS.sub("", core)
    unit = _repeated_unit(letters)
    if unit != letters and (unit in common or len(unit) < MIN_SURPRISE):
        return "a word or pattern repeated"
    if _surprise(unit) < MIN_SURPRISE:
        return "mostly keyboard rows or alphabet/digit runs"
    return None
