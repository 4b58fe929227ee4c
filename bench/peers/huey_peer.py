"""huey on SQLite (BENCH_VARIANT=sqlite) or Redis (=redis): one consumer with 2 process workers."""

from __future__ import annotations

import os
from importlib.metadata import version

from huey import RedisHuey, SqliteHuey
from probe import body

VERSION = version("huey")
# No bulk enqueue: task.map() enqueues one by one.

if os.environ.get("BENCH_VARIANT") == "redis":
    huey = RedisHuey("bench", url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
else:
    huey = SqliteHuey("bench", filename=os.environ.get("BENCH_SQLITE_PATH", "huey.db"))


@huey.task()
def noop() -> None:
    body()


def enqueue_single(n: int) -> None:
    for _ in range(n):
        noop()


def worker_commands(bin_dir: str, concurrency: int) -> list[list[str]]:
    # -m 1.0: idle polling backs off to at most 1 s (Conveyor's worker polls every 1 s when idle);
    # huey's default ceiling is 10 s. The Redis storage blocks on BRPOP and does not poll.
    return [
        [
            f"{bin_dir}/huey_consumer",
            "huey_peer.huey",
            "--workers",
            "2",
            "--worker-type",
            "process",
            "--max-delay",
            "1.0",
            "--quiet",
        ]
    ]
