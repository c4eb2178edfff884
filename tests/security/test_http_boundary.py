"""Answers at the HTTP boundary stay inside the contract (DESIGN §12).

gunicorn refuses requests it cannot parse before the app sees them: those answers are
JSON worded by what was wrong (not "write the URL in ASCII" for every 400) and carry
the app's boundary headers. ``OPTIONS`` on an API route is a documented 405 JSON with
``Allow``, not Flask's empty text/html 200.
"""
from __future__ import annotations

import json
import socket

import pytest
import requests
import sqlalchemy as sa

from marketplace import db
from marketplace.accounts.models import ApiToken
from marketplace.web.headers import API_CSP, COMMON

pytestmark = pytest.mark.slow

# raw request → (status, error, a word the advice must hold)
RAW = {
    "lowercase method": (b"get /api/v1/jurisdictions HTTP/1.1\r\nHost: x\r\n\r\n",
                         400, "invalid_method", "upper case"),
    "HTTP/9.9": (b"GET /api/v1/jurisdictions HTTP/9.9\r\nHost: x\r\n\r\n",
                 400, "invalid_http_version", "HTTP/1.1"),
    "Content-Length -1": (b"POST /api/v1/usage HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                          400, "invalid_header", "Content-Length"),
    "CL and TE": (b"POST /api/v1/usage HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "invalid_header",
                  "Transfer-Encoding"),
    "non-ASCII cookie": (b"GET /api/v1/jurisdictions HTTP/1.1\r\nHost: x\r\n"
                         b"Cookie: a=\xe4\xbc\x81\x00\r\n\r\n", 400, "invalid_header", "ASCII"),
    "URL too long": (b"GET /api/v1/jurisdictions?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                     414, "uri_too_long", "shorten"),
    "too many headers": (b"GET /api/v1/jurisdictions HTTP/1.1\r\nHost: x\r\n"
                         + b"".join(b"X-%d: 1\r\n" % n for n in range(120)) + b"\r\n",
                         431, "headers_too_large", "fewer"),
}


def _exchange(url: str, raw: bytes) -> tuple[int, dict, dict]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_gunicorn_refusals_are_worded_by_the_fault_and_carry_the_boundary_headers(app,
                                                                                 live_server):
    server = live_server(1)
    for name, (raw, status, error, word) in RAW.items():
        code, headers, body = _exchange(server.url, raw)
        assert (code, body["error"]) == (status, error), (name, code, body)
        assert word in body["message"], (name, body)
        if error != "invalid_request_line":
            assert "write the URL in ASCII" not in body["message"], (name, body)
        assert headers["Content-Security-Policy"] == API_CSP, name
        for header, value in COMMON.items():
            assert headers[header] == value, (name, header)


# bodies gunicorn can only find broken while the app reads them → (error, a word of the advice)
BROKEN_BODIES = {
    "chunk without its CRLF": (b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":1\r\n0\r\n\r\n",
                               "invalid_chunked_body", "CRLF"),
    "chunk size not hex": (b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
                           "invalid_chunked_body", "hexadecimal"),
}


def _send(url: str, path: str, token: str, framing: bytes) -> tuple[int, dict, dict]:
    return _exchange(url, f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                     .encode() + framing)


def test_a_body_broken_in_its_framing_is_a_located_400_on_every_json_route(app, live_server,
                                                                          factory):
    email = factory.user("adopter", "440300")
    token = factory.token(email, "usage invoke install")
    server = live_server(1)
    for path in ("/api/v1/usage", "/api/v1/invoke/any-module/any_operation",
                 "/api/v1/installations"):
        for name, (framing, error, word) in BROKEN_BODIES.items():
            code, headers, body = _send(server.url, path, token, framing)
            assert (code, body["error"]) == (400, error), (path, name, body)
            assert word in body["message"], (path, name, body)
            assert headers["Content-Security-Policy"] == API_CSP
    assert "Traceback" not in server.log.read_text()


def test_a_revoked_token_remembered_by_the_worker_gets_401_even_for_a_broken_body(
        app, live_server, factory, runner):
    email = factory.user("adopter", "440300")
    token = factory.token(email, "invoke")
    server = live_server(1)
    for _ in range(3):                              # remembered by the one worker
        reply = requests.post(server.url + "/api/v1/invoke/any-module/echo", json={},
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert reply.status_code == 404
    with app.app_context():
        token_id = db.session().scalar(sa.select(ApiToken.id))
    assert runner.invoke(["token", "revoke", str(token_id)]).exit_code == 0
    for framing, _, _ in BROKEN_BODIES.values():
        code, _, body = _send(server.url, "/api/v1/invoke/any-module/echo", token, framing)
        assert (code, body["error"]) == (401, "invalid_token"), body
