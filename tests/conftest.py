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
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Table

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


@contextmanager
def pg_database() -> Iterator[str]:
    """Create a PostgreSQL database with a random name; drop it on exit."""
    _require_pg()
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"conveyor_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (dropped afterwards)."""
    with pg_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_pg_url() -> Iterator[str]:
    """One migrated PostgreSQL database for a whole test module, dropped afterwards. For modules whose
    tests touch one table each and empty it first (creating a database costs about a second)."""
    with pg_database() as url:
        setup = Conveyor(url)
        setup.migrate()
        setup.close()
        yield url


def app_with_empty_table(request: pytest.FixtureRequest, tmp_path: Path, table: Table) -> Iterator[Conveyor]:
    """For modules using ``module_pg_url``: a fresh SQLite file, or the module's PostgreSQL database with
    ``table`` emptied. Use from a parametrized ``app`` fixture in the module."""
    if request.param == "sqlite":
        a = Conveyor(f"sqlite:///{tmp_path / 'conveyor.db'}")
        a.migrate()
    else:
        a = Conveyor(request.getfixturevalue("module_pg_url"))
        with a.driver.begin() as c:
            c.execute(table.delete())
    yield a
    a.close()


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


@pytest.fixture
def transitions_checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Fail the test if any job changes state in a way engine/states.py TRANSITIONS does not list (see
    tests/transitions.py). Request it before the database fixtures: ``pytest.mark.usefixtures``."""
    from tests.transitions import start

    log = start(monkeypatch)
    yield log
    if found := log.finish():
        pytest.fail("job state changes not in TRANSITIONS:\n" + "\n".join(found), pytrace=False)


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    yield
    clock.set_clock(None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(app: Conveyor, monkeypatch: pytest.MonkeyPatch) -> Conveyor:
    """``app``, made the database of CLI invocations (``CONVEYOR_DATABASE_URL``, no ``--app``)."""
    monkeypatch.setenv("CONVEYOR_DATABASE_URL", app.settings.database_url)
    monkeypatch.delenv("CONVEYOR_APP", raising=False)
    return app


def run_cli(*args: str) -> tuple[int, str]:
    """Run ``conveyor ARGS`` in-process; (exit code, output)."""
    from typer.testing import CliRunner

    from conveyor.cli.main import cli

    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.output
