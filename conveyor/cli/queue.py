"""``conveyor queue``: stats, monitoring, pause/resume, clear."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from conveyor.cli.common import (
    JsonOption,
    console,
    err_console,
    fmt_age,
    get_app,
    handle_errors,
    parse_queues,
    print_json,
)
from conveyor.engine.states import JobState
from conveyor.store.base import QueueStats

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


def stats_json(q: QueueStats) -> dict[str, object]:
    return {
        "queue": q.queue,
        "counts": {s: q.counts.get(s, 0) for s in STATES},
        "waiting": q.waiting,
        "paused": q.paused,
        "oldest_waiting_age": q.oldest_waiting_age,
        "processed_last_minute": q.processed_last_minute,
        "processed_last_hour": q.processed_last_hour,
        "failed_last_minute": q.failed_last_minute,
        "failed_last_hour": q.failed_last_hour,
        "global_limit": q.global_limit,
    }


@cli.command("stats")
@handle_errors
def stats(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Per queue and state: counts, oldest waiting age, jobs processed (completed or failed) in the last
    minute and hour."""
    rows = get_app(ctx).queue_stats()
    if json_:
        print_json({"queues": [stats_json(q) for q in rows]})
        return
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
    by_name = {q.queue: q for q in get_app(ctx).queue_stats()}
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
    """Workers stop taking jobs from the queue (running ones finish). Refuses a queue nobody knows."""
    get_app(ctx).pause_queue(queue)
    console.print(f"queue {queue} paused")


@cli.command("resume")
@handle_errors
def resume(ctx: typer.Context, queue: str) -> None:
    """Workers take jobs from the queue again (idle ones are woken at once)."""
    get_app(ctx).resume_queue(queue)
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
    console.print(f"{get_app(ctx).clear_queue(queue)} job(s) deleted from {queue}")
