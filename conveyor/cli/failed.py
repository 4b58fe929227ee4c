"""``conveyor failed``: the failed-job store (discarded jobs): list, inspect, retry, forget, prune.

Every command calls the application's admin methods, so the rules are the web's rules too: ``forget``
deletes a job that failed (discarded) or was cancelled, exactly like the dashboard's "delete"."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli.common import JsonOption, console, get_app, handle_errors, job_json, print_json
from conveyor.cli.render import job_detail, jobs_table

cli = typer.Typer(help="Failed jobs: inspect, retry, forget.", no_args_is_help=True)
QueueOpt = Annotated[str | None, typer.Option("--queue", "-q", help="Only jobs of this queue.")]
TaskOpt = Annotated[str | None, typer.Option("--task", help="Only jobs of this task.")]
ErrorOpt = Annotated[
    str | None, typer.Option("--error-class", help="Only jobs whose last error is of this class (e.g. KeyError).")
]


@cli.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    queue: QueueOpt = None,
    task: TaskOpt = None,
    error_class: ErrorOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    before: Annotated[int | None, typer.Option(help="Show jobs with an id below this (next page).")] = None,
    json_: JsonOption = False,
) -> None:
    """Failed jobs, newest first."""
    app = get_app(ctx)
    jobs = app.list_failed(queue=queue, task=task, error_class=error_class, limit=limit, before_id=before)
    more = jobs[-1].id if len(jobs) == limit else None
    if json_:
        keys = app.settings.redact_keys
        print_json({"jobs": [job_json(j, keys) for j in jobs], "next_before": more})
        return
    if not jobs:
        console.print("no failed jobs")
        return
    console.print(jobs_table(jobs, "failed jobs"))
    if more is not None:
        console.print(f"more: conveyor failed list --before {more}")


@cli.command("show")
@handle_errors
def show(ctx: typer.Context, job_id: int, json_: JsonOption = False) -> None:
    """One failed job with every attempt's error and traceback."""
    app = get_app(ctx)
    job = app.get_job(job_id)
    if json_:
        print_json(job_json(job, app.settings.redact_keys))
        return
    console.print(job_detail(job, app.settings.redact_keys))


@cli.command("retry")
@handle_errors
def retry(
    ctx: typer.Context,
    job_ids: Annotated[list[int] | None, typer.Argument(help="Job ids to retry.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every failed job (narrowed by the filters).")] = False,
    queue: QueueOpt = None,
    task: TaskOpt = None,
    error_class: ErrorOpt = None,
) -> None:
    """Put failed jobs back in their queues for one more attempt."""
    app = get_app(ctx)
    if all_ == bool(job_ids):
        raise typer.BadParameter("give job ids or --all (not both)")
    if not all_ and (queue or task or error_class):
        raise typer.BadParameter("--queue, --task and --error-class narrow --all; they do not apply to job ids")
    if all_:
        console.print(f"{app.retry_failed(queue=queue, task=task, error_class=error_class)} job(s) queued again")
    else:
        ids = list(job_ids or [])
        app.retry(ids)
        console.print(f"{len(ids)} job(s) queued again")


@cli.command("forget")
@handle_errors
def forget(ctx: typer.Context, job_ids: Annotated[list[int], typer.Argument()]) -> None:
    """Delete jobs that failed (discarded) or were cancelled. All or nothing: any other job refuses the call."""
    n = get_app(ctx).delete_jobs(job_ids)
    console.print(f"{n} failed job(s) deleted")


@cli.command("flush")
@handle_errors
def flush(ctx: typer.Context) -> None:
    """Delete every failed (discarded) and cancelled job."""
    console.print(f"{get_app(ctx).prune_failed(0)} failed job(s) deleted")


@cli.command("prune")
@handle_errors
def prune(
    ctx: typer.Context,
    hours: Annotated[float, typer.Option(min=0, help="Delete failed jobs older than this.")] = 168,
    completed_hours: Annotated[
        float | None, typer.Option(min=0, help="Also delete completed jobs older than this (default: settings).")
    ] = None,
) -> None:
    """Delete failed and cancelled jobs older than --hours, and completed jobs past their retention."""
    app = get_app(ctx)
    failed_n = app.prune_failed(hours * 3600)
    keep = app.settings.completed_retention_hours if completed_hours is None else completed_hours
    done_n = app.prune_completed(keep * 3600)
    console.print(f"pruned {failed_n} failed/cancelled and {done_n} completed job(s)")
