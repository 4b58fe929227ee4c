"""``conveyor schedule``: the schedule catalog (list, set, run, trigger, history) and ``conveyor scheduler``."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from conveyor.cli.common import JsonOption, console, err_console, get_app, handle_errors, print_json, setup_logging
from conveyor.engine import clock
from conveyor.scheduler.catalog import RunRecord, ScheduleView, TickReport
from conveyor.scheduler.cron import get_zone

cli = typer.Typer(help="Schedules: list, set, run one tick, trigger, history.", no_args_is_help=True)

STATUS_STYLE = {
    "queued": "cyan",
    "running": "yellow",
    "completed": "green",
    "error": "red",
    "skipped": "magenta",
    "unsupported": "dim",
    "orphaned": "dim",
    "unknown": "dim",
}


def _fmt_local(ts: float | None, timezone: str) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, get_zone(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _fmt_utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _status(text: str) -> Text:
    return Text(text, style=STATUS_STYLE.get(text.split(" ")[0], ""))


def _mark(overridden: frozenset[str], field: str) -> str:
    return " (set)" if field in overridden else ""


def _parse_param(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
    try:
        value = json.loads(raw)  # numbers, true/false, null, lists and objects as JSON
    except json.JSONDecodeError:
        value = raw  # anything else is a string
    return key.strip(), value


def _parse_now(value: str) -> float:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time, e.g. 2025-03-30T02:30:00+02:00 (naive times are UTC)",
            param_hint="--now",
        ) from None
    return clock.from_datetime(dt)


def _run_json(r: RunRecord) -> dict[str, Any]:
    """A run for ``--json`` (the schedule's key is the document's, not repeated per run)."""
    d = r.as_dict()
    del d["key"]
    return d


def _view_json(v: ScheduleView) -> dict[str, Any]:
    return {
        "key": v.key,
        "task": v.task,
        "description": v.description,
        "cron": v.cron,
        "timezone": v.timezone,
        "params": v.params,
        "queue": v.queue,
        "enabled": v.enabled,
        "overridden": sorted(v.overridden),
        "status": v.status,
        "next_at": v.next_at,
        "last_run": None if v.last_run is None else _run_json(v.last_run),
    }


@cli.command("list")
@handle_errors
def list_(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Every schedule: cron, timezone, enabled, next run (local and UTC), last run, its status and duration.

    Values set by an operator (overriding the code) are marked "(set)"."""
    views = get_app(ctx).schedules.views()
    if json_:
        print_json({"schedules": [_view_json(v) for v in views]})
        return
    t = Table(title="schedules")
    for col in (
        "key",
        "cron",
        "timezone",
        "enabled",
        "next run (local)",
        "next run (UTC)",
        "last run",
        "status",
        "duration",
    ):
        t.add_column(col)
    for v in views:
        last = v.last_run
        status = v.status
        if last and status == "skipped" and last.reason:
            status = f"skipped ({last.reason})"
        t.add_row(
            v.key,
            v.cron + _mark(v.overridden, "cron"),
            v.timezone + _mark(v.overridden, "timezone"),
            ("yes" if v.enabled else "no") + _mark(v.overridden, "enabled"),
            _fmt_local(v.next_at, v.timezone),
            _fmt_utc(v.next_at),
            _fmt_utc(last.slot_at if last and last.slot_at is not None else last.created_at if last else None),
            _status(status),
            _fmt_duration(last.duration if last else None),
        )
    console.print(t)


@cli.command("set")
@handle_errors
def set_(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Schedule key, e.g. orders.fetch_new.")],
    cron: Annotated[str | None, typer.Option(help="Cron expression, e.g. '*/10 * * * *'.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. Europe/Prague.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE (VALUE as JSON, else a string); repeatable.")
    ] = None,
    queue: Annotated[str | None, typer.Option(help="Queue for this schedule's jobs.")] = None,
    enable: Annotated[bool | None, typer.Option("--enable/--disable", help="Turn the schedule on or off.")] = None,
    reset: Annotated[bool, typer.Option(help="Drop every override first (back to the code's defaults).")] = False,
) -> None:
    """Override a schedule's cron, timezone, params, queue or enabled flag. Invalid input changes nothing."""
    params = dict(_parse_param(p) for p in param or [])
    v = get_app(ctx).schedules.set(
        key, cron=cron, timezone=timezone, params=params or None, queue=queue, enabled=enable, reset=reset
    )
    console.print(
        f"{v.key}: cron {v.cron!r} in {v.timezone}, {'enabled' if v.enabled else 'disabled'}, "
        f"params {json.dumps(v.params)}, next run {_fmt_local(v.next_at, v.timezone)} ({_fmt_utc(v.next_at)})",
        highlight=False,
    )


