"""``conveyor work``: run a worker."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from conveyor.cli.common import check_log_level, get_app, handle_errors, parse_queues, setup_logging
from conveyor.worker import WorkerOptions, run_worker


def check_log_level_opt(value: str | None) -> str | None:
    return None if value is None else check_log_level(value)


@handle_errors
def work(
    ctx: typer.Context,
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", "-q", help="Queues, first listed served first (repeat it, or separate by commas)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs at once per process.")] = 4,
    processes: Annotated[int, typer.Option(min=0, help="Child processes (0: run in this process).")] = 1,
    sleep: Annotated[float, typer.Option(min=0.001, help="Seconds between polls when idle.")] = 1.0,
    tries: Annotated[
        int | None, typer.Option(hidden=True, help="Refused: set CONVEYOR_MAX_ATTEMPTS (fixed at enqueue).")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds a job may run (tasks may set less).")] = 3600,
    max_time: Annotated[float, typer.Option(min=0, help="Stop after this many seconds (0: never).")] = 0,
    max_jobs: Annotated[int, typer.Option(min=0, help="Stop after this many jobs (0: never).")] = 0,
    memory_limit: Annotated[int, typer.Option(min=0, help="Stop when a process exceeds this many MiB.")] = 0,
    stop_when_empty: Annotated[bool, typer.Option(help="Stop when nothing is available or running.")] = False,
    once: Annotated[bool, typer.Option(help="Run a single job, then stop.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Same as --log-level debug.")] = False,
    log_level: Annotated[
        str | None, typer.Option(callback=check_log_level_opt, help="debug, info (default), warning or error.")
    ] = None,
) -> None:
    """Process jobs until stopped (SIGTERM/Ctrl-C stop gracefully; a second one stops at once).
    Refuses to start when the application registers no tasks (it would fail every job)."""
    setup_logging(verbose, log_level)
    opts = WorkerOptions(
        queues=parse_queues(",".join(queue or ["default"])),
        concurrency=concurrency,
        processes=processes,
        sleep=sleep,
        tries=tries,
        timeout=timeout,
        max_time=max_time,
        max_jobs=max_jobs,
        memory_limit=memory_limit,
        stop_when_empty=stop_when_empty,
        once=once,
    )
    app = get_app(ctx)
    # An unmigrated database is the first thing to fix, so say that first; an unreachable one is not an
    # error here: the worker waits for it with one line per retry (a worker often starts before its database).
    with contextlib.suppress(OperationalError, DBAPIError):
        app.check_schema()
    app.require_tasks()
    raise typer.Exit(run_worker(app, opts))
