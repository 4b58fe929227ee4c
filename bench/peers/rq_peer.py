"""rq: two `rq worker` processes; each forks a work horse per job (rq's design)."""

from __future__ import annotations

import os
from importlib.metadata import version

from probe import body
from redis import Redis
from rq import Queue

VERSION = version("rq")
# Bulk enqueue: Queue.enqueue_many, one pipeline.
URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def noop() -> None:
    body()


_conn: Redis | None = None
_queue: Queue | None = None


def setup() -> None:
    global _conn, _queue
    _conn = Redis.from_url(URL)
    _queue = Queue("bench", connection=_conn)


def enqueue_single(n: int) -> None:
    assert _queue is not None
    for _ in range(n):
        _queue.enqueue(noop)


def enqueue_bulk(n: int) -> None:
    assert _queue is not None
    _queue.enqueue_many([Queue.prepare_data(noop) for _ in range(n)])


def worker_commands(bin_dir: str, concurrency: int) -> list[list[str]]:
    return [[f"{bin_dir}/rq", "worker", "bench", "--url", URL, "--quiet"] for _ in range(2)]


def close() -> None:
    if _conn is not None:
        _conn.close()
