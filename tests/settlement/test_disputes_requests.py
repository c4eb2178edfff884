"""Hostile test 3 (F1, F6, F7): who answers a dispute, how its CSV requests are read, what
the size errors say, and the query parameters of disputes and statements."""
from __future__ import annotations

import io

import sqlalchemy as sa

from marketplace import db
from tests.settlement.test_disputes import open_json, world  # noqa: F401 (fixture)

CSV = "id\na1\na2\n"


def _post_form(client, headers, fields, files=(("records", CSV),)):
    data = [(key, value) for key, value in fields]
    data += [(key, (io.BytesIO(text.encode()), "records.csv")) for key, text in files]
    from werkzeug.datastructures import MultiDict

    return client.post("/api/v1/disputes", headers=headers, data=MultiDict(data),
                       content_type="multipart/form-data")


FIELDS = [("period", "2026-10"), ("module", "meter"), ("reason", "x")]


# F1 ------------------------------------------------------------------------------------------

def test_an_administrator_who_is_no_owner_cannot_answer_and_the_dispute_stays_open(
        app, client, factory, world):
    from marketplace.accounts.models import AuditEntry

    number = open_json(client, world["adopter"]).get_json()["id"]
    for scopes in ("admin", "read,admin"):
        refused = client.post(f"/api/v1/disputes/{number}/answer", json={"answer": "x"},
                              headers=factory.headers("admin", "110000", scopes))
        assert refused.status_code == 403, refused.get_json()
        assert refused.get_json()["error"] == "owners_only"
    shown = client.get(f"/api/v1/disputes/{number}", headers=world["admin"]).get_json()
    assert shown["state"] == "open" and shown["answer"] is None and shown["answered_by"] is None
    early = client.post(f"/api/v1/disputes/{number}/resolve", headers=world["admin"],
                        json={"decision": "uphold"})
    assert early.status_code == 409 and early.get_json()["error"] == "wrong_state"
    answered = client.post(f"/api/v1/disputes/{number}/answer", json={"answer": "as billed"},
                           headers=factory.headers("publisher", "440000", "publish"))
    assert answered.status_code == 200, answered.get_json()
    assert answered.get_json()["state"] == "answered"
    assert answered.get_json()["answered_by"] == "440000"
    with app.app_context():
        entry = db.session().scalars(sa.select(AuditEntry).where(
            AuditEntry.subject == f"dispute:{number}", AuditEntry.action == "dispute.answer")).one()
        assert entry.jurisdiction_code == "440000" and entry.actor.startswith("publisher")
        assert entry.detail["answered_by"] == "440000"


# F6 ------------------------------------------------------------------------------------------

def test_a_repeated_multipart_field_is_refused_naming_it(client, world):
    answer = _post_form(client, world["adopter"], [("period", "2026-10"), ("period", "2026-09"),
                                                   ("module", "meter"), ("reason", "x")])
    assert answer.status_code == 400, answer.get_json()
    body = answer.get_json()
    assert body["error"] == "duplicate_field" and '"period"' in body["message"]
    assert body["details"] == [{"where": "form.period", "message": "repeated"}]


def test_an_unreadable_multipart_body_says_so_and_where_the_fields_go(client, world):
    for content_type in ("multipart/form-data", "multipart/form-data; boundary=zzz"):
        answer = client.post("/api/v1/disputes", data=b"abc",
                             headers={**world["adopter"], "Content-Type": content_type})
        assert answer.status_code == 400, answer.get_json()
        body = answer.get_json()
        assert body["error"] == "invalid_body", body
        assert "could not be read" in body["message"] and "-F period=" in body["message"]


def test_a_csv_body_without_its_query_parameters_says_they_go_in_the_query(client, world):
    answer = client.post("/api/v1/disputes", data=CSV.encode(),
                         headers={**world["adopter"], "Content-Type": "text/csv"})
    assert answer.status_code == 400, answer.get_json()
    body = answer.get_json()
    assert body["error"] == "missing_field"
    assert "query string" in body["message"] and "?period=2026-10&module=" in body["message"]
    assert [d["where"] for d in body["details"]] == ["query.period", "query.module", "query.reason"]
    twice = client.post("/api/v1/disputes?period=2026-10&period=2026-09&module=meter&reason=x",
                        data=CSV.encode(), headers={**world["adopter"], "Content-Type": "text/csv"})
    assert twice.status_code == 400 and twice.get_json()["error"] == "duplicate_field"


def test_a_multipart_body_missing_a_field_names_it(client, world):
    answer = _post_form(client, world["adopter"], [("module", "meter"), ("reason", "x")])
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"] == "missing_field"
    assert answer.get_json()["message"].startswith("period missing: multipart/form-data takes")


def test_records_sent_as_a_text_field_are_told_to_be_a_file_part(client, world):
    answer = _post_form(client, world["adopter"], FIELDS + [("records", CSV)], files=())
    assert answer.status_code == 400, answer.get_json()
    body = answer.get_json()
    assert body["error"] == "unknown_field"
    assert "file part" in body["message"] and "-F records=@records.csv" in body["message"]


