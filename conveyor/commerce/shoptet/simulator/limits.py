"""Shoptet's request limits, as its OpenAPI introduction and developers.shoptet.com describe them.

Three independent rules, each answering before the request does any work:

* **Concurrent connections per token** (nginx ``limit_conn per_token 3``): a request that would be the 4th in
  flight for the same token value is refused with 429 at once. The key is the raw token header value, not the
  authenticated identity, because nginx counts before the application looks at the token.
* **Leaky bucket per API access** (capacity 200 drops, leaking 10 drops/s): Shoptet adds drops by the request's
  "complexity" after it runs. The real weights are not published; the simulator adds ``drops_per_request``
  (default 1) plus one drop per ``bytes_per_drop`` (default 16 KiB) of the response body, so a page of 1,000
  products weighs far more than a webhook listing, and a client that asks for big pages drains its bucket
  sooner. Only the fixed part must fit for a request to be let in. A request that finds the bucket full is
  refused with 429 and ``Retry-After: <HTTP date>`` (a date, not seconds), and adds no drops. Every response carries
  ``X-RateLimit-Bucket-Filling: <level>/<capacity>``.
* **Write locks** (423): a write to a URL already being written is refused; a lock lives while the request runs,
  at most 5 s.

Time comes from an injected clock so tests can drive the bucket without sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

__all__ = ["ConcurrencyLimiter", "LeakyBuckets", "WriteLocks", "http_date"]


def http_date(ts: float) -> str:
    """An RFC 9110 HTTP date in GMT, e.g. ``Mon, 01 Jul 2024 12:01:11 GMT``."""
    return format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)


class ConcurrencyLimiter:
    """Counts requests in flight per key and refuses the one over ``limit``."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"concurrency limit must be at least 1, got {limit}")
        self.limit = limit
        self._active: dict[str, int] = {}
        self._lock = threading.Lock()

    def try_acquire(self, key: str) -> bool:
        """Take a slot for ``key``; False if ``limit`` requests with this key are already in flight."""
        with self._lock:
            count = self._active.get(key, 0)
            if count >= self.limit:
                return False
            self._active[key] = count + 1
            return True

    def release(self, key: str) -> None:
        with self._lock:
            count = self._active.get(key, 0) - 1
            if count > 0:
                self._active[key] = count
            else:
                self._active.pop(key, None)

    def active(self, key: str | None = None) -> int:
        """Requests in flight for ``key``, or for all keys."""
        with self._lock:
            return self._active.get(key, 0) if key is not None else sum(self._active.values())


class LeakyBuckets:
    """One leaky bucket per key: ``capacity`` drops, draining at ``leak_per_second``.

    The level is kept as a float and drained lazily on every read, so idle buckets cost nothing.
    """

    def __init__(self, capacity: int, leak_per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1:
            raise ValueError(f"bucket capacity must be at least 1, got {capacity}")
        if leak_per_second <= 0:
            raise ValueError(f"bucket leak rate must be positive, got {leak_per_second}")
        self.capacity = capacity
        self.leak_per_second = leak_per_second
        self._clock = clock
        self._levels: dict[str, tuple[float, float]] = {}  # key -> (level, at)
        self._lock = threading.Lock()

    def _drained(self, key: str, now: float) -> float:
        level, at = self._levels.get(key, (0.0, now))
        return max(0.0, level - (now - at) * self.leak_per_second)

    def level(self, key: str) -> float:
        with self._lock:
            return self._drained(key, self._clock())

    def seconds_until_room(self, key: str, drops: int = 1) -> float:
        """0 if ``drops`` more fit in ``key``'s bucket now, otherwise how long until enough has leaked out."""
        with self._lock:
            level = self._drained(key, self._clock())
        return max(0.0, level + drops - self.capacity) / self.leak_per_second

    def add(self, key: str, drops: int) -> float:
        """Pour ``drops`` into ``key``'s bucket (capped at capacity) and return the new level."""
        with self._lock:
            now = self._clock()
            level = min(float(self.capacity), self._drained(key, now) + drops)
            self._levels[key] = (level, now)
            return level

    def filling(self, key: str) -> str:
        """The ``X-RateLimit-Bucket-Filling`` header value, e.g. ``37/200``."""
        return f"{math.ceil(self.level(key) - 1e-9)}/{self.capacity}"

    def snapshot(self) -> dict[str, float]:
        """Current level of every bucket that is not empty."""
        with self._lock:
            now = self._clock()
            levels = {key: self._drained(key, now) for key in self._levels}
        return {key: round(level, 3) for key, level in levels.items() if level > 0}


class WriteLocks:
    """Per-URL locks for writes: the second identical write while the first runs gets 423."""

    def __init__(self, max_hold: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_hold = max_hold
        self._clock = clock
        self._held: dict[str, float] = {}
        self._lock = threading.Lock()

    def try_acquire(self, url: str) -> bool:
        with self._lock:
            now = self._clock()
            since = self._held.get(url)
            if since is not None and now - since < self.max_hold:
                return False
            self._held[url] = now
            return True

    def release(self, url: str) -> None:
        with self._lock:
            self._held.pop(url, None)
