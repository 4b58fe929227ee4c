"""``conveyor_workers``: one row per live worker process group (its host, pid, queues and heartbeat).

The supervisor registers itself, heartbeats and unregisters (removing rows of workers whose heartbeat is
long stale, which died without unregistering); the dashboard lists them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from conveyor.store import schema
from conveyor.store.queries.base import TableQueries

W = schema.workers


class WorkerQueries(TableQueries):
    """Worker registrations. Writes are one short transaction each."""

    def register_worker(self, row: dict[str, Any]) -> None:
        """Insert a worker's row (every column of ``conveyor_workers``)."""
        with self.begin() as c:
            c.execute(insert(W).values(**row))

    def heartbeat_worker(self, worker_id: str, now: float) -> None:
        with self.begin() as c:
            c.execute(update(W).where(W.c.id == worker_id).values(heartbeat_at=now))

    def unregister_worker(self, worker_id: str, stale_before: float) -> None:
        """Delete the worker's row, and those of workers whose last heartbeat is before ``stale_before``."""
        with self.begin() as c:
            c.execute(delete(W).where(or_(W.c.id == worker_id, W.c.heartbeat_at < stale_before)))

    def worker_list(self, conn: Connection) -> list[dict[str, Any]]:
        """Every registered worker's row, oldest first (in the caller's read transaction)."""
        return [dict(r) for r in conn.execute(select(W).order_by(W.c.started_at)).mappings()]