def test_size_and_row_limits_say_the_limit_and_what_to_keep(client, world):
    from marketplace.settlement import evidence

    rows = "id\n" + "".join(f"r{i}\n" for i in range(evidence.MAX_RECORDS + 1))
    answer = client.post("/api/v1/disputes?period=2026-10&module=meter&reason=x",
                         data=rows.encode(), headers={**world["adopter"], "Content-Type": "text/csv"})
    assert answer.status_code == 400, answer.get_json()
    message = answer.get_json()["message"]
    assert "100,000 rows" in message and "keep only the records of the disputed module" in message
    assert "split" not in message
    big = b"id\n" + b"x" * (evidence.MAX_CSV_BYTES + 10)
    for kind, data in (("text/csv", big),):
        answer = client.post("/api/v1/disputes?period=2026-10&module=meter&reason=x", data=data,
                             headers={**world["adopter"], "Content-Type": kind})
        assert answer.status_code == 413, answer.get_json()
        assert "4,194,304 bytes" in answer.get_json()["message"]
        assert "split" not in answer.get_json()["message"]


def test_a_too_large_json_body_names_the_routes_own_limit(client, world, factory):
    from marketplace.web.api import MAX_JSON_BYTES

    ids = ["e" * 90] * (MAX_JSON_BYTES // 90)
    answer = open_json(client, world["adopter"], ids=ids)
    assert answer.status_code == 413, answer.get_json()
    message = answer.get_json()["message"]
    assert "usage" not in message and "batch" not in message
    assert "100,000 event ids" in message and "records CSV" in message
    usage = client.post("/api/v1/usage", json={"events": ["e" * 1000] * 2200},
                        headers=factory.headers("adopter", "440300", "usage"))
    assert usage.status_code == 413 and "1,000 events" in usage.get_json()["message"]
    tokens = client.post("/api/v1/settlements", json={"period": "x" * (MAX_JSON_BYTES + 1)},
                         headers=world["admin"])
    assert tokens.status_code == 413
    assert tokens.get_json()["message"] == (f"a JSON request body holds at most "
                                            f"{MAX_JSON_BYTES:,} bytes here; send less")


# F7 ------------------------------------------------------------------------------------------

def test_dispute_routes_refuse_unsupported_format_and_unknown_or_repeated_parameters(
        client, world):
    number = open_json(client, world["adopter"]).get_json()["id"]
    for url in ("/api/v1/disputes?format=csv", f"/api/v1/disputes/{number}?format=csv"):
        answer = client.get(url, headers=world["adopter"])
        assert answer.status_code == 400, url
        assert answer.get_json()["error"] == "invalid_format"
        assert "use one of: json" in answer.get_json()["message"]
    assert client.get("/api/v1/disputes?format=json", headers=world["adopter"]).status_code == 200
    for query, error in (("foo=1", "unknown_field"), ("state=open&state=resolved", "duplicate_field"),
                         ("state=", "empty_field")):
        answer = client.get(f"/api/v1/disputes?{query}", headers=world["adopter"])
        assert answer.status_code == 400 and answer.get_json()["error"] == error, query
    assert client.get(f"/api/v1/disputes/{number}?foo=1",
                      headers=world["adopter"]).get_json()["error"] == "unknown_field"
    assert client.get("/api/v1/disputes?state=open&lang=en",
                      headers=world["adopter"]).status_code == 200


def test_statement_jurisdiction_must_be_given_once_and_not_empty(client, world):
    admin = world["admin"]
    empty = client.get("/api/v1/statements/2026-10?jurisdiction=", headers=admin)
    assert empty.status_code == 400 and empty.get_json()["error"] == "empty_field"
    assert '"jurisdiction"' in empty.get_json()["message"]
    twice = client.get("/api/v1/statements/2026-10?jurisdiction=440300&jurisdiction=330100",
                       headers=admin)
    assert twice.status_code == 400 and twice.get_json()["error"] == "duplicate_field"
    assert twice.get_json()["details"] == [{"where": "query.jurisdiction", "message": "repeated"}]
    odd = client.get("/api/v1/statements/2026-10?Jurisdiction=330100", headers=admin)
    assert odd.status_code == 400 and odd.get_json()["error"] == "unknown_field"
    fine = client.get("/api/v1/statements/2026-10?jurisdiction=440300&format=csv", headers=admin)
    assert fine.status_code == 200 and fine.mimetype == "text/csv"
    for url in ("/api/v1/ledger/balances?jurisdiction=", "/api/v1/settlements/2026-10?format=csv",
                "/api/v1/adjustments?period="):
        answer = client.get(url, headers=admin)
        assert answer.status_code == 400, (url, answer.get_json())
    assert client.get("/api/v1/ledger/balances", headers=admin).status_code == 200
    assert client.get("/api/v1/settlements/2026-10?format=json", headers=admin).status_code == 200
