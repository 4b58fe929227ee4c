"""``conveyor_rate_limits``: token buckets (see :mod:`conveyor.coordination.ratelimit` for keys and waiting).

A row keeps only ``tokens`` and ``updated_at``; the refill since ``updated_at`` is computed when the bucket
is next touched, so an idle bucket costs nothing. A take is one short transaction: read the row under a row
lock, refill, take a token if there is one, write it back. The lock is ``SELECT … FOR UPDATE`` as
SQLAlchemy builds it for each database: PostgreSQL locks the row; the SQLite dialect leaves the clause out,
because every SQLite write transaction begins ``IMMEDIATE`` and so already holds the database write lock.
Either way concurrent takers are serialised on the bucket and can never both spend its last token.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, text

from conveyor.store import schema
from conveyor.store.queries.base import TableQueries

RL = schema.rate_limits

#: Epoch seconds as floats are exact only to about 0.2 microseconds, so the refill can leave 0.9999998
#: tokens where there should be one. A permit due within a microsecond is given now: otherwise a caller
#: would sleep for the rounding error (and, on a clock too coarse to move that little, forever).
TOLERANCE_S = 1e-6

# First use of a key: a full bucket. DO NOTHING because another process may create it at the same time.
CREATE = text(
    "INSERT INTO conveyor_rate_limits (key, tokens, updated_at) VALUES (:key, :tokens, :now) "
    "ON CONFLICT (key) DO NOTHING"
)
SAVE = text("UPDATE conveyor_rate_limits SET tokens = :tokens, updated_at = :updated_at WHERE key = :key")


def refill(tokens: float, updated_at: float, now: float, rate: float, per: float, burst: float) -> tuple[float, float]:
    """A bucket's tokens at ``now`` and the seconds until it holds one (0.0: it holds one now).

    A clock behind the last writer's refills nothing (``now < updated_at``)."""
    tokens = min(burst, tokens + max(0.0, now - updated_at) * rate / per)
    wait = max(0.0, 1.0 - tokens) * per / rate
    return tokens, (0.0 if wait <= TOLERANCE_S else wait)


class RateLimitQueries(TableQueries):
    """Token buckets shared by every process using the database: ``rate`` tokens per ``per`` seconds, at
    most ``burst`` held. Callers validate the numbers (all > 0, ``burst`` >= 1)."""

    def rate_limit_take(self, key: str, *, rate: float, per: float, burst: float, now: float) -> float:
        """Take one token from bucket ``key`` (created full on first use). 0.0 when taken; otherwise the
        seconds until a token will be there, and nothing is taken or written."""
        with self.begin() as c:
            row = self._rate_limit_row(c, key, lock=True)
            if row is None:
                c.execute(CREATE, {"key": key, "tokens": burst, "now": now})
                row = self._rate_limit_row(c, key, lock=True)
                assert row is not None  # created above or by a concurrent first user; never deleted
            updated_at = float(row[1])
            tokens, wait = refill(float(row[0]), updated_at, now, rate, per, burst)
            if wait == 0.0:
                # updated_at never moves back, so a clock behind the last writer's cannot refill twice.
                c.execute(SAVE, {"key": key, "tokens": max(0.0, tokens - 1.0), "updated_at": max(now, updated_at)})
        return wait

    def rate_limit_wait(self, key: str, *, rate: float, per: float, burst: float, now: float) -> float:
        """Seconds until bucket ``key`` holds a token (0.0: now; a bucket nobody used yet is full). Takes
        and writes nothing, so it is only a hint when others use the same bucket."""
        with self.read() as c:
            row = self._rate_limit_row(c, key, lock=False)
        if row is None:
            return 0.0
        return refill(float(row[0]), float(row[1]), now, rate, per, burst)[1]

    @staticmethod
    def _rate_limit_row(c: Connection, key: str, *, lock: bool) -> Any:
        q = select(RL.c.tokens, RL.c.updated_at).where(RL.c.key == key)
        return c.execute(q.with_for_update() if lock else q).first()
