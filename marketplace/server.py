"""Run the app under gunicorn with real worker processes."""
from __future__ import annotations

import json

from gunicorn import util
from gunicorn.app.base import BaseApplication

# gunicorn answers requests it cannot parse itself, before the app sees them (DESIGN §12:
# those errors are JSON too): status → (machine reason, what to fix)
_SERVER_ERRORS = {
    400: ("bad_request", "the HTTP request could not be read: write the URL in ASCII "
                         "(percent-encode other characters, e.g. 企业 → %E4%BC%81%E4%B8%9A) "
                         "and send well-formed headers"),
    403: ("forbidden", "the request was refused by the server"),
    414: ("uri_too_long", "the request line is too long (at most 4094 bytes): shorten the URL "
                          "or its query string"),
    417: ("expectation_failed", "the Expect header is not supported; send the request without it"),
    431: ("headers_too_large", "the request headers are too large or too many (at most 100 "
                               "headers of 8190 bytes each): send fewer or shorter headers"),
    500: ("internal_error", "the server failed; the error was logged"),
    501: ("not_implemented", "this transfer coding is not supported; send the body plainly"),
}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` answering ``{"error", "message"}`` JSON instead of HTML."""
    error, advice = _SERVER_ERRORS.get(status_int, (reason.lower().replace(" ", "_"), reason))
    body = {"error": error, "message": advice}
    if mesg:
        body["detail"] = mesg[:200]
    data = json.dumps(body).encode("ascii")       # ASCII escapes: any byte of mesg is safe
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + data)


def json_errors(_server, _worker) -> None:
    """gunicorn ``post_fork`` hook: this worker writes its own errors as JSON."""
    util.write_error = write_json_error


class MarketplaceServer(BaseApplication):
    """Gunicorn application that builds the Flask app in each worker."""

    def __init__(self, options: dict, factory=None) -> None:
        self.options = options
        self.factory = factory
        super().__init__()

    def load_config(self) -> None:
        """Copy our options into gunicorn's config."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        """Build the WSGI app (after fork, so every worker has its own engine)."""
        if self.factory is not None:
            app = self.factory()
        else:
            from marketplace import create_app

            app = create_app()
        # the gateway leaves one of these threads to other tenants (runtime.fairshare)
        app.config.setdefault("SERVER_THREADS", self.cfg.threads)
        return app


def serve(host: str, port: int, workers: int, factory=None, **extra) -> None:
    """Serve on host:port with ``workers`` sync workers (threads for slow module calls)."""
    options = {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread",
               "threads": 4, "timeout": 60, "accesslog": None, "errorlog": "-",
               "loglevel": "warning", "post_fork": json_errors, **extra}
    from marketplace.ops import metrics

    metrics.prepare_multiprocess()              # before any worker forks (DESIGN §16)
    options.setdefault("child_exit", metrics.child_exit)
    MarketplaceServer(options, factory).run()
