"""``conveyor jobs``: inspect and cancel single jobs."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli.common import console, get_app, handle_errors
from conveyor.cli.render import job_detail

cli = typer.Typer(help="Inspect single jobs.", no_args_is_help=True)


@cli.command("show")
@handle_errors
def show(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """Arguments, state, attempts, every error with its traceback, timings."""
    console.print(job_detail(get_app(ctx).get_job(job_id)))


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
