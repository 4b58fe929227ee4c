"""Shoptet credentials: a private API token, or an add-on's short-lived access tokens.

Two ways in, both sent as a header on every API call:

* **Private API token** (Premium shops): a long-lived token from the shop's admin, sent as
  ``Shoptet-Private-Api-Token``. Nothing to refresh; a 401 means it is wrong or revoked.
* **Add-on (OAuth)**: the add-on holds one *OAuth access token* per installation (unlimited validity,
  server-side only). For API calls it exchanges it at ``GET {shop}/action/ApiOAuthServer/getAccessToken``
  (``Authorization: Bearer <oauth token>``) for an *API access token* that expires (``expiresIn``
  seconds) and is sent as ``Shoptet-Access-Token``. Shoptet allows at most 5 valid access tokens per
  OAuth token, so workers must share one instead of each fetching its own: that is what
  :class:`AccessTokenManager` is for.

No token ever reaches a log line, an exception message or a ``repr``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx

from conveyor import LockNotAcquired
from conveyor.commerce.shoptet.errors import AuthenticationError, MalformedResponse, ShoptetError

if TYPE_CHECKING:
    from conveyor import Conveyor

log = logging.getLogger("conveyor.commerce.shoptet")

PRIVATE_TOKEN_HEADER = "Shoptet-Private-Api-Token"
ACCESS_TOKEN_HEADER = "Shoptet-Access-Token"
TOKEN_ENDPOINT = "/action/ApiOAuthServer/getAccessToken"


class Credentials(Protocol):
    """What :class:`~conveyor.commerce.shoptet.client.ShoptetClient` needs from credentials."""

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate one API request (may fetch a token first)."""
        ...

    def renew_after_rejection(self, rejected: Mapping[str, str]) -> bool:
        """Called once when Shoptet answered 401 to a request sent with ``rejected`` headers.

        Returns True when new credentials are in place and the request is worth repeating."""
        ...


def mask(token: str) -> str:
    """A token's shape for humans, never its value: ``'…(38 chars)'``."""
    return f"…({len(token)} chars)"


class PrivateApiToken:
    """The private API token of a Premium shop: long-lived, nothing to refresh."""

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise ValueError("a Shoptet private API token must be a non-empty string")
        self._token = token.strip()

    def __repr__(self) -> str:
        return f"PrivateApiToken({mask(self._token)})"

    def auth_headers(self) -> dict[str, str]:
        """``{"Shoptet-Private-Api-Token": token}``."""
        return {PRIVATE_TOKEN_HEADER: self._token}

    def renew_after_rejection(self, rejected: Mapping[str, str]) -> bool:
        """A private token cannot be renewed: a 401 is final."""
        return False


# ---------------------------------------------------------------------------------------------- token cache
@dataclass(frozen=True)
class CachedToken:
    """An API access token and the Unix time it stops being valid."""

    token: str = field(repr=False)
    expires_at: float

    def __repr__(self) -> str:
        return f"CachedToken({mask(self.token)}, expires_at={self.expires_at:.0f})"


class TokenCache(Protocol):
    """Where access tokens are kept between requests, keyed by shop.

    The in-memory cache serves the threads of one process; a cache in the database (same interface)
    lets every worker process reuse one token, so the fleet stays under Shoptet's 5 tokens."""

    def get(self, key: str) -> CachedToken | None:
        """The cached token of ``key``, or None."""
        ...

    def put(self, key: str, token: CachedToken) -> None:
        """Remember ``token`` for ``key`` (replacing any other)."""
        ...

    def delete(self, key: str) -> None:
        """Forget the token of ``key``."""
        ...


