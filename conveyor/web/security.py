"""Who may use the web API and dashboard, and protection of browser sessions against CSRF.

The rules (the same as Flower's and Horizon's defaults, made strict where a queue admin is at stake):

* Bound to loopback, no authentication is needed. Binding to any other address refuses to start unless a
  bearer token (``CONVEYOR_WEB_TOKEN``) or basic-auth credentials (``CONVEYOR_WEB_USER`` and
  ``CONVEYOR_WEB_PASSWORD``) are configured (:func:`check_bind`).
* With credentials configured, every request but ``/healthz``, ``/readyz``, ``/static`` and ``/login`` must
  carry them: ``Authorization: Bearer``, basic auth, or the signed session cookie that ``POST /login`` sets.
* A mutating request (POST/PUT/PATCH/DELETE) that comes from a browser must also carry the CSRF token in
  ``X-CSRF-Token`` (only the login form sends it as its ``csrf_token`` field; the dashboard's forms post JSON
  with the header from a small script): the double-submit pattern, with the token in an
  HttpOnly cookie and in the page's ``<meta name="csrf-token">``. A request is treated as coming from a
  browser when it carries cookies or the ``Origin``/``Sec-Fetch-Site`` headers every current browser sends;
  scripts using a bearer token are exempt, since a browser never attaches one on its own. This applies on
  loopback too: a web page the operator visits must not be able to retry or discard jobs through
  ``http://127.0.0.1:8000``.
* Only requests for an allowed host name are served (the ``Host`` header): loopback names, the address the
  request arrived on, and ``CONVEYOR_WEB_ALLOWED_HOSTS``. Anything else is refused with 400, so a web page
  whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) cannot read or drive a loopback dashboard.
* Every response forbids framing (``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``): a page on
  another port or site cannot show the dashboard under a decoy and have its buttons clicked.
* Wrong credentials (a failed ``POST /login`` or a bad ``Authorization`` header) are throttled per client
  address: after ``CONVEYOR_WEB_LOGIN_ATTEMPTS`` failures each further try must wait twice as long as the
  one before (1 s, 2 s, 4 s, ... up to ``CONVEYOR_WEB_LOGIN_LOCKOUT_SECONDS``); early tries get 429 with
  ``Retry-After``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
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
#: Sent with every response: no page may be framed by another site or port (clickjacking), no response
#: sniffed into another type, and no dashboard URL leaked to another site in a Referer.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


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


def host_name(header: str) -> str:
    """``"127.0.0.1:8000"`` -> ``"127.0.0.1"``, ``"[::1]:8000"`` -> ``"::1"``, lower-cased."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:].split("]", 1)[0]
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def host_allowed(header: str | None, arrived_on: str | None, allowed: Sequence[str]) -> bool:
    """Whether a request with this ``Host`` header may be served.

    Allowed: loopback names and addresses, and ``0.0.0.0``; the address the request arrived on (an IP
    address in the Host header cannot be re-pointed by DNS); every name in ``allowed`` (``*.example.com`` matches its
    subdomains, ``*`` anything). No Host header at all (HTTP/1.0 scripts) is allowed: every browser sends one.
    """
    if header is None:
        return True
    name = host_name(header)
    if not name:
        return False
    if is_loopback(name) or _unspecified(name) or (arrived_on is not None and name == arrived_on.lower()):
        return True
    for pattern in (p.strip().lower() for p in allowed):
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def _unspecified(host: str) -> bool:
    """``0.0.0.0`` / ``::``: what ``conveyor web --host 0.0.0.0`` prints, reaching this machine."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


class LoginThrottle:
    """Failed credential checks per client address, and how long each must wait before the next try.

    Thread-safe; in memory (one web process). A client's failures are forgotten ``memory`` seconds after its
    last one, and after a successful sign-in."""

    def __init__(
        self,
        attempts: int = 5,
        max_wait: float = 300.0,
        *,
        memory: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.max_wait = max_wait
        self.memory = memory if memory is not None else max(900.0, 2 * max_wait)
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (failures, time of the last one)

    def _delay(self, failures: int) -> float:
        if failures < self.attempts:
            return 0.0
        return float(min(self.max_wait, 2.0 ** min(failures - self.attempts, 62)))

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must still wait before its next try (0: it may try now)."""
        now = self._clock()
        with self._lock:
            entry = self._failures.get(client)
            if entry is None:
                return 0.0
            failures, last = entry
            if now - last > self.memory:
                del self._failures[client]
                return 0.0
            return max(0.0, last + self._delay(failures) - now)

    def retry_after_header(self, client: str) -> str:
        return str(max(1, math.ceil(self.retry_after(client))))

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            failures, last = self._failures.get(client, (0, now))
            if now - last > self.memory:
                failures = 0
            self._failures[client] = (failures + 1, now)
            if len(self._failures) > 10_000:  # many addresses: drop the forgotten ones
                for key in [k for k, (_, at) in self._failures.items() if now - at > self.memory]:
                    del self._failures[key]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
