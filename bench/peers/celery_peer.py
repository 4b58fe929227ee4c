"""celery 5 with the Redis broker: results ignored, prefork pool of 2 child processes."""

from __future__ import annotations

import os
from importlib.metadata import version

from celery import Celery
from probe import body

VERSION = version("celery")
# No bulk enqueue: group()/chunks() publish one message per task: no bulk enqueue.

app = Celery("celery_peer", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True, task_default_queue="bench")


@app.task(name="noop")
def noop() -> None:
    body()


def enqueue_single(n: int) -> None:
    for _ in range(n):
        noop.delay()


def worker_commands(bin_dir: str, concurrency: int) -> list[list[str]]:
    # One celery worker = a main process + `--concurrency` prefork children: 2 processes run the tasks.
    return [
        [
            f"{bin_dir}/celery",
            "-A",
            "celery_peer",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--queues",
            "bench",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
    ]


def close() -> None:
    app.close()
