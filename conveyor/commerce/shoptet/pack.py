"""The Shoptet pack installed on one application: its settings, its tasks and this process's API clients.

:func:`~conveyor.commerce.shoptet.tasks.install` creates it; :func:`pack_of` finds it again from the app.
The pipelines (:mod:`.sync`, :mod:`.snapshots`) receive it; the actions (:mod:`.actions`) look it up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conveyor import ConfigurationError, Conveyor, Task
from conveyor.commerce import store
from conveyor.commerce.shoptet.auth import AccessTokenManager, CachedToken, Credentials, PrivateApiToken
from conveyor.commerce.shoptet.client import ShoptetClient
from conveyor.commerce.store import CredentialCipher, Shop

log = logging.getLogger("conveyor.commerce.shoptet")


PLATFORM = "shoptet"


DATA_DIR_ENV = "CONVEYOR_COMMERCE_DATA_DIR"


DEFAULT_DATA_DIR = "conveyor-data"


_PACKS: weakref.WeakKeyDictionary[Conveyor, ShoptetPack] = weakref.WeakKeyDictionary()


class ShoptetPack:
    """The Shoptet pipelines installed on one application: settings, its tasks, and per-process API clients.

    Created by :func:`install`; :func:`pack_of` finds it again from the app."""

    def __init__(
        self,
        app: Conveyor,
        *,
        data_dir: Path,
        secret_key: str | None,
        fallback_lookback_hours: float,
        detail_concurrency: int,
        queue: str,
        snapshot_first_poll: float,
        max_rate_limit_wait: float,
        shared_rate: float | None,
        client_options: Mapping[str, Any] | None = None,
        cursor_margin: float = 5.0,
        min_window_seconds: float = 60.0,
        park_after_failures: int = 3,
    ) -> None:
        if cursor_margin < 0:
            raise ConfigurationError(f"cursor_margin must be >= 0 seconds, got {cursor_margin}")
        if min_window_seconds <= 0:
            raise ConfigurationError(f"min_window_seconds must be > 0, got {min_window_seconds}")
        if park_after_failures < 1:
            raise ConfigurationError(f"park_after_failures must be at least 1, got {park_after_failures}")
        if fallback_lookback_hours <= 0:
            raise ConfigurationError(f"fallback_lookback_hours must be > 0, got {fallback_lookback_hours}")
        if not 1 <= detail_concurrency <= 3:
            raise ConfigurationError(
                f"detail_concurrency must be 1–3 (Shoptet allows 3 connections per token), got {detail_concurrency}"
            )
        self.app = app
        self.data_dir = data_dir
        self.fallback_lookback_hours = fallback_lookback_hours
        self.detail_concurrency = detail_concurrency
        self.queue = queue
        self.snapshot_first_poll = snapshot_first_poll
        self.max_rate_limit_wait = max_rate_limit_wait
        self.shared_rate = shared_rate
        self.client_options = dict(client_options or {})
        self.cursor_margin = cursor_margin
        self.min_window_seconds = min_window_seconds
        self.park_after_failures = park_after_failures
        self._secret_key = secret_key
        self._cipher: CredentialCipher | None = None
        self._clients: dict[int, tuple[int, str, ShoptetClient]] = {}
        self._clients_lock = threading.Lock()
        self.tasks: dict[str, Task[Any, Any]] = {}

    def __repr__(self) -> str:
        return f"<ShoptetPack data_dir={str(self.data_dir)!r} queue={self.queue!r}>"

    @property
    def cipher(self) -> CredentialCipher:
        """The credentials cipher, created on first use (so installing needs no key until a shop is used)."""
        if self._cipher is None:
            self._cipher = CredentialCipher(self._secret_key)
        return self._cipher

    @property
    def inventory_task(self) -> Task[Any, Any]:
        return self.tasks["commerce.inventory.refresh_metrics"]

    def credentials(self, shop_id: int) -> dict[str, Any]:
        """The shop's decrypted credentials."""
        with self.app.read_transaction() as conn:
            return store.shop_credentials(conn, self.cipher, shop_id)

    def client(self, shop: Shop) -> ShoptetClient:
        """This process's API client for the shop, shared by its threads (one 3-connection semaphore and one
        view of Shoptet's bucket per shop and process). Rebuilt when the shop's URL or credentials change."""
        creds = self.credentials(shop.id)
        fingerprint = _fingerprint(shop, creds)
        pid = os.getpid()
        with self._clients_lock:
            cached = self._clients.get(shop.id)
            if cached is not None and cached[0] == pid and cached[1] == fingerprint:
                return cached[2]
            client = ShoptetClient(
                api_credentials(self, shop, creds),
                base_url=shop.base_url,
                shop=shop.name,
                app=self.app if self.shared_rate else None,
                shared_rate=self.shared_rate,
                **{"max_connections": 3, "max_rate_limit_wait": self.max_rate_limit_wait, **self.client_options},
            )
            if cached is not None and cached[0] == pid:
                _close(cached[2])
            self._clients[shop.id] = (pid, fingerprint, client)
            return client

    def close(self) -> None:
        """Close this process's API clients."""
        with self._clients_lock:
            clients, self._clients = self._clients, {}
        pid = os.getpid()
        for owner, _, client in clients.values():
            if owner == pid:
                _close(client)


