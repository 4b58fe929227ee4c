"""The dashboard's reads of finished jobs walk ``ix_conveyor_jobs_finished``, never the whole table.

SQLite uses a partial index only when the query's WHERE repeats the index's predicate: ``state =
'discarded'`` alone does not imply ``state IN ('completed', 'discarded', 'cancelled')`` to its planner, so
before the driver's queries carried ``schema.FINISHED_WHERE`` every one of them scanned the table. Each
query is captured as the driver sends it (SQLAlchemy's cursor events) and explained against a table of
20,000 finished jobs with fresh statistics. PostgreSQL is held to the same for the queries that read a time
range or a few rows (a count over most of a table may rightly be a sequential scan there).
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
from tests.conftest import pg_database

JOBS = 20_000
NOW = 1_800_000_000.0


class Table:
    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self.sqlite = app.driver.name == "sqlite"

    def plans(self, run: Callable[[Any], object]) -> str:
        """The plans of the statements on conveyor_jobs that ``run(conn)`` sends in a read transaction."""
        sent: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
            sent.append((statement, parameters))

        d = self.app.driver
        with d.read() as c:
            event.listen(d.engine, "before_cursor_execute", record)
            try:
                run(c)
            finally:
                event.remove(d.engine, "before_cursor_execute", record)
            out = []
            for sql, params in sent:
                if "conveyor_jobs" not in sql:
                    continue
                explain = "EXPLAIN QUERY PLAN " if self.sqlite else "EXPLAIN "
                rows = c.exec_driver_sql(explain + sql, params).all()
                out.append(sql.strip() + "\n  " + "\n  ".join(str(r[-1] if self.sqlite else r[0]) for r in rows))
        assert out, "the driver ran no query on conveyor_jobs"
        return "\n\n".join(out)


def _fill(app: Conveyor) -> None:
    """Finished jobs over the last day: 1% discarded, 1% cancelled, the rest completed; a few waiting."""
    series = (
        f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {JOBS}) SELECT i FROM s)"
        if app.driver.name == "sqlite"
        else f"generate_series(1, {JOBS}) AS g(i)"
    )
    mod = "%" if app.driver.name == "sqlite" else "%%"
    with app.driver.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO conveyor_jobs (queue, task, args, kwargs, state, priority, attempt, max_attempts, "
            "created_at, scheduled_at, attempted_at, finished_at) "
            f"SELECT 'q' || (i {mod} 5), 't', '[]', '{{}}', CASE WHEN i {mod} 100 = 0 THEN 'discarded' "
            f"WHEN i {mod} 100 = 1 THEN 'cancelled' WHEN i {mod} 100 = 2 THEN 'available' ELSE 'completed' END, "
            f"0, 1, 3, {NOW} - 86400, {NOW} - 86400, {NOW} - 86400 + i * 4 - 1, "
            f"CASE WHEN i {mod} 100 = 2 THEN NULL ELSE {NOW} - 86400 + i * 4 END FROM {series}"
        )
        c.exec_driver_sql("ANALYZE")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def table(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Table]:
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{Path(tmp_path_factory.mktemp('plans')) / 'conveyor.db'}"
        else:
            url = stack.enter_context(pg_database())
        app = Conveyor(url)
        stack.callback(app.close)
        app.migrate()
        _fill(app)
        yield Table(app)


def _assert_walks_the_finished_index(text: str, *, sqlite: bool) -> None:
    assert "ix_conveyor_jobs_finished" in text, text
    if sqlite:
        assert not re.search(r"^\s*SCAN conveyor_jobs\s*$", text, re.M), text
    else:
        assert "Seq Scan on conveyor_jobs" not in text, text


def test_the_change_feed_of_finished_jobs_reads_a_time_range_of_the_index(table: Table) -> None:
    text = table.plans(lambda c: table.app.driver.job_finished_after(c, NOW - 60, 200))
    _assert_walks_the_finished_index(text, sqlite=table.sqlite)


def test_the_chart_series_reads_a_time_range_of_the_index(table: Table) -> None:
    text = table.plans(lambda c: table.app.driver.job_finished_series(c, NOW - 3600, NOW, 10.0))
    _assert_walks_the_finished_index(text, sqlite=table.sqlite)


def test_the_monitor_aggregate_reads_a_time_range_of_the_index(table: Table) -> None:
    for state in ("completed", "discarded", "cancelled"):
        text = table.plans(
            lambda c, s=state: table.app.driver.job_finished_aggregate(c, s, NOW - 10, NOW, 10.0, (1.0,))
        )
        _assert_walks_the_finished_index(text, sqlite=table.sqlite)


def test_the_failed_jobs_list_reads_discarded_jobs_through_the_index(table: Table) -> None:
    text = table.plans(lambda c: table.app.driver.job_discarded(c))
    _assert_walks_the_finished_index(text, sqlite=table.sqlite)


def test_queue_stats_count_the_last_hours_finished_jobs_through_the_index(table: Table) -> None:
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if "finished_at >=" in statement:
            sent.append((statement, parameters))

    event.listen(table.app.driver.engine, "before_cursor_execute", record)
    try:
        table.app.driver.queue_stats(NOW)
    finally:
        event.remove(table.app.driver.engine, "before_cursor_execute", record)
    assert len(sent) == 2  # completed and discarded
    text = table.plans(lambda c: [c.exec_driver_sql(sql, params).all() for sql, params in sent])
    _assert_walks_the_finished_index(text, sqlite=table.sqlite)


def test_the_recount_of_finished_states_uses_the_index_on_sqlite(table: Table) -> None:
    if not table.sqlite:
        pytest.skip("PostgreSQL may rightly scan the table to count most of it")
    text = table.plans(lambda c: table.app.driver.job_finished_counts(c))
    _assert_walks_the_finished_index(text, sqlite=True)