def _print_report(report: TickReport) -> None:
    verb = "would fire" if report.dry_run else "fired"
    for f in report.fired:
        slot = _fmt_utc(f.slot_at)
        if f.status == "queued":
            job = f" job {f.job_id}" if f.job_id and not report.dry_run else ""
            console.print(f"{f.key}: {verb} slot {slot} ({f.kind}){job}", highlight=False)
        else:
            console.print(f"{f.key}: slot {slot} skipped ({f.reason})", highlight=False)
    for _key, message in report.errors:
        err_console.print(f"[red]error:[/red] {message}", highlight=False)
    console.print(
        f"{len(report.queued)} {verb}, {len(report.skipped)} skipped, {len(report.errors)} error(s); "
        f"{report.evaluated} schedule(s) evaluated as of {_fmt_utc(report.now)}",
        highlight=False,
    )


@cli.command("run")
@handle_errors
def run(
    ctx: typer.Context,
    now: Annotated[
        str | None, typer.Option(help="Evaluate as of this ISO 8601 instant (backfills, tests, dry runs).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would fire; write nothing.")] = False,
) -> None:
    """One tick: claim and enqueue every due slot, then exit (run it from cron every minute).

    Exit status 1 when a schedule could not enqueue its job (the others still ran)."""
    at = _parse_now(now) if now is not None else None
    report = get_app(ctx).schedules.tick(at, dry_run=dry_run)
    _print_report(report)
    if report.errors:
        raise typer.Exit(1)


@cli.command("trigger")
@handle_errors
def trigger(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Schedule key.")],
    force: Annotated[bool, typer.Option(help="Run even if overlap=False and the previous job still runs.")] = False,
) -> None:
    """Run a schedule now, outside its cron."""
    r = get_app(ctx).schedules.trigger(key, force=force)
    console.print(f"{key}: job {r.job_id} queued", highlight=False)


@cli.command("history")
@handle_errors
def history(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Schedule key.")],
    limit: Annotated[int, typer.Option(min=1, help="How many runs, newest first.")] = 20,
    json_: JsonOption = False,
) -> None:
    """Past runs of a schedule: slot, kind, status, job, duration, error."""
    app = get_app(ctx)
    runs: list[RunRecord] = app.schedules.history(key, limit)
    if json_:
        print_json({"key": key, "runs": [_run_json(r) for r in runs]})
        return
    if not runs:
        console.print(f"{key}: no runs yet")
        return
    entry = app.schedules.entries.get(key)
    tz = entry.timezone if entry else "UTC"
    t = Table(title=f"runs of {key}")
    for col in ("run", "slot (local)", "slot (UTC)", "kind", "status", "job", "duration", "reason"):
        t.add_column(col)
    for r in runs:
        t.add_row(
            str(r.id),
            _fmt_local(r.slot_at, tz),
            _fmt_utc(r.slot_at if r.slot_at is not None else r.created_at),
            r.kind,
            _status(r.status),
            str(r.job_id) if r.job_id else "-",
            _fmt_duration(r.duration),
            Text((r.reason or "")[:80]),
        )
    console.print(t)


@handle_errors
def scheduler(
    ctx: typer.Context,
    poll: Annotated[
        float, typer.Option(min=0.05, help="Seconds between checks for due slots and catalog changes.")
    ] = 1.0,
    max_time: Annotated[float, typer.Option(min=0, help="Stop after this many seconds (0: never).")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the scheduler: sleep until the next slot is due, claim it, enqueue its job (SIGTERM/Ctrl-C stop)."""
    from conveyor.scheduler.loop import run_scheduler

    setup_logging(verbose)
    app = get_app(ctx)
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    err_console.print(f"scheduler started: {len(app.schedules.entries)} schedule(s) declared", highlight=False)
    run_scheduler(app.schedules, stop, poll=poll, max_time=max_time)