def _close(client: ShoptetClient) -> None:
    """Close a client and, for an add-on shop, its token manager's own HTTP client."""
    client.close()
    if isinstance(client.credentials, AccessTokenManager):
        client.credentials.close()


def _fingerprint(shop: Shop, creds: dict[str, Any]) -> str:
    static = {k: v for k, v in creds.items() if k != "access_token"}
    raw = json.dumps([shop.base_url, shop.name, static], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def api_credentials(pack: ShoptetPack, shop: Shop, creds: dict[str, Any]) -> Credentials:
    if creds.get("token"):
        return PrivateApiToken(str(creds["token"]))
    if creds.get("oauth_token"):
        return AccessTokenManager(
            str(creds.get("oauth_url") or shop.base_url),
            str(creds["oauth_token"]),
            shop_key=f"shop-{shop.id}",
            cache=ShopTokenCache(pack, shop.id),
            app=pack.app,
        )
    raise ConfigurationError(f"shop {shop.name!r} has neither a private API token nor an OAuth token")


class ShopTokenCache:
    """A :class:`~conveyor.commerce.shoptet.auth.TokenCache` in the shop's encrypted credentials.

    Shoptet allows 5 valid access tokens per add-on installation; keeping the current one in the database
    lets every worker process reuse it (the token manager refreshes under a named lock, so they never all
    fetch one). It is encrypted like the rest of the credentials. Reads are served from memory until the
    token is about to expire, then from the database, where another process may have put a fresh one."""

    def __init__(self, pack: ShoptetPack, shop_id: int, *, reread_margin: float = 120.0) -> None:
        self.pack, self.shop_id, self.reread_margin = pack, shop_id, reread_margin
        self._local: CachedToken | None = None

    def get(self, key: str) -> CachedToken | None:
        local = self._local
        if local is not None and local.expires_at - self.reread_margin > time.time():
            return local
        stored = self.pack.credentials(self.shop_id).get("access_token")
        if isinstance(stored, dict) and stored.get("token") and stored.get("expires_at"):
            self._local = CachedToken(str(stored["token"]), float(stored["expires_at"]))
        else:
            self._local = None
        return self._local

    def put(self, key: str, token: CachedToken) -> None:
        self._update({"token": token.token, "expires_at": token.expires_at})
        self._local = token

    def delete(self, key: str) -> None:
        self._update(None)
        self._local = None

    def _update(self, value: dict[str, Any] | None) -> None:
        cipher = self.pack.cipher
        with self.pack.app.transaction() as conn:
            creds = store.shop_credentials(conn, cipher, self.shop_id)
            if value is None:
                creds.pop("access_token", None)
            else:
                creds["access_token"] = value
            store.set_shop_credentials(conn, cipher, self.shop_id, creds)


def pack_of(app: Conveyor) -> ShoptetPack:
    """The pack :func:`install` put on ``app``; :class:`~conveyor.ConfigurationError` if there is none."""
    pack = _PACKS.get(app)
    if pack is None:
        raise ConfigurationError(
            "the Shoptet pipelines are not installed on this application: call "
            "conveyor.commerce.shoptet.pipelines.install(app) where the app is defined"
        )
    return pack
