"""Runs one peer's measurement inside that peer's own venv; ``bench/peers.py`` starts it.

Usage: ``<venv>/bin/python bench/peers/driver.py --peer NAME --jobs N [...]``. The last stdout line is a
JSON object with the figures (or ``{"error": ...}``). Each peer is a module ``<name>_peer.py`` beside this
file that defines ``VERSION``, ``enqueue_single(n)`` (n calls of the one-job API) and
``worker_commands(bin_dir, concurrency)``, and where the library has them ``setup()``,
``enqueue_bulk(n)`` (n jobs in one call) and ``close()``; the module's task calls ``probe.body()`` and
nothing else (``BENCH_BODY``, from ``--body``: ``noop`` or ``incr``; see probe.py).

Sequence, on a fresh backend: n_single = min(jobs, 5000) single enqueues (timed), ``jobs`` bulk enqueues
in calls of ``--bulk-size`` jobs (timed), ``jobs`` bulk enqueues in one call (timed; without a bulk API
both are sent one by one, untimed), then the worker processes start and the
processing rate is finished jobs / (last mark − first mark), so start-up is not counted. Then, with the
workers idle, ``--latency-samples`` jobs are sent one at a time: enqueue→start latency is the job's mark
minus the time just before the enqueue call.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import probe

KINDS = {
    "procrastinate": "postgres",
    "pgqueuer": "postgres",
    "celery": "redis",
    "dramatiq": "redis",
    "rq": "redis",
    "arq": "redis",
    "huey-redis": "redis",
    "huey-sqlite": "sqlite",
}


def percentile(values: list[float], p: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


@contextlib.contextmanager
def postgres_database(admin_dsn: str) -> Iterator[str]:
    import psycopg

    name = f"bench_peers_{secrets.token_hex(4)}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def redis_database(url: str) -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


class Workers:
    """Worker processes, each in its own process group so that its children go down with it."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, commands: list[list[str]]) -> None:
        for cmd in commands:
            log = self.log_dir / f"worker{len(self.procs)}.log"
            # SIGTERM (see main) waits until the child is recorded, so stop() always knows about it.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
            try:
                with open(log, "wb") as out:
                    self.procs.append(
                        subprocess.Popen(
                            cmd,
                            env=self.env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL,
                            start_new_session=True,
                        )
                    )
                self.logs.append(log)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    def check_alive(self) -> None:
        for p, log in zip(self.procs, self.logs, strict=True):
            if p.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"worker {p.args!r} exited with {p.returncode}:\n{tail}")

    def _descendants(self) -> set[tuple[int, str]]:
        """(pid, start time) of every live process below the workers: some start their own sessions
        (rq's work horses call setsid), so killing the process groups alone can leave them behind."""
        children: dict[int, list[tuple[int, str]]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
        found: set[tuple[int, str]] = set()
        todo = [p.pid for p in self.procs]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child[0])
        return found

    @staticmethod
    def _alive(proc: tuple[int, str]) -> bool:
        try:
            fields = Path(f"/proc/{proc[0]}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return fields[19] == proc[1] and fields[0] != "Z"

    def stop(self, timeout: float = 15.0) -> None:
        known = self._descendants()
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(p.poll() is None for p in self.procs):
            known |= self._descendants()
            time.sleep(0.1)
        for p in self.procs:
            # Whatever is left in the group (the leader or its children) is killed.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        # Then any descendant that left the groups, by pid (checked against its start time).
        for proc in known:
            if self._alive(proc):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc[0], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(self._alive(proc) for proc in known):
            time.sleep(0.05)


def wait_for(mark_file: str, n: int, timeout: float, workers: Workers) -> int:
    deadline = time.monotonic() + timeout
    last_check = 0.0
    while True:
        done = probe.count(mark_file)
        now = time.monotonic()
        if done >= n or now > deadline:
            return done
        if now - last_check > 0.5:
            workers.check_alive()
            last_check = now
        time.sleep(0.002)


def measure(peer, a: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, object]:
    mark_file = env["BENCH_MARK_FILE"]
    if hasattr(peer, "setup"):
        peer.setup()
    n_single = min(a.jobs, 5000)
    t = time.perf_counter()
    peer.enqueue_single(n_single)
    single = n_single / (time.perf_counter() - t)
    bulk: float | None = None
    bulk_small: float | None = None
    if hasattr(peer, "enqueue_bulk"):
        t = time.perf_counter()
        for start in range(0, a.jobs, a.bulk_size):
            peer.enqueue_bulk(min(a.bulk_size, a.jobs - start))
        bulk_small = a.jobs / (time.perf_counter() - t)
        t = time.perf_counter()
        peer.enqueue_bulk(a.jobs)
        bulk = a.jobs / (time.perf_counter() - t)
    else:
        peer.enqueue_single(2 * a.jobs)
    total = n_single + 2 * a.jobs

    bin_dir = str(Path(sys.prefix) / "bin")
    workers = Workers(env, work)
    try:
        workers.start(peer.worker_commands(bin_dir, a.concurrency))
        done = wait_for(mark_file, total, a.drain_timeout, workers)
        if done < total:
            raise RuntimeError(f"only {done}/{total} jobs ran within {a.drain_timeout:.0f} s")
        marks = probe.stamps(mark_file)
        processed = len(marks) / (max(marks) - min(marks))

        lat: list[float] = []
        misses = 0
        time.sleep(1.5)  # workers idle, as for Conveyor's latency figure
        for _ in range(a.latency_samples):
            before = probe.count(mark_file)
            sent = time.time()
            peer.enqueue_single(1)
            if wait_for(mark_file, before + 1, 5.0, workers) > before:
                lat.append((probe.last_stamp(mark_file) - sent) * 1000)
            else:
                misses += 1
                if misses >= 3:
                    break
            time.sleep(0.01)
    finally:
        workers.stop()
    return {
        "peer": a.peer,
        "version": peer.VERSION,
        "kind": KINDS[a.peer],
        "jobs": a.jobs,
        "enqueue_single_per_s": round(single),
        "enqueue_bulk_per_s": round(bulk) if bulk is not None else None,
        "enqueue_bulk_small_per_s": round(bulk_small) if bulk_small is not None else None,
        "bulk_size": a.bulk_size,
        "body": a.body,
        "processed_per_s": round(processed),
        "latency_p50_ms": round(percentile(lat, 50), 2) if lat else None,
        "latency_p95_ms": round(percentile(lat, 95), 2) if lat else None,
        "latency_samples": len(lat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", required=True, choices=sorted(KINDS))
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--bulk-size", type=int, default=1000, help="jobs per call for the second bulk figure")
    ap.add_argument("--body", choices=["noop", "incr"], default="noop", help="the task body (see probe.py)")
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--drain-timeout", type=float, default=300.0)
    ap.add_argument("--pg-admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks (workers, scratch db)

    module, _, variant = a.peer.partition("-")
    os.environ["BENCH_VARIANT"] = variant
    os.environ["BENCH_CONCURRENCY"] = str(a.concurrency)
    os.environ["BENCH_BODY"] = a.body
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-peer-{a.peer}-") as d, contextlib.ExitStack() as stack:
            work = Path(d)
            os.environ["BENCH_MARK_FILE"] = str(work / "marks")
            os.environ["BENCH_SQLITE_PATH"] = str(work / "huey.db")
            os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parent)
            if KINDS[a.peer] == "postgres":
                os.environ["BENCH_PG_DSN"] = stack.enter_context(postgres_database(a.pg_admin_dsn))
            elif KINDS[a.peer] == "redis":
                os.environ["BENCH_REDIS_URL"] = stack.enter_context(redis_database(a.redis_url))
            peer = importlib.import_module(f"{module}_peer")
            if hasattr(peer, "close"):
                stack.callback(peer.close)
            result = measure(peer, a, dict(os.environ), work)
    except Exception as e:
        print(json.dumps({"peer": a.peer, "error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
