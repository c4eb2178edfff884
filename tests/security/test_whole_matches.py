"""Every pattern-checked value is matched whole and in ASCII digits (the regex audit, fbbceb4):
``$`` also matches before a trailing newline, and ``\\d`` or ``isdigit()`` take other
scripts' digits (``٤٤٠٣٠٠``, ``²``), so each checker is pinned with those spellings."""
from __future__ import annotations

import pytest

from marketplace.accounts.emails import check_email
from marketplace.accounts.service import check_code
from marketplace.catalog.stores import check_digest
from marketplace.errors import MarketplaceError

SHA = "a" * 64
ALMOST = ["{}\n", "{}\r", " {}", "{} ", "\n{}"]


@pytest.mark.parametrize("spelling", ALMOST)
def test_codes_and_digests_pass_only_when_the_whole_value_matches(spelling):
    assert check_code("440300") == "440300"
    with pytest.raises(MarketplaceError):
        check_code(spelling.format("440300"))
    assert check_digest(SHA) == SHA
    with pytest.raises(ValueError):
        check_digest(spelling.format(SHA))


@pytest.mark.parametrize("email", ["clerk@sz.gov.cn\nx", "clerk@sz.gov.cn x", "clerk@sz\n.gov.cn",
                                   "clerk@sz.gov.cn\n@b.cn"])
def test_an_email_is_one_address_whole(email):
    assert check_email(" Clerk@SZ.gov.cn\n") == "clerk@sz.gov.cn"      # trimmed and folded
    with pytest.raises(MarketplaceError):
        check_email(email)


@pytest.mark.parametrize("code", ["٤٤٠٣٠٠", "４４０３００", "44030²", "440３00"])
def test_a_jurisdiction_code_is_six_ascii_digits(code):
    with pytest.raises(MarketplaceError):
        check_code(code)


@pytest.mark.parametrize("raw", ["²", "٣", "１０", "10\n", " 10"])
def test_query_integers_take_ascii_digits_only(client, raw):
    assert client.get("/api/v1/modules", query_string={"per_page": "10"}).status_code == 200
    reply = client.get("/api/v1/modules", query_string={"per_page": raw})
    assert (reply.status_code, reply.json["error"]) == (422, "invalid_query"), raw
    assert "whole number" in reply.json["message"]
