"""Fixtures: a fresh, migrated database per test, on SQLite and (when a server answers) PostgreSQL.

PostgreSQL tests run when ``CONVEYOR_TEST_POSTGRES_URL`` is set or a server answers on 127.0.0.1:5432;
otherwise they are skipped with the reason, except under ``CI=true`` where a missing server fails.
Each PostgreSQL test gets its own database, dropped afterwards, so runs never share state.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.engine import clock

PG_ADMIN_URL = os.environ.get("CONVEYOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> str | None:
    """None when usable, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return f"no PostgreSQL at {PG_ADMIN_URL}: {str(exc).strip().splitlines()[0]}"


_PG_PROBLEM: str | None = None
_PG_CHECKED = False


def pg_problem() -> str | None:
    global _PG_CHECKED, _PG_PROBLEM
    if not _PG_CHECKED:
        _PG_PROBLEM, _PG_CHECKED = _pg_available(), True
    return _PG_PROBLEM


def _require_pg() -> None:
    problem = pg_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {problem}")
        pytest.skip(problem)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (dropped afterwards)."""
    _require_pg()
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"conveyor_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'conveyor.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test using this runs once per database: the same suite for every driver."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'conveyor.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def app(db_url: str) -> Iterator[Conveyor]:
    """A migrated application on each database, with short leases so rescue tests are quick."""
    a = Conveyor(db_url, lease_seconds=60, shutdown_grace_seconds=5)
    a.migrate()
    yield a
    a.close()


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    yield
    clock.set_clock(None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
