"""What every per-table mixin may use from the driver it is mixed into."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy import Connection, Table

T = TypeVar("T")

#: Rows per multi-row statement: far below SQLite's 32,766 bound parameters and PostgreSQL's 65,535.
CHUNK = 500


def chunks(rows: Sequence[T], n: int = CHUNK) -> Iterable[Sequence[T]]:
    """``rows`` in slices of at most ``n``."""
    for i in range(0, len(rows), n):
        yield rows[i : i + n]


class TableQueries(ABC):
    """Base of the per-table mixins. :class:`~conveyor.store.base.Driver` provides the transactions."""

    #: ``"sqlite"`` or ``"postgresql"``; for messages only, never for choosing SQL (drivers override instead).
    name: str

    @abstractmethod
    def begin(self) -> AbstractContextManager[Connection]:
        """A read-write transaction (SQLite: ``BEGIN IMMEDIATE``), committed on exit."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Connection]:
        """A read-only transaction: one snapshot, and on SQLite no write lock."""

    @abstractmethod
    def insert_ignoring_conflicts(
        self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
    ) -> None:
        """Insert ``rows`` (dicts with the same keys); a row whose ``conflict`` columns match an existing
        row is skipped (``INSERT … ON CONFLICT (conflict) DO NOTHING``), so concurrent inserters of one key
        never fail. Written per driver: each SQLAlchemy dialect has its own ``insert`` construct for it."""
