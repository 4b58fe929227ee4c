"""The schema the migrations build is the schema the tables declare, on both databases (issue #18).

SQLite's fetch index silently lost ``priority DESC`` in a batch migration and throughput fell 4x with the
backlog; these tests compare the database catalog of a migrated database with one built by
``metadata.create_all``, so such drift fails here instead of in a benchmark.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine

from conveyor import Conveyor
from conveyor.commerce.store.migrate import HISTORY as COMMERCE
from conveyor.commerce.store.schema import metadata as commerce_metadata
from conveyor.engine import clock
from conveyor.scheduler.schema import metadata as scheduler_metadata
from conveyor.store.migrate import ENGINE, MigrationHistory
from conveyor.store.schema import metadata as engine_metadata
from tests.conftest import pg_database
from tests.store.schema_drift import compare, describe, schema_drift

W = "host:1:abc/1"


@pytest.fixture(params=["sqlite", "postgres"])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one kind: one to migrate, one to build from the tables."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}", f"sqlite:///{tmp_path / 'declared.db'}"
        return
    with ExitStack() as stack:
        yield stack.enter_context(pg_database()), stack.enter_context(pg_database())


@pytest.mark.parametrize(
    ("metadatas", "history"),
    [
        pytest.param([engine_metadata, scheduler_metadata], ENGINE, id="engine"),
        pytest.param([commerce_metadata], COMMERCE, id="commerce"),
    ],
)
def test_migrations_build_the_schema_the_tables_declare(
    two_databases: tuple[str, str], metadatas: list[MetaData], history: MigrationHistory
) -> None:
    migrated, declared = two_databases
    assert schema_drift(metadatas, history, migrated, declared) == []


def test_drift_check_reports_the_fetch_index_that_lost_its_direction(tmp_path: Path) -> None:
    # 0003 is where SQLite's batch rebuild dropped DESC and AUTOINCREMENT: the check must see both.
    migrated = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    declared = create_engine(f"sqlite:///{tmp_path / 'declared.db'}")
    ENGINE.upgrade(migrated, "0003_coordination")
    engine_metadata.create_all(declared)
    scheduler_metadata.create_all(declared)
    # Later revisions add more (columns of their own), hence a subset.
    assert {
        "index ix_conveyor_jobs_fetch: migrations build ON conveyor_jobs (queue, priority, id) origin c "
        "WHERE state = 'available'; tables declare ON conveyor_jobs (queue, priority DESC, id) origin c "
        "WHERE state = 'available'",
        "table conveyor_jobs: migrations build no AUTOINCREMENT; tables declare AUTOINCREMENT",
    } <= set(compare(describe(migrated), describe(declared)))


def _sqlite_at_0003_with_jobs(path: Path) -> list[tuple[int, int]]:
    """A database left by 0003 (the degraded schema) holding three available jobs; their (id, priority)."""
    ENGINE.upgrade(create_engine(f"sqlite:///{path}"), "0003_coordination")
    jobs = [(4, 0), (7, 5), (9, 1)]
    with sqlite3.connect(path) as c:
        c.executemany(
            "INSERT INTO conveyor_jobs (id, queue, task, args, kwargs, state, priority, max_attempts, created_at, "
            "scheduled_at) VALUES (?, 'default', 't', '[]', '{}', 'available', ?, 3, 0, 0)",
            jobs,
        )
    return jobs


def test_upgrading_an_existing_sqlite_database_restores_the_descending_fetch_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _sqlite_at_0003_with_jobs(path)
    ENGINE.upgrade(create_engine(f"sqlite:///{path}"))
    with sqlite3.connect(path) as c:
        keys = [(r[2], r[3]) for r in c.execute("PRAGMA index_xinfo(ix_conveyor_jobs_fetch)") if r[5]]
    assert keys == [("queue", 0), ("priority", 1), ("id", 0)]


def test_upgrading_an_existing_sqlite_database_keeps_its_jobs_in_fetch_order(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    jobs = _sqlite_at_0003_with_jobs(path)
    app = Conveyor(f"sqlite:///{path}")
    app.migrate()
    fetched = app.driver.fetch_available(app.driver.connect(), "default", 10, W, clock.now(), 60)
    assert [(j.id, app.get_job(j.id).priority) for j in fetched] == sorted(jobs, key=lambda j: (-j[1], j[0]))
    app.close()


def test_job_ids_are_not_reused_after_the_newest_job_is_deleted_on_an_upgraded_sqlite_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _sqlite_at_0003_with_jobs(path)
    app = Conveyor(f"sqlite:///{path}")
    app.migrate()
    with sqlite3.connect(path) as c:
        c.execute("DELETE FROM conveyor_jobs WHERE id = 9")
    assert app.enqueue("t") == 10
    app.close()
