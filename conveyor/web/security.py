"""Who may use the web API and dashboard, and protection of browser sessions against CSRF.

The rules (the same as Flower's and Horizon's defaults, made strict where a queue admin is at stake):

* Bound to loopback, no authentication is needed. Binding to any other address refuses to start unless a
  bearer token (``CONVEYOR_WEB_TOKEN``) or basic-auth credentials (``CONVEYOR_WEB_USER`` and
  ``CONVEYOR_WEB_PASSWORD``) are configured (:func:`check_bind`).
* With credentials configured, every request but ``/healthz``, ``/readyz``, ``/static`` and ``/login`` must
  carry them: ``Authorization: Bearer``, basic auth, or the signed session cookie that ``POST /login`` sets.
* A mutating request (POST/PUT/PATCH/DELETE) that comes from a browser must also carry the CSRF token in
  ``X-CSRF-Token`` (or the ``csrf_token`` form field): the double-submit pattern, with the token in an
  HttpOnly cookie and in the page's ``<meta name="csrf-token">``. A request is treated as coming from a
  browser when it carries cookies or the ``Origin``/``Sec-Fetch-Site`` headers every current browser sends;
  scripts using a bearer token are exempt, since a browser never attaches one on its own. This applies on
  loopback too: a web page the operator visits must not be able to retry or discard jobs through
  ``http://127.0.0.1:8000``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from conveyor.config import Settings
from conveyor.errors import ConfigurationError

SESSION_COOKIE = "conveyor_session"
CSRF_COOKIE = "conveyor_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
#: Paths served without dashboard credentials: probes, assets, the login form, and webhooks (which carry
#: their own signature).
PUBLIC_PREFIXES = ("/healthz", "/readyz", "/static/", "/login", "/favicon.ico", "/webhooks/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Auth:
    """The configured credentials (none: open, which is only allowed on loopback)."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Auth:
        if bool(settings.web_user) != bool(settings.web_password):
            raise ConfigurationError("basic auth needs both CONVEYOR_WEB_USER and CONVEYOR_WEB_PASSWORD")
        return cls(settings.web_token or None, settings.web_user or None, settings.web_password or None)

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.user)

    @property
    def methods(self) -> list[str]:
        return (["token"] if self.token else []) + (["password"] if self.user else [])

    @property
    def _secret(self) -> bytes:
        # Derived from the credentials, so changing them signs every existing session out.
        material = f"conveyor-session\0{self.token or ''}\0{self.user or ''}\0{self.password or ''}"
        return hashlib.sha256(material.encode()).digest()

    def check_token(self, token: str) -> bool:
        return bool(self.token) and hmac.compare_digest(token.encode(), (self.token or "").encode())

    def check_password(self, user: str, password: str) -> bool:
        if not self.user:
            return False
        ok_user = hmac.compare_digest(user.encode(), self.user.encode())
        ok_password = hmac.compare_digest(password.encode(), (self.password or "").encode())
        return ok_user and ok_password

    def check_header(self, header: str | None) -> str | None:
        """The scheme ("bearer"/"basic") if the Authorization header holds valid credentials."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.check_token(value.strip()):
            return "bearer"
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            if self.check_password(user, password):
                return "basic"
        return None

    def new_session(self, now: float | None = None) -> str:
        expires = str(int((now or time.time()) + SESSION_SECONDS))
        sig = hmac.new(self._secret, expires.encode(), hashlib.sha256).hexdigest()
        return f"{expires}.{sig}"

    def check_session(self, cookie: str | None, now: float | None = None) -> bool:
        if not cookie or "." not in cookie:
            return False
        expires, sig = cookie.split(".", 1)
        good = hmac.new(self._secret, expires.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(sig, good) and expires.isdigit() and int(expires) > (now or time.time())


def check_bind(host: str, auth: Auth) -> None:
    """Refuse to serve beyond loopback without credentials."""
    if not is_loopback(host) and not auth.enabled:
        raise ConfigurationError(
            f"refusing to listen on {host} without authentication: set CONVEYOR_WEB_TOKEN (or "
            "CONVEYOR_WEB_USER and CONVEYOR_WEB_PASSWORD), or bind to 127.0.0.1"
        )


def from_browser(request: Request) -> bool:
    h = request.headers
    return bool(request.cookies) or "origin" in h or "sec-fetch-site" in h


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    return bool(expected and submitted) and hmac.compare_digest(str(expected), str(submitted))


def is_public(path: str) -> bool:
    return path in ("/healthz", "/readyz", "/login") or path.startswith(PUBLIC_PREFIXES)
