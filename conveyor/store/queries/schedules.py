"""``conveyor_schedules``: the schedule catalog (see :mod:`conveyor.scheduler.catalog` for cron and syncing).

Every method takes the caller's connection: the catalog runs a whole tick (settle runs, read due schedules,
claim slots, enqueue, store next slots) in one transaction. On SQLite that transaction began ``IMMEDIATE``,
so ticks on one file are serialised; on PostgreSQL it is READ COMMITTED, and exactly-once per slot rests on
the unique index of ``conveyor_schedule_runs`` instead (see :mod:`conveyor.store.queries.schedule_runs`).
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, select, update

from conveyor.store.queries.base import TableQueries, chunks


@functools.cache
def scheduler_tables() -> tuple[Table, Table]:
    """``(conveyor_schedules, conveyor_schedule_runs)``, imported on first use: the scheduler package (and
    croniter) stays unloaded by ``import conveyor`` until an application uses schedules."""
    from conveyor.scheduler.schema import runs, schedules

    return schedules, runs


class ScheduleQueries(TableQueries):
    """Catalog rows, one per schedule key."""

    def schedule_load(self, conn: Connection, keys: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Rows by key: every row, or those of ``keys`` (missing keys are simply absent)."""
        S = scheduler_tables()[0]
        q = select(S)
        if keys is not None:
            q = q.where(S.c.key.in_(list(keys)))
        return {r["key"]: dict(r) for r in conn.execute(q).mappings()}

    def schedule_insert(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert new catalog rows; a row another process inserted meanwhile is left as it is."""
        for chunk in chunks(rows):
            self.insert_ignoring_conflicts(conn, scheduler_tables()[0], chunk, ["key"])

    def schedule_update(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Update catalog rows by key; every dict has the same keys, ``b_key`` naming the row."""
        S = scheduler_tables()[0]
        if not rows:
            return
        cols = [c for c in rows[0] if c != "b_key"]
        stmt = update(S).where(S.c.key == bindparam("b_key")).values({c: bindparam(c) for c in cols})
        for chunk in chunks(rows, 5000):
            conn.execute(stmt, list(chunk))

    def schedule_due(self, conn: Connection, now: float, *, everything: bool = False) -> list[dict[str, Any]]:
        """Active schedules whose next slot is due (``everything``: all active ones, for ``--now``).
        Walks ``ix_conveyor_schedules_next``, so a tick reads only what is due."""
        S = scheduler_tables()[0]
        q = select(S).where(S.c.next_at.is_not(None))
        if not everything:
            q = q.where(S.c.next_at <= now)
        return [dict(r) for r in conn.execute(q).mappings()]

    def schedule_next_due_at(self, conn: Connection) -> float | None:
        """The earliest next slot of any active schedule (None: nothing active)."""
        S = scheduler_tables()[0]
        value = conn.execute(select(func.min(S.c.next_at))).scalar()
        return None if value is None else float(value)

    @abstractmethod
    def schedule_set_next_at(self, conn: Connection, pairs: Sequence[tuple[str, float]]) -> None:
        """Store each schedule's next slot: ``(key, next_at)`` pairs, thousands per tick. Written per
        driver for speed (SQLite: one prepared statement run per pair; PostgreSQL: one array update)."""
