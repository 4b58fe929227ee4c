"""``conveyor batches``: list, inspect, retry the failed jobs of, or cancel batches."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from conveyor.cli.common import JsonOption, console, fmt_time, get_app, handle_errors, print_json
from conveyor.coordination import batches as b

cli = typer.Typer(help="Batches of jobs: progress, counts, retry, cancel.", no_args_is_help=True)


def batch_json(r: b.BatchRecord) -> dict[str, object]:
    return {
        "id": r.id,
        "name": r.name,
        "state": r.state,
        "total": r.total,
        "completed": r.completed,
        "failed": r.failed,
        "cancelled": r.cancelled,
        "pending": r.pending,
        "progress": r.progress,
        "created_at": r.created_at,
        "finished_at": r.finished_at,
        "on_complete": r.on_complete,
        "on_failure": r.on_failure,
        "callback_job_id": r.callback_job_id,
    }


def _bar(progress: float, width: int = 20) -> str:
    filled = round(progress * width)
    return "█" * filled + "·" * (width - filled)


@cli.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    before: Annotated[int | None, typer.Option(help="Show batches with an id below this (next page).")] = None,
    json_: JsonOption = False,
) -> None:
    """Batches, newest first."""
    rows = b.list_batches(get_app(ctx), limit=limit, before_id=before)
    if json_:
        print_json(
            {"batches": [batch_json(r) for r in rows], "next_before": rows[-1].id if len(rows) == limit else None}
        )
        return
    if not rows:
        console.print("no batches yet: app.batch(...) or app.dispatch_chunks(...) creates one")
        return
    t = Table(title="batches")
    t.add_column("id", justify="right")
    t.add_column("name", no_wrap=True)
    t.add_column("state")
    t.add_column("progress", no_wrap=True)
    t.add_column("failed", justify="right")
    t.add_column("created", no_wrap=True)
    for r in rows:
        done = r.total - r.pending
        t.add_row(
            str(r.id), r.name, r.state, f"{_bar(r.progress, 10)} {done}/{r.total}", str(r.failed),
            fmt_time(r.created_at)[5:16],
        )  # fmt: skip
    console.print(t)


@cli.command("show")
@handle_errors
def show(ctx: typer.Context, batch_id: int, json_: JsonOption = False) -> None:
    """One batch: counts, progress, callbacks."""
    r = b.get_batch(get_app(ctx), batch_id)
    if json_:
        print_json(batch_json(r))
        return
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("id", str(r.id))
    t.add_row("name", r.name)
    t.add_row("state", r.state)
    t.add_row("progress", f"{_bar(r.progress, 30)} {r.progress:.0%} ({r.total - r.pending} of {r.total})")
    t.add_row("completed / failed / cancelled", f"{r.completed} / {r.failed} / {r.cancelled}")
    t.add_row("created", fmt_time(r.created_at))
    t.add_row("finished", fmt_time(r.finished_at))
    t.add_row("on complete", r.on_complete or "-")
    t.add_row("on failure", r.on_failure or "-")
    if r.callback_job_id:
        t.add_row("callback job", str(r.callback_job_id))
    console.print(t)


@cli.command("retry-failed")
@handle_errors
def retry_failed(ctx: typer.Context, batch_id: int) -> None:
    """Put the batch's failed jobs back in their queues."""
    n = b.retry_failed(get_app(ctx), batch_id)
    console.print(
        f"{n} failed job(s) of batch {batch_id} queued again" if n else f"batch {batch_id} has no failed jobs"
    )


@cli.command("cancel")
@handle_errors
def cancel(ctx: typer.Context, batch_id: int) -> None:
    """Cancel the batch's waiting jobs and ask its running ones to stop."""
    cancelled, asked = b.cancel_batch(get_app(ctx), batch_id)
    console.print(f"batch {batch_id}: {cancelled} waiting job(s) cancelled, {asked} running job(s) asked to stop")
