"""Run the app under gunicorn with real worker processes."""
from __future__ import annotations

import json
import threading

from gunicorn import util
from gunicorn.app.base import BaseApplication

from marketplace.web.headers import API_CSP, COMMON

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
# the 400s by what gunicorn found wrong (its exception class), so the advice fits the fault
_CLIENT_FAULTS = {
    "InvalidRequestMethod": ("invalid_method", "the request method is not an HTTP method in "
                             "upper case: send GET, POST, PATCH or DELETE"),
    "InvalidHTTPVersion": ("invalid_http_version", "the HTTP version is not supported: send "
                           "HTTP/1.1 (or HTTP/1.0)"),
    "InvalidRequestLine": _SERVER_ERRORS[400],
    "InvalidHeader": ("invalid_header", "a header is malformed: Content-Length must be a "
                      "non-negative number and not sent with Transfer-Encoding, and header "
                      "values must be ASCII (percent-encode other bytes, e.g. in cookies)"),
    "InvalidHeaderName": ("invalid_header_name", "a header name holds characters HTTP does "
                          "not allow: use ASCII letters, digits and '-'"),
    "ObsoleteFolding": ("invalid_header", "a header value continues on a folded line: send "
                        "each header on one line"),
    "InvalidSchemeHeaders": ("invalid_header", "the forwarded scheme headers contradict each "
                             "other: send one of them"),
    "InvalidChunkSize": ("invalid_chunked_body", "the chunked body is malformed: send chunk "
                         "sizes in hexadecimal, each chunk ended by CRLF, or send Content-Length"),
    "ChunkMissingTerminator": ("invalid_chunked_body", "a chunk of the body does not end with "
                               "CRLF: send a well-formed chunked body, or send Content-Length"),
    "InvalidChunkExtension": ("invalid_chunked_body", "a chunk extension is malformed: send "
                              "chunks without extensions"),
    "InvalidProxyLine": ("invalid_proxy_line", "the PROXY protocol line is malformed"),
}
_handling = threading.local()       # the exception gunicorn is answering, per request thread


def client_fault(exc: BaseException) -> tuple[str, str]:
    """(machine reason, what to fix) for a request gunicorn could not read: its parse
    errors, raised at once or while the app reads the body (a chunked body's framing)."""
    if type(exc).__name__ == "NoMoreData":
        return ("incomplete_body", "the request body ended before its announced length: send "
                "the whole body, with a Content-Length that matches it")
    return _CLIENT_FAULTS.get(type(exc).__name__, _SERVER_ERRORS[400])


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` answering ``{"error", "message"}`` JSON instead of HTML,
    worded by what was wrong, with the app's own boundary headers (web.headers)."""
    error, advice = _SERVER_ERRORS.get(status_int, (reason.lower().replace(" ", "_"), reason))
    fault = type(getattr(_handling, "exc", None)).__name__
    if status_int == 400 and fault in _CLIENT_FAULTS:
        error, advice = _CLIENT_FAULTS[fault]
    body = {"error": error, "message": advice}
    if mesg:
        body["detail"] = mesg[:200]
    data = json.dumps(body).encode("ascii")       # ASCII escapes: any byte of mesg is safe
    headers = {"Connection": "close", "Content-Type": "application/json",
               "Content-Length": str(len(data)), "Content-Security-Policy": API_CSP, **COMMON}
    head = f"HTTP/1.1 {status_int} {reason}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    util.write_nonblock(sock, head.encode("latin-1") + data)


def json_errors(_server, worker) -> None:
    """gunicorn ``post_fork`` hook: this worker writes its own errors as JSON."""
    util.write_error = write_json_error
    handle_error = worker.handle_error

    def remembering(req, client, addr, exc):
        _handling.exc = exc                     # write_json_error words the answer by it
        try:
            handle_error(req, client, addr, exc)
        finally:
            _handling.exc = None
    worker.handle_error = remembering


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
