"""arq: two `arq` worker processes (asyncio), `max_jobs` = concurrency, library defaults otherwise."""

from __future__ import annotations

import asyncio
import os
from importlib.metadata import version
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from probe import body

VERSION = version("arq")
# No bulk enqueue: enqueue_job only.

REDIS = RedisSettings.from_dsn(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))


async def noop(ctx: dict[str, Any]) -> None:
    body()


class WorkerSettings:
    functions = [noop]
    redis_settings = REDIS
    max_jobs = int(os.environ.get("BENCH_CONCURRENCY", "10"))


_loop = asyncio.new_event_loop()
_pool: ArqRedis | None = None


def setup() -> None:
    global _pool
    _pool = _loop.run_until_complete(create_pool(REDIS))


async def _single(n: int) -> None:
    assert _pool is not None
    for _ in range(n):
        await _pool.enqueue_job("noop")


def enqueue_single(n: int) -> None:
    _loop.run_until_complete(_single(n))


def worker_commands(bin_dir: str, concurrency: int) -> list[list[str]]:
    return [[f"{bin_dir}/arq", "arq_peer.WorkerSettings"] for _ in range(2)]


def close() -> None:
    if _pool is not None:
        _loop.run_until_complete(_pool.aclose())
    _loop.close()
