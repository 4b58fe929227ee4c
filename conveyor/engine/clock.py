"""The one source of time for Conveyor, so tests and ``--now`` can move it.

Times are UNIX epoch seconds (float) everywhere in the engine and the database: one representation for
every driver, no time-zone conversion on the hot path, and trivially comparable in SQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], float] = time.time


def now() -> float:
    """Current time as epoch seconds."""
    return _now()


def set_clock(fn: Callable[[], float] | None) -> None:
    """Replace the clock (``None`` restores the real one). For tests and simulations."""
    global _now
    _now = fn or time.time


def to_datetime(ts: float | None) -> datetime | None:
    """Epoch seconds to an aware UTC datetime (``None`` passes through)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def from_datetime(dt: datetime) -> float:
    """Aware datetime to epoch seconds; a naive one is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
