"""Shared by the benchmarks: scratch databases that are created for one run and dropped after it, and the
simulators (``conveyor sim …``) run as child processes."""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PG_ADMIN_URL = os.environ.get("CONVEYOR_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_database(backend: str) -> Iterator[str]:
    """A fresh database URL for ``backend`` ('sqlite' or 'postgres'), removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as d:
            yield f"sqlite:///{d}/bench.db"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"conveyor_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], p: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def simulator_process(kind: str, *args: str, startup: float = 600) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``conveyor sim KIND --port P ARGS`` in a child process; yields (base URL, process) once ``/_sim/health``
    answers, and stops it afterwards."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "conveyor.cli.main", "sim", kind, "--port", str(port), *args]
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"the simulator exited: {child.stderr.read().decode() if child.stderr else ''}")
            try:
                if httpx.get(base + "/_sim/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start within {startup:.0f} s")
            time.sleep(0.2)
        yield base, child
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
