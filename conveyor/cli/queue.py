"""``conveyor queue``: stats, monitoring, pause/resume, clear."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from conveyor.cli.common import console, err_console, fmt_age, get_app, handle_errors, parse_queues
from conveyor.engine import clock
from conveyor.engine.states import JobState

cli = typer.Typer(help="Queues: stats, monitor, pause, resume, clear.", no_args_is_help=True)
STATES = [s.value for s in JobState]
SHORT = {
    "scheduled": "sched",
    "available": "avail",
    "executing": "exec",
    "retryable": "retry",
    "completed": "done",
    "discarded": "failed",
    "cancelled": "cancel",
}


@cli.command("stats")
@handle_errors
def stats(ctx: typer.Context) -> None:
    """Per queue and state: counts, oldest waiting age, throughput in the last minute and hour."""
    rows = get_app(ctx).driver.queue_stats(clock.now())
    if not rows:
        console.print("no queues yet: enqueue a job to create one")
        return
    # Columns only for states that occur (plus the two always worth seeing), so it fits a terminal.
    shown = [s for s in STATES if s in ("available", "executing") or any(q.counts.get(s) for q in rows)]
    t = Table(title="queues")
    t.add_column("queue", no_wrap=True)
    for s in shown:
        t.add_column(SHORT[s], justify="right")
    for col in ("oldest", "/min", "/hour", "paused"):
        t.add_column(col, justify="right")
    for q in rows:
        t.add_row(
            q.queue,
            *[str(q.counts.get(s, 0)) for s in shown],
            fmt_age(q.oldest_waiting_age),
            str(q.processed_last_minute),
            str(q.processed_last_hour),
            "yes" if q.paused else "",
        )
    console.print(t)


@cli.command("monitor")
@handle_errors
def monitor(
    ctx: typer.Context,
    queues: Annotated[str, typer.Argument(help="Queues to check, e.g. default,snapshots.")],
    max_: Annotated[int, typer.Option("--max", min=0, help="Most waiting jobs allowed per queue.")] = 1000,
) -> None:
    """Exit non-zero, naming the queue, when a queue has more than --max jobs waiting."""
    names = parse_queues(queues, "QUEUES")
    by_name = {q.queue: q for q in get_app(ctx).driver.queue_stats(clock.now())}
    over = []
    for name in names:
        waiting = by_name[name].waiting if name in by_name else 0
        status = "OVER" if waiting > max_ else "ok"
        console.print(f"{name}: {waiting} waiting (max {max_}) {status}")
        if waiting > max_:
            over.append(f"{name} ({waiting} > {max_})")
    if over:
        err_console.print(f"queue over its limit: {', '.join(over)}")
        raise typer.Exit(1)


@cli.command("pause")
@handle_errors
def pause(ctx: typer.Context, queue: str) -> None:
    """Workers stop taking jobs from the queue (running ones finish)."""
    get_app(ctx).driver.set_paused(queue, True, clock.now())
    console.print(f"queue {queue} paused")


@cli.command("resume")
@handle_errors
def resume(ctx: typer.Context, queue: str) -> None:
    """Workers take jobs from the queue again."""
    get_app(ctx).driver.set_paused(queue, False, clock.now())
    console.print(f"queue {queue} resumed")


@cli.command("clear")
@handle_errors
def clear(
    ctx: typer.Context,
    queue: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete every waiting job of the queue (running jobs are left alone)."""
    if not yes:
        typer.confirm(f"delete every waiting job of queue {queue!r}?", abort=True)
    console.print(f"{get_app(ctx).driver.clear_queue(queue)} job(s) deleted from {queue}")
