"""How the Shoptet client keeps within Shoptet's limits: the leaky bucket, back-off and ``Retry-After``.

Shoptet meters each add-on × shop with a leaky bucket and reports its filling in
``X-RateLimit-Bucket-Filling: n/cap`` on every answer. :class:`LeakyBucket` remembers the last filling and
lets it leak, so the client can pause before a request instead of collecting a 429. A 429 and a 423 carry
``Retry-After`` as an HTTP date (:func:`retry_after_seconds`); everything else that is retried waits
:func:`backoff` ("equal jitter"). :class:`Permits` is the part of a Conveyor rate limit the client draws
from when the shop's workers share a request rate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Protocol


class Permits(Protocol):
    """The part of a Conveyor rate limit (``app.rate_limit(...)``) the client uses."""

    def acquire(self, timeout: float | None = None) -> None: ...


class LeakyBucket:
    """What this client knows of Shoptet's leaky bucket: the last reported filling, leaking since."""

    def __init__(self, *, leak_rate: float, pace_above: float, clock: Callable[[], float]) -> None:
        self.leak_rate = leak_rate
        self.pace_above = pace_above
        self._clock = clock
        self._lock = threading.Lock()
        self.filling: float | None = None
        self.capacity: float | None = None
        self._seen_at = 0.0

    def observe(self, header: str | None) -> None:
        """Remember ``X-RateLimit-Bucket-Filling: n/cap`` (ignored when absent or unreadable)."""
        if not header:
            return
        filling, _, capacity = header.partition("/")
        try:
            n, cap = float(filling), float(capacity)
        except ValueError:
            return
        if cap <= 0:
            return
        with self._lock:
            self.filling, self.capacity, self._seen_at = n, cap, self._clock()

    def wait_time(self) -> float:
        """Seconds to wait so the estimated filling drops to ``pace_above`` of the capacity."""
        with self._lock:
            if self.filling is None or self.capacity is None:
                return 0.0
            estimate = self.filling - self.leak_rate * max(0.0, self._clock() - self._seen_at)
            excess = estimate - self.pace_above * self.capacity
            return excess / self.leak_rate if excess > 0 else 0.0


def http_date(value: str | None) -> datetime | None:
    """An HTTP date header (``Date``, ``Retry-After``) as an aware datetime; None if absent, seconds or unreadable."""
    if not value or value.strip().isdigit():
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds from ``now`` (epoch) until a ``Retry-After`` moment: an HTTP date, as Shoptet sends it, or plain
    seconds; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def backoff(attempt: int, *, base: float, ceiling: float, random: Callable[[], float]) -> float:
    """Exponential back-off with "equal jitter": half fixed, half random, so retries spread out."""
    top = min(ceiling, base * 2.0**attempt)
    return top / 2 + random() * top / 2
