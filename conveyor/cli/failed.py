"""``conveyor failed``: the failed-job store (discarded jobs): list, inspect, retry, forget, prune."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli.common import console, get_app, handle_errors
from conveyor.cli.render import job_detail, jobs_table
from conveyor.engine import clock
from conveyor.engine.states import JobState
from conveyor.errors import InvalidStateError

cli = typer.Typer(help="Failed jobs: inspect, retry, forget.", no_args_is_help=True)
DISCARDED = [JobState.DISCARDED.value]


@cli.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    queue: Annotated[str | None, typer.Option("--queue", "-q")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    before: Annotated[int | None, typer.Option(help="Show jobs with an id below this (next page).")] = None,
) -> None:
    """Failed jobs, newest first."""
    jobs = get_app(ctx).driver.list_jobs(DISCARDED, queue=queue, limit=limit, before_id=before)
    if not jobs:
        console.print("no failed jobs")
        return
    console.print(jobs_table(jobs, "failed jobs"))
    if len(jobs) == limit:
        console.print(f"more: conveyor failed list --before {jobs[-1].id}")


@cli.command("show")
@handle_errors
def show(ctx: typer.Context, job_id: int) -> None:
    """One failed job with every attempt's error and traceback."""
    app = get_app(ctx)
    console.print(job_detail(app.get_job(job_id), app.settings.redact_keys))


@cli.command("retry")
@handle_errors
def retry(
    ctx: typer.Context,
    job_ids: Annotated[list[int] | None, typer.Argument(help="Job ids to retry.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every failed job.")] = False,
) -> None:
    """Put failed jobs back in their queues for one more attempt."""
    app = get_app(ctx)
    if all_ == bool(job_ids):
        raise typer.BadParameter("give job ids or --all (not both)")
    if all_:
        console.print(f"{app.retry_all_failed()} job(s) queued again")
    else:
        ids = list(job_ids or [])
        app.retry(ids)
        console.print(f"{len(ids)} job(s) queued again")


@cli.command("forget")
@handle_errors
def forget(ctx: typer.Context, job_ids: Annotated[list[int], typer.Argument()]) -> None:
    """Delete failed jobs."""
    n = get_app(ctx).driver.delete_jobs(DISCARDED, ids=job_ids)
    if n < len(job_ids):
        raise InvalidStateError(f"only {n} of {len(job_ids)} job(s) were failed jobs and deleted")
    console.print(f"{n} failed job(s) deleted")


@cli.command("flush")
@handle_errors
def flush(ctx: typer.Context) -> None:
    """Delete every failed job."""
    console.print(f"{get_app(ctx).driver.delete_jobs(DISCARDED)} failed job(s) deleted")


@cli.command("prune")
@handle_errors
def prune(
    ctx: typer.Context,
    hours: Annotated[float, typer.Option(min=0, help="Delete failed jobs older than this.")] = 168,
    completed_hours: Annotated[
        float | None, typer.Option(help="Also delete completed jobs older than this (default: settings).")
    ] = None,
) -> None:
    """Delete failed jobs older than --hours, and completed jobs past their retention."""
    app = get_app(ctx)
    now = clock.now()
    failed_n = app.driver.delete_jobs([*DISCARDED, JobState.CANCELLED.value], older_than=now - hours * 3600)
    keep = app.settings.completed_retention_hours if completed_hours is None else completed_hours
    done_n = app.driver.delete_jobs([JobState.COMPLETED.value], older_than=now - keep * 3600)
    console.print(f"pruned {failed_n} failed/cancelled and {done_n} completed job(s)")
