"""Web plumbing shared by every blueprint: errors, CSRF, login, language, formatting."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from sqlalchemy.exc import DataError
from werkzeug.routing import IntegerConverter

from marketplace.errors import MarketplaceError
from marketplace.web.headers import init_headers
from marketplace.web.i18n import init_i18n
from marketplace.web.login import init_login

csrf = CSRFProtect()
log = logging.getLogger("marketplace")


def _is_api() -> bool:
    """API requests get JSON errors, pages get HTML."""
    return request.path.startswith("/api/")


def _reason(exc: HTTPException) -> str:
    """Machine reason from an HTTP error name: 'Not Found' → 'not_found'."""
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


class DatabaseId(IntegerConverter):
    """``<int:…>`` ids an Integer column holds (32-bit on PostgreSQL): larger ones match no route (404)."""

    # the digits of 0 … 2**31-1 only: a larger number failing the converter's ``max`` instead
    # made werkzeug answer 405 for the route's other methods rather than 404
    regex = (r"[0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
             r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]"
             r"|214748364[0-7]")

    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Install CSRF (pages only), login, i18n, security headers and the uniform error handlers."""
    app.url_map.converters["int"] = DatabaseId   # before any blueprint adds its rules
    init_headers(app)
    csrf.init_app(app)
    init_login(app)
    init_i18n(app)

    @app.errorhandler(MarketplaceError)
    def domain_error(exc: MarketplaceError):
        headers = getattr(exc, "headers", None) or {}       # e.g. Retry-After of a 503
        if _is_api():
            return jsonify(exc.to_dict()), exc.status, headers
        return render_template("error.html", status=exc.status, reason=exc.reason,
                               message=exc.message, details=exc.details), exc.status, headers

    @app.errorhandler(ParseException)
    @app.errorhandler(NoMoreData)
    def unreadable_body(exc: Exception):
        # gunicorn raises these while a view reads a body it cannot frame (a malformed
        # chunk, a body cut short): the client's fault, worded like gunicorn's own 400s
        from marketplace.server import client_fault

        reason, message = client_fault(exc)
        if _is_api():
            return jsonify({"error": reason, "message": message}), 400
        return render_template("error.html", status=400, reason=reason, message=message,
                               details=None), 400

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return render_template("error.html", status=400, reason="csrf_failed",
                               message=exc.description, details=None), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if not _is_api():
            return render_template("error.html", status=exc.code, reason=_reason(exc),
                                   message=exc.description, details=None), exc.code
        from marketplace.web.api import too_large_message

        messages = {
            404: "no such API route; see /api/v1/openapi.json",
            405: f"method {request.method} is not allowed here",
            413: too_large_message(int(request.max_content_length or 0), "a request body"),
            400: "the request could not be read; send valid JSON with Content-Type: application/json",
        }
        reason = {413: "too_large", 400: "bad_request"}.get(exc.code, _reason(exc))
        allowed = sorted(set(getattr(exc, "valid_methods", None) or ()) - {"OPTIONS"}) \
            if exc.code == 405 else []
        if allowed:
            messages[405] += f"; use {' or '.join(allowed)}"
        response = jsonify({"error": reason, "message": messages.get(exc.code, exc.description)})
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response, exc.code

    @app.before_request
    def no_nul_in_the_url():
        # NUL is no character of any name, code or period here; PostgreSQL refuses it and
        # SQLite matches nothing, so the same request answered 400 on one and 200/404 on the
        # other: refuse it once, before any route reads it
        if "\x00" in request.path or "\x00" in request.query_string.decode("latin-1") \
                or any("\x00" in v for v in request.args.values()):
            message = "the URL holds a NUL character (%00); remove it"
            if _is_api():
                return jsonify({"error": "invalid_value", "message": message}), 400
            return render_template("error.html", status=400, reason="invalid_value",
                                   message=message, details=None), 400
        return None

    @app.before_request
    def no_api_options():
        # Flask answers OPTIONS on every route with an empty 200 the API does not document
        # (no CORS here: the API is for servers and the CLI): one 405 JSON for all of them
        if request.method == "OPTIONS" and _is_api() and request.url_rule is not None:
            adapter = app.url_map.bind_to_environ(request.environ)
            raise MethodNotAllowed(adapter.allowed_methods())

    @app.errorhandler(DataError)
    def unstorable_value(exc: DataError):
        # the database refused a value taken from the request (NUL characters, numbers out of
        # range on PostgreSQL): the caller's input, not a server failure
        from marketplace import db

        db.session().rollback()
        message = "a value in the request cannot be stored (NUL characters or numbers out of range)"
        if _is_api():
            return jsonify({"error": "invalid_value", "message": message}), 400
        return render_template("error.html", status=400, reason="invalid_value", message=message,
                               details=None), 400

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api():
            return jsonify({"error": "internal_error",
                            "message": "the server failed; the error was logged"}), 500
        return render_template("error.html", status=500, reason="internal_error",
                               message="服务器出错，已记录。The server failed; the error was logged.",
                               details=None), 500
