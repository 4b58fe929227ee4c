"""``conveyor_job_errors``: one row per failed attempt (its message and traceback), read side.

The rows are written by the drivers' hot path, in the transaction that records the failed attempt; here
is what the dashboard and the failed-jobs views read, and how they name an error's class.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from conveyor.store import schema
from conveyor.store.queries.base import TableQueries, chunks

E = schema.job_errors


def error_class(error: str | None) -> str:
    """``"ValueError: bad row"`` -> ``"ValueError"``; anything else is grouped under its first word."""
    if not error:
        return "unknown"
    head = error.split(":", 1)[0].strip()
    return head if head and " " not in head else (error.split() or ["unknown"])[0]


class JobErrorQueries(TableQueries):
    """Errors of jobs. Read-only; every method takes the caller's connection."""

    def job_error_last(self, conn: Connection, job_ids: Sequence[int]) -> dict[int, str]:
        """job id -> the message of its newest error (jobs without errors are absent). Reads
        the ``job_id`` index in chunks of ids."""
        out: dict[int, str] = {}
        for chunk in chunks(list(job_ids)):
            q = select(E.c.job_id, E.c.error).where(E.c.job_id.in_(list(chunk))).order_by(E.c.job_id, E.c.id)
            for job_id, error in conn.execute(q):
                out[int(job_id)] = error
        return out
