"""Shared by the benchmarks: scratch databases that are created for one run and dropped after it."""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

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
