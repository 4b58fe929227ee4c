"""procrastinate 3 (PostgreSQL, async API): two `procrastinate worker` processes, `-c concurrency`."""

from __future__ import annotations

import asyncio
import os
from importlib.metadata import version

from probe import body
from procrastinate import App, PsycopgConnector

VERSION = version("procrastinate")
# Bulk enqueue: Task.batch_defer_async: one INSERT.

app = App(connector=PsycopgConnector(conninfo=os.environ.get("BENCH_PG_DSN", "")))


@app.task(queue="bench", name="noop")
async def noop() -> None:
    body()


_loop = asyncio.new_event_loop()


async def _setup() -> None:
    await app.open_async()
    await app.schema_manager.apply_schema_async()


def setup() -> None:
    _loop.run_until_complete(_setup())


async def _single(n: int) -> None:
    for _ in range(n):
        await noop.defer_async()


def enqueue_single(n: int) -> None:
    _loop.run_until_complete(_single(n))


def enqueue_bulk(n: int) -> None:
    _loop.run_until_complete(noop.batch_defer_async(*({} for _ in range(n))))


def worker_commands(bin_dir: str, concurrency: int) -> list[list[str]]:
    cmd = [
        f"{bin_dir}/procrastinate",
        "--app=procrastinate_peer.app",
        "worker",
        "--queues",
        "bench",
        "--concurrency",
        str(concurrency),
    ]
    return [cmd, cmd]


def close() -> None:
    _loop.run_until_complete(app.close_async())
    _loop.close()
