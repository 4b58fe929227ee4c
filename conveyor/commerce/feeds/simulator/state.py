"""The simulator's moving parts: which generation the feeds are at (and since when), and request counters."""

from __future__ import annotations

import threading
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conveyor.commerce.feeds.simulator.config import SimulatorConfig
from conveyor.commerce.feeds.simulator.data import advance_versions

__all__ = ["FeedSimulator", "Moment"]


@dataclass(frozen=True)
class Moment:
    """The feeds as they are now: a response holds on to one, so a change mid-stream cannot tear its body."""

    generation: int
    #: When the generation began, in whole seconds since the epoch (what Last-Modified says).
    last_modified: int
    #: The generation that last changed each item; None while nothing has changed yet.
    versions: array[int] | None


class FeedSimulator:
    """Generations (scheduled every ``change_every`` and on demand), and the counters ``/_sim/stats`` shows.

    The scheduled generations are computed lazily from the clock when a request asks (no background task), so
    a test that moves an injected clock sees exactly the changes it expects.
    """

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float]) -> None:
        self.config, self.clock = config, clock
        self._lock = threading.Lock()
        self._started = clock()
        self._manual = 0
        self._scheduled = 0
        self._moment = Moment(0, int(self._started), None)
        self.counts: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.by_feed: Counter[str] = Counter()
        self.by_fault: Counter[str] = Counter()

    def now(self) -> Moment:
        """The current generation, catching up with any scheduled changes that fell due."""
        with self._lock:
            every = self.config.change_every
            if every is not None:
                due = int((self.clock() - self._started) // every)
                if due > self._scheduled:
                    began = self._started + due * every
                    self._scheduled = due
                    self._move_to(self._manual + due, began)
            return self._moment

    def advance(self, generations: int = 1) -> Moment:
        """Begin ``generations`` new generations now (``POST /_sim/advance``)."""
        with self._lock:
            self._manual += generations
            self._move_to(self._manual + self._scheduled, self.clock())
            return self._moment

    def _move_to(self, generation: int, began: float) -> None:
        current = self._moment
        if generation <= current.generation:
            return
        versions = advance_versions(
            current.versions,
            self.config.seed,
            self.config.items,
            range(current.generation + 1, generation + 1),
            self.config.change_share,
        )
        # Last-Modified has one-second resolution: a generation that begins within the second of the previous
        # one still gets a later date, or a client using only If-Modified-Since would miss the change.
        self._moment = Moment(generation, max(int(began), current.last_modified + 1), versions)

    def count(self, key: str, amount: int = 1) -> None:
        """Add to a counter (requests, bytes sent, 304s…); thread-safe, as bodies stream from worker threads."""
        with self._lock:
            self.counts[key] += amount

    def record(self, feed: str, status: int, faults: tuple[str, ...]) -> None:
        """Count one feed request by feed, status and the faults it was served with."""
        with self._lock:
            self.counts["feed_requests"] += 1
            self.by_feed[feed] += 1
            self.by_status[status] += 1
            for fault in faults:
                self.by_fault[fault] += 1

    def stats(self) -> dict[str, Any]:
        """What ``GET /_sim/stats`` shows."""
        moment = self.now()
        with self._lock:
            return {
                "requests": 0,
                "feed_requests": 0,
                "not_modified": 0,
                "bytes_sent": 0,
                **dict(self.counts),
                "generation": moment.generation,
                "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
                "by_feed": dict(self.by_feed),
                "by_fault": dict(self.by_fault),
            }
