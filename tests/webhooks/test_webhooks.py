"""Signed outgoing webhooks (DESIGN §15): configuration, signature, retries with backoff, log.

A loopback HTTP server started here receives them (MARKETPLACE_WEBHOOK_ALLOW_PRIVATE
is set for it); the platform clock is moved by hand, so retries are deterministic.
"""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from marketplace import db
from marketplace.clock import clock, now
from marketplace.webhooks import signing
from marketplace.webhooks.delivery import MAX_ATTEMPTS, backoff, deliver_due
from tests.runtime.conftest import PAY, catalog, shenzhen  # noqa: F401 - fixtures


class Receiver:
    """A loopback HTTP server answering the queued status codes (then 200), keeping requests."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.seen: list[tuple[dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.seen.append((dict(self.headers), body))
                status = outer.answers.pop(0) if outer.answers else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/x")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/marketplace"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("MARKETPLACE_WEBHOOK_ALLOW_PRIVATE", "1")
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def at():
    """Set the platform clock (real time again afterwards)."""
    def move(instant: str) -> None:
        clock.configure(instant, "Asia/Shanghai")
    move("2026-11-10T10:00:30+08:00")
    yield move
    clock.configure("", "Asia/Shanghai")


def _configure(adopter, url):
    return adopter.client.put("/api/v1/webhooks", json={"url": url}, headers=adopter.headers)


def _warned(app, catalog, adopter):  # noqa: F811
    """toy-echo with a ¥0.10 budget, called to 80 % and then to 100 %: two warnings queued."""
    catalog.toy(terms=PAY)
    iid = adopter.install("toy-echo").json["id"]
    adopter.client.patch(f"/api/v1/installations/{iid}", json={"budget": "0.10"},
                         headers=adopter.headers)
    for _ in range(6):
        adopter.invoke("toy-echo", "echo", {"text": "x"})
    return iid


def _deliver(app, send=None):
    with app.app_context():
        return deliver_due(db.session(), **({"send": send} if send else {}))


def test_the_secret_is_shown_once_and_urls_are_checked(app, shenzhen, receiver, monkeypatch):  # noqa: F811
    made = _configure(shenzhen, receiver.url)
    assert made.status_code == 200 and made.json["secret"].startswith("whsec_")
    shown = shenzhen.client.get("/api/v1/webhooks", headers=shenzhen.headers).json
    assert "secret" not in shown and shown["url"] == receiver.url
    assert shown["secret_hint"] == made.json["secret"][:10] + "…"
    for bad in ("ftp://example.org/x", "https://user:pw@example.org/x", "example.org",
                "https://" + "a" * 2000 + ".org", "http://exa mple.org/", 5, None):
        answer = _configure(shenzhen, bad)
        assert (answer.status_code, answer.json["error"]) == (400, "invalid_url"), bad
    monkeypatch.delenv("MARKETPLACE_WEBHOOK_ALLOW_PRIVATE")
    for private in ("http://127.0.0.1:8080/x", "http://10.1.2.3/x", "http://[::1]/x",
                    "http://169.254.169.254/latest", "http://localhost/x"):
        answer = _configure(shenzhen, private)
        assert (answer.status_code, answer.json["error"]) == (400, "private_address"), private
    assert shenzhen.client.delete("/api/v1/webhooks", headers=shenzhen.headers).status_code == 200
    assert shenzhen.client.get("/api/v1/webhooks", headers=shenzhen.headers).status_code == 404


def test_budget_warnings_arrive_signed_once_per_threshold(app, catalog, shenzhen, receiver, at):  # noqa: F811
    secret = _configure(shenzhen, receiver.url).json["secret"]
    iid = _warned(app, catalog, shenzhen)
    assert _deliver(app) == {"delivered": 2, "pending": 0, "failed": 0}
    assert _deliver(app) == {"delivered": 0, "pending": 0, "failed": 0}   # never sent twice
    bodies = []
    for headers, body in receiver.seen:
        assert signing.verify(secret, headers[signing.HEADER], body, int(now().timestamp()))
        assert not signing.verify(secret, headers[signing.HEADER], body + b" ",
                                  int(now().timestamp()))
        assert not signing.verify("whsec_other", headers[signing.HEADER], body,
                                  int(now().timestamp()))
        assert headers["Content-Type"] == "application/json"
        bodies.append(json.loads(body))
    assert [(b["type"], b["threshold"], b["installation"], b["spent"], b["budget"])
            for b in bodies] == [("budget.warning", 80, iid, "0.08", "0.10"),
                                 ("budget.warning", 100, iid, "0.10", "0.10")]
    assert {b["jurisdiction"] for b in bodies} == {"440300"}
    assert len({b["id"] for b in bodies}) == 2
    t = int(headers[signing.HEADER].split(",")[0][2:])
    assert not signing.verify(secret, headers[signing.HEADER], body, t + signing.TOLERANCE + 1)


def test_failures_are_retried_with_exponential_backoff_and_logged(app, catalog, shenzhen,  # noqa: F811
                                                                  receiver, at):
    _configure(shenzhen, receiver.url)
    _warned(app, catalog, shenzhen)
    receiver.answers = [500, 500, 503, 503, 302, 302, 500, 500]    # both events fail 4 times
    start = now()
    assert _deliver(app) == {"delivered": 0, "pending": 2, "failed": 0}
    waited = timedelta(0)
    for failed in (1, 2, 3):
        waited += backoff(failed)
        at((start + waited - timedelta(seconds=1)).isoformat())
        assert _deliver(app)["pending"] == 0                                  # not due yet
        at((start + waited).isoformat())
        assert _deliver(app) == {"delivered": 0, "pending": 2, "failed": 0}
    waited += backoff(4)
    at((start + waited).isoformat())
    assert _deliver(app) == {"delivered": 2, "pending": 0, "failed": 0}
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    log = shenzhen.client.get("/api/v1/webhooks/deliveries", headers=shenzhen.headers).json["items"]
    for item in log:
        assert [a["status_code"] for a in item["log"]] == [500, 503, 302, 500, 200]
        assert "redirects are not followed" in item["log"][2]["error"]
        assert (item["state"], item["attempts"], item["next_attempt_at"]) == ("delivered", 5, None)
    assert len(receiver.seen) == 10                     # the redirects were not followed


def test_a_delivery_gives_up_after_the_last_attempt(app, catalog, shenzhen, receiver, at):  # noqa: F811
    _configure(shenzhen, receiver.url)
    _warned(app, catalog, shenzhen)
    receiver.answers = [500] * (2 * MAX_ATTEMPTS)
    moment = now()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        _deliver(app)
        moment += backoff(attempt)
        at(moment.isoformat())
    log = shenzhen.client.get("/api/v1/webhooks/deliveries", headers=shenzhen.headers).json["items"]
    assert {(item["state"], item["attempts"]) for item in log} == {("failed", MAX_ATTEMPTS)}
    assert _deliver(app) == {"delivered": 0, "pending": 0, "failed": 0}


def test_no_endpoint_no_delivery_and_the_cli_delivers(app, catalog, shenzhen, receiver, at,  # noqa: F811
                                                      runner):
    _warned(app, catalog, shenzhen)                     # warned with no endpoint: nothing queued
    assert _deliver(app) == {"delivered": 0, "pending": 0, "failed": 0}
    _configure(shenzhen, receiver.url)
    shenzhen.client.patch("/api/v1/installations/1", json={"budget": "0.20"},
                          headers=shenzhen.headers)     # re-armed: 80 % of ¥0.20 not reached
    for _ in range(6):
        shenzhen.invoke("toy-echo", "echo", {"text": "x"})
    result = runner.invoke(["webhooks", "deliver"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "delivered 2, to retry 0, given up 0"
    assert [json.loads(body)["threshold"] for _, body in receiver.seen] == [80, 100]


def test_the_console_page_sets_the_url_shows_the_secret_once_and_the_log(app, catalog, shenzhen,  # noqa: F811
                                                                         receiver, at):
    from tests.web.conftest import csrf_of, login, page_text

    web = app.test_client()
    login(web, shenzhen.email)
    empty = web.get("/adopter/webhooks").get_data(as_text=True)
    assert "还没有推送记录。" in page_text(empty)
    made = web.post("/adopter/webhooks", data={"csrf_token": csrf_of(empty), "url": receiver.url})
    text = page_text(made.get_data(as_text=True))
    assert made.status_code == 200 and "签名密钥（只显示这一次，请立即保存）" in text
    secret = next(word for word in text.split(" | ") if word.startswith("whsec_"))
    assert secret not in web.get("/adopter/webhooks").get_data(as_text=True)
    refused = web.post("/adopter/webhooks", data={"csrf_token": csrf_of(empty),
                                                  "url": "ftp://example.org/"})
    assert refused.status_code == 400
    _warned(app, catalog, shenzhen)
    receiver.answers = [500]
    _deliver(app)
    text = page_text(web.get("/adopter/webhooks?lang=en").get_data(as_text=True))
    assert "HTTP 500 answered 500" in text and "Delivered" in text and "To send" in text
    headers, body = receiver.seen[-1]
    assert signing.verify(secret, headers[signing.HEADER], body, int(now().timestamp()))
