"""The worker's hot queries walk their partial index, never sort or scan the backlog (issue #18).

With the fetch index ascending on SQLite, every fetch sorted the queue's whole backlog in a temp B-tree
while holding the write lock. Here each query is read as the driver really runs it (SQLite's trace
callback, a recording PostgreSQL connection, SQLAlchemy's cursor events for the admin queries) against a
database holding a 50,000-job backlog with fresh statistics, and its plan (EXPLAIN QUERY PLAN / EXPLAIN)
must name the query's index and contain no sort node and no full scan of a table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from conveyor import Conveyor
from conveyor.engine import clock
from tests.conftest import pg_database

BACKLOG = 50_000  # available jobs in the fetched queue, over three priorities
PHASE = 5_000  # jobs in each other phase of a job's life, each in a queue of its own
W = "host:1:abc/1"

# Each phase's jobs, set up so that running the queries below changes nothing but the jobs one fetch takes:
# due times and leases lie in the future, completed jobs finished after the prune cut-off.
PHASES = {
    "scheduled": "state = 'scheduled', scheduled_at = {now} + 3600",
    "executing": "state = 'executing', lease_expires_at = {now} + 3600, worker_id = 'w', attempt = 1",
    "completed": "state = 'completed', finished_at = {now} - id",
}
PRUNE_BEFORE = 1_000_000.0  # epoch seconds: before every completed job


class Backlog:
    def __init__(self, app: Conveyor, now: float) -> None:
        self.app, self.now = app, now
        self.sqlite = app.driver.engine.dialect.name == "sqlite"

    def driver_statements(self, run: Callable[[Any], object]) -> list[tuple[str, Any]]:
        """The statements a driver method sends on its connection, with their parameters."""
        conn = self.app.driver.connect()
        try:
            if self.sqlite:
                traced: list[str] = []
                conn.set_trace_callback(traced.append)  # SQL with the bound values expanded
                run(conn)
                conn.set_trace_callback(None)
                return [(sql, ()) for sql in traced]
            recording = _RecordingConnection(conn)
            run(recording)
            return recording.statements
        finally:
            conn.close()

    def admin_statements(self, run: Callable[[], object]) -> list[tuple[str, Any]]:
        """The statements a SQLAlchemy-built driver method sends, with their parameters."""
        sent: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
            sent.append((statement, parameters))

        event.listen(self.app.driver.engine, "before_cursor_execute", record)
        try:
            run()
        finally:
            event.remove(self.app.driver.engine, "before_cursor_execute", record)
        return sent

    def plans(self, statements: list[tuple[str, Any]]) -> list[str]:
        """One plan (lines joined) per statement that reads or writes conveyor_jobs."""
        plans = []
        conn = self.app.driver.connect()
        try:
            for sql, params in statements:
                if "conveyor_jobs" not in sql or not re.match(r"\s*(SELECT|UPDATE|DELETE|WITH)\b", sql, re.I):
                    continue
                if self.sqlite:
                    lines = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
                else:
                    lines = [row[0] for row in conn.execute("EXPLAIN " + sql, params)]
                plans.append(f"{sql.strip()}\n  " + "\n  ".join(lines))
        finally:
            conn.close()
        return plans


class _RecordingConnection:
    """A psycopg connection that remembers what it executes (drivers only duck-type their connection)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.statements: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = None) -> Any:
        self.statements.append((sql, params))
        return self._conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _fill(app: Conveyor) -> float:
    now = clock.now()
    app.enqueue_many([{"task": "t", "args": [i], "priority": i % 3} for i in range(BACKLOG)])
    for phase, values in PHASES.items():
        app.enqueue_many([{"task": "t", "args": [i], "queue": phase} for i in range(PHASE)])
        with app.driver.begin() as c:
            c.exec_driver_sql(f"UPDATE conveyor_jobs SET {values.format(now=now)} WHERE queue = '{phase}'")
    with app.driver.begin() as c:
        c.exec_driver_sql("ANALYZE")
    return now


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backlog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backlog]:
    """One filled database per kind for the whole module: the queries below only read it (but for the
    handful of jobs the fetch takes)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{Path(tmp_path_factory.mktemp('plans')) / 'conveyor.db'}"
        else:
            url = stack.enter_context(pg_database())
        app = Conveyor(url)
        stack.callback(app.close)
        app.migrate()
        yield Backlog(app, _fill(app))


def _assert_uses_index_without_sorting(plans: list[str], index: str) -> None:
    assert plans, "the driver ran no query on conveyor_jobs"
    text = "\n\n".join(plans)
    assert index in text, text
    # SQLite: a temp B-tree is a sort; "SCAN t" without "USING" reads the whole table.
    assert "TEMP B-TREE" not in text, text
    assert not re.search(r"^\s*SCAN \w+$", text, re.M), text
    # PostgreSQL: a Sort node sorts every matching row; a Seq Scan reads the whole table.
    assert not re.search(r"\bSort\b", text), text
    assert "Seq Scan on conveyor_jobs" not in text, text


def test_fetch_walks_the_fetch_index_in_priority_order_without_sorting_the_backlog(backlog: Backlog) -> None:
    d, now = backlog.app.driver, backlog.now
    statements = backlog.driver_statements(lambda conn: d.fetch_available(conn, "default", 10, W, now, 60))
    _assert_uses_index_without_sorting(backlog.plans(statements), "ix_conveyor_jobs_fetch")


def test_staging_reads_due_jobs_through_the_stage_index(backlog: Backlog) -> None:
    d, now = backlog.app.driver, backlog.now
    statements = backlog.driver_statements(lambda conn: d.stage_due(conn, now))
    _assert_uses_index_without_sorting(backlog.plans(statements), "ix_conveyor_jobs_stage")


def test_rescue_reads_expired_leases_through_the_executing_index(backlog: Backlog) -> None:
    d, now = backlog.app.driver, backlog.now
    statements = backlog.driver_statements(lambda conn: d.rescue_expired(conn, now))
    _assert_uses_index_without_sorting(backlog.plans(statements), "ix_conveyor_jobs_executing")


def test_pruning_reads_completed_jobs_through_the_finished_index(backlog: Backlog) -> None:
    statements = backlog.admin_statements(lambda: backlog.app.driver.prune_completed(PRUNE_BEFORE))
    _assert_uses_index_without_sorting(backlog.plans(statements), "ix_conveyor_jobs_finished")
