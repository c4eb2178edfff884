"""The one e-mail parser: every add, login and lookup compares addresses in this form.

NFKC folds compatibility look-alikes (full-width ``ａｄｏｐｔｅｒ``, ligatures, circled
letters) into ASCII, and casefold is case-insensitive beyond ASCII. What is still not
ASCII afterwards (Cyrillic ``а``, Greek ``ο`` …) cannot be told apart from a Latin
address on screen, so new accounts must be ASCII (IDN domains in their ``xn--`` form).
"""
from __future__ import annotations

import re
import unicodedata

from marketplace.errors import MarketplaceError

MAX_LENGTH = 254                                     # RFC 5321 path limit
_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+", re.ASCII)    # fullmatch


def normal_email(value: object) -> str:
    """How e-mails are stored and compared: NFKC, casefolded, trimmed, bounded."""
    if not isinstance(value, str):
        return ""
    return unicodedata.normalize("NFKC", value).casefold().strip()[:MAX_LENGTH + 1]


def check_email(value: object) -> str:
    """The normal form of a new account's e-mail, or a 400 ``invalid_email`` saying why."""
    email = normal_email(value)
    shown = str(value)[:80] if isinstance(value, str) else type(value).__name__
    if not email.isascii():
        raise MarketplaceError("invalid_email", f"{shown!r} has characters that look like others; "
                               "write the address in plain ASCII (an IDN domain in its xn-- form)")
    if len(email) > MAX_LENGTH or not _SHAPE.fullmatch(email):
        raise MarketplaceError("invalid_email", f"{shown!r} is not an e-mail address "
                               "(name@domain.tld)")
    return email