class InMemoryTokenCache:
    """A :class:`TokenCache` in this process's memory, safe to share between threads."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemoryTokenCache({len(self._tokens)} shops)"

    def get(self, key: str) -> CachedToken | None:
        """The cached token of ``key``, or None."""
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: str, token: CachedToken) -> None:
        """Remember ``token`` for ``key``."""
        with self._lock:
            self._tokens[key] = token

    def delete(self, key: str) -> None:
        """Forget the token of ``key``."""
        with self._lock:
            self._tokens.pop(key, None)


# ---------------------------------------------------------------------------------------------- manager
class AccessTokenManager:
    """Hands out a valid API access token for one add-on installation, refreshing it when needed.

    * A token is reused until ``refresh_margin`` seconds before it expires, then replaced, so requests
      do not start with a token that dies in flight.
    * A 401 (expired or revoked token) triggers one refresh — unless another thread already replaced
      the rejected token, in which case its replacement is used.
    * Refreshing happens under a lock: a thread lock for this process and, when a Conveyor ``app`` is
      given, the named lock ``shoptet:token:{shop_key}`` in its database, so two workers never fetch
      a token at the same moment. Whoever waited for the lock reads the cache again before fetching:
      the holder has usually just put a fresh token there.

    ``clock`` is wall-clock time (tokens in a shared cache are compared across processes);
    ``http`` is the client used for the token endpoint (a private one by default). A network error
    while fetching a token is raised as httpx's ``TransportError``, which the Shoptet client retries
    like any other network error.
    """

    def __init__(
        self,
        shop_url: str,
        oauth_token: str,
        *,
        shop_key: str | None = None,
        cache: TokenCache | None = None,
        app: Conveyor | None = None,
        refresh_margin: float = 60.0,
        lock_wait: float = 35.0,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not oauth_token or not oauth_token.strip():
            raise ValueError("a Shoptet OAuth access token must be a non-empty string")
        self.shop_url = shop_url.rstrip("/")
        self.shop_key = shop_key or (urlsplit(self.shop_url).hostname or self.shop_url)
        self.cache: TokenCache = cache if cache is not None else InMemoryTokenCache()
        self.app = app
        self.refresh_margin = refresh_margin
        self.lock_wait = lock_wait
        self._oauth_token = oauth_token.strip()
        self._own_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._clock = clock
        self._refresh_lock = threading.Lock()
        self.refreshes = 0
        """How many tokens this manager fetched (for logs and tests)."""

    def __repr__(self) -> str:
        return f"AccessTokenManager(shop_key={self.shop_key!r}, shop_url={self.shop_url!r})"

    def close(self) -> None:
        """Close the HTTP client if this manager created it."""
        if self._own_http:
            self._http.close()

    # -- Credentials
    def auth_headers(self) -> dict[str, str]:
        """``{"Shoptet-Access-Token": token}`` with a token valid for at least ``refresh_margin`` s."""
        return {ACCESS_TOKEN_HEADER: self.access_token()}

    def renew_after_rejection(self, rejected: Mapping[str, str]) -> bool:
        """Replace the token Shoptet refused (unless someone already did); always worth one retry."""
        self.refresh(stale=rejected.get(ACCESS_TOKEN_HEADER))
        return True

    # -- tokens
    def access_token(self) -> str:
        """A valid access token: the cached one, or a fresh one if it is missing or about to expire."""
        cached = self.cache.get(self.shop_key)
        if cached is not None and self._usable(cached):
            return cached.token
        return self.refresh(stale=cached.token if cached else None)

    def refresh(self, *, stale: str | None = None) -> str:
        """A token other than ``stale``: one already in the cache if usable, else a freshly fetched one.

        ``stale`` is the token the caller saw rejected or about to expire (None: it saw none at all)."""
        with self._refresh_lock:
            fresh = self._cached_other_than(stale)
            if fresh is not None:
                return fresh
            if self.app is None:
                return self._fetch_and_store()
            try:
                with self.app.lock(f"shoptet:token:{self.shop_key}", ttl=30, wait=self.lock_wait):
                    # Another process may have refreshed while we waited for the lock.
                    fresh = self._cached_other_than(stale)
                    return fresh if fresh is not None else self._fetch_and_store()
            except LockNotAcquired:
                fresh = self._cached_other_than(stale)
                if fresh is not None:
                    return fresh
                raise

    def _cached_other_than(self, stale: str | None) -> str | None:
        cached = self.cache.get(self.shop_key)
        if cached is not None and self._usable(cached) and cached.token != stale:
            return cached.token
        return None

    def _usable(self, cached: CachedToken) -> bool:
        return cached.expires_at - self.refresh_margin > self._clock()

    def _fetch_and_store(self) -> str:
        token, lifetime = self._fetch()
        self.cache.put(self.shop_key, CachedToken(token, self._clock() + lifetime))
        self.refreshes += 1
        log.info("shoptet %s: new API access token, valid for %.0fs", self.shop_key, lifetime)
        return token

    def _fetch(self) -> tuple[str, float]:
        """GET the token endpoint; (token, lifetime in seconds)."""
        url = self.shop_url + TOKEN_ENDPOINT
        started = time.perf_counter()
        response = self._http.get(url, headers={"Authorization": f"Bearer {self._oauth_token}"})
        log.debug(
            "GET %s -> %d in %.0f ms", TOKEN_ENDPOINT, response.status_code, (time.perf_counter() - started) * 1000
        )
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        error = body.get("error") or _first_error_code(body)
        if response.status_code in (400, 401, 403) or (error and response.status_code < 500):
            hint = (
                "Shoptet allows 5 valid access tokens per installation: share one through a TokenCache"
                if error == "maximum_tokens_reached"
                else "the add-on's OAuth access token was refused by getAccessToken"
            )
            raise AuthenticationError(
                f"authentication failed for shop {self.shop_key}: {error or f'HTTP {response.status_code}'} ({hint})",
                status_code=response.status_code,
                error_code=str(error) if error else None,
            )
        if response.status_code != 200:
            raise ShoptetError(
                f"shop {self.shop_key}: getAccessToken answered HTTP {response.status_code}",
                status_code=response.status_code,
            )
        # The PHP SDK's entity says accessToken/expiresIn; OAuth-style answers use snake case.
        token = body.get("accessToken") or body.get("access_token")
        lifetime = body.get("expiresIn", body.get("expires_in"))
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise MalformedResponse(
                f"shop {self.shop_key}: getAccessToken answered without an access token and its lifetime "
                f"(keys: {sorted(body)})",
                status_code=response.status_code,
            )
        return token, float(lifetime)


def _first_error_code(body: Mapping[str, Any]) -> str | None:
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("errorCode")
        return str(code) if code else None
    return None
