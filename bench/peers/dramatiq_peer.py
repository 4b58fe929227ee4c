"""dramatiq with the Redis broker: one `dramatiq` command, 2 processes × `concurrency` threads."""

from __future__ import annotations

import os
from importlib.metadata import version

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from probe import body

VERSION = version("dramatiq")
# No bulk enqueue: messages are sent one by one (group() too).

broker = RedisBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench", max_retries=0)
def noop() -> None:
    body()


def enqueue_single(n: int) -> None:
    for _ in range(n):
        noop.send()


def worker_commands(bin_dir: str, concurrency: int) -> list[list[str]]:
    return [
        [f"{bin_dir}/dramatiq", "dramatiq_peer", "--processes", "2", "--threads", str(concurrency), "--queues", "bench"]
    ]


def close() -> None:
    broker.close()
