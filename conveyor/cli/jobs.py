"""``conveyor jobs``: inspect and cancel single jobs."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from conveyor.cli.common import JsonOption, console, get_app, handle_errors, job_json, print_json
from conveyor.cli.render import job_detail
from conveyor.engine.states import FINISHED, JobState

cli = typer.Typer(help="Inspect single jobs.", no_args_is_help=True)


@cli.command("show")
@handle_errors
def show(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="Job id.")], json_: JsonOption = False) -> None:
    """Arguments, state, attempts, every error with its traceback, timings."""
    app = get_app(ctx)
    job = app.get_job(job_id)
    if json_:
        print_json(job_json(job, app.settings.redact_keys))
        return
    console.print(job_detail(job, app.settings.redact_keys))


@cli.command("watch")
@handle_errors
def watch(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between refreshes.")] = 0.5,
) -> None:
    """Follow a job's progress live (rate and ETA) until it finishes."""
    app = get_app(ctx)
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
        TaskProgressColumn(), TimeRemainingColumn(), TextColumn("{task.fields[state]}"),
    )  # fmt: skip
    with Progress(*columns, console=console) as bar:
        task_id = bar.add_task(f"job {job_id}", total=None, unit="", state="")
        while True:
            job = app.get_job(job_id)
            p = job.progress or {}
            bar.update(
                task_id, description=f"job {job_id} {job.task}", completed=p.get("done") or 0,
                total=p.get("total"), unit=p.get("message") or "", state=job.state.value,
            )  # fmt: skip
            if job.state in FINISHED:
                break
            time.sleep(interval)
    console.print(f"job {job_id} {job.state.value}")
    if job.state != JobState.COMPLETED:
        raise typer.Exit(1)


@cli.command("cancel")
@handle_errors
def cancel(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Cancel a job: a waiting one never starts; a running one is asked to stop."""
    outcome = get_app(ctx).cancel(job_id)
    if outcome == "cancelled":
        console.print(f"job {job_id} cancelled")
    elif outcome == "requested":
        console.print(f"job {job_id} is running: asked it to stop (it is killed at its timeout otherwise)")
    else:
        console.print(f"job {job_id} already finished; nothing to cancel")
        raise typer.Exit(1)
