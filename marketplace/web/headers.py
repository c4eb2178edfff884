"""The HTTP boundary of every response: security headers, secure cookies, the trusted proxy."""
from __future__ import annotations

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

# Pages: scripts, styles, fonts and images only from this site; no inline script, no
# plugins, no framing, forms post only here. Inline <svg> charts are markup, not script.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
# JSON, CSV and bundles are never documents: nothing may load from them or frame them.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def secure_cookies_wanted(app: Flask) -> bool:
    """Cookies carry ``Secure`` when configured so, or when this request came over HTTPS."""
    return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, ``Secure`` per request (HTTPS or configuration)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when served over HTTPS even if the configuration did not say so."""
        return secure_cookies_wanted(app)


def add_security_headers(response: Response) -> Response:
    """Every answer, page or API, success or error, gets the same boundary headers."""
    api = request.path.startswith("/api/") or response.mimetype != "text/html"
    response.headers.setdefault("Content-Security-Policy", API_CSP if api else PAGE_CSP)
    for name, value in COMMON.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_headers(app: Flask) -> None:
    """Install the headers, the per-request secure session cookie and the trusted proxy hops."""
    app.session_interface = SessionInterface()
    app.config.setdefault("REMEMBER_COOKIE_SECURE", bool(app.config.get("SESSION_COOKIE_SECURE")))
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    hops = int(app.config.get("TRUSTED_PROXY_HOPS") or 0)
    if hops > 0:
        # X-Forwarded-For/-Proto/-Host are believed only from that many proxies in front;
        # with none (the default) the client address is the socket peer, never a header.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.after_request(add_security_headers)
