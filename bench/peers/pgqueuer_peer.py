"""pgqueuer 1 (PostgreSQL, asyncpg): two worker processes with `pgq run`'s defaults (batch size 10).

The workers call ``pgqueuer.run(factory)``, the documented equivalent of ``pgq run``: the ``pgq run``
command of pgqueuer 1.6.0 fails before it starts (``'str' object has no attribute 'name'`` in its
log-level option).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path

import asyncpg
import pgqueuer
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries
from probe import body

VERSION = version("pgqueuer")
# Bulk enqueue: Queries.enqueue with lists: one INSERT.
DSN = os.environ.get("BENCH_PG_DSN", "")


@contextlib.asynccontextmanager
async def factory() -> AsyncIterator[PgQueuer]:
    """The worker factory (what `pgq run pgqueuer_peer:factory` would load)."""
    conn = await asyncpg.connect(DSN)
    pgq = PgQueuer(AsyncpgDriver(conn))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        body()

    try:
        yield pgq
    finally:
        await conn.close()


_loop = asyncio.new_event_loop()
_conn: asyncpg.Connection | None = None
_queries: Queries | None = None


def setup() -> None:
    global _conn, _queries
    subprocess.run(
        [str(Path(sys.prefix) / "bin" / "pgq"), "--pg-dsn", DSN, "install"], check=True, capture_output=True, timeout=60
    )
    _conn = _loop.run_until_complete(asyncpg.connect(DSN))
    _queries = Queries(AsyncpgDriver(_conn))


async def _single(n: int) -> None:
    assert _queries is not None
    for _ in range(n):
        await _queries.enqueue("noop", None)


def enqueue_single(n: int) -> None:
    _loop.run_until_complete(_single(n))


def enqueue_bulk(n: int) -> None:
    assert _queries is not None
    _loop.run_until_complete(_queries.enqueue(["noop"] * n, [None] * n, [0] * n))


def worker_commands(bin_dir: str, concurrency: int) -> list[list[str]]:
    cmd = [f"{bin_dir}/python", "-m", "pgqueuer_peer"]
    return [cmd, cmd]


def close() -> None:
    if _conn is not None:
        _loop.run_until_complete(_conn.close())
    _loop.close()


if __name__ == "__main__":
    asyncio.run(pgqueuer.run(factory))
