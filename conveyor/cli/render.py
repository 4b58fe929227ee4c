"""Rich renderings of jobs, shared by ``jobs show`` and ``failed show``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from conveyor.cli.common import fmt_time
from conveyor.engine.job import JobRecord
from conveyor.engine.redact import redact


def job_detail(job: JobRecord, redact_keys: Sequence[str] = ()) -> Group:
    """Everything about a job; argument values under secret-looking keys are shown as "[redacted]"."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("id", str(job.id))
    t.add_row("task", job.task)
    t.add_row("queue", f"{job.queue} (priority {job.priority})")
    t.add_row("state", job.state.value)
    t.add_row("attempts", f"{job.attempt} of {job.max_attempts}")
    t.add_row("args", Text(json.dumps(redact(job.args, redact_keys))))
    t.add_row("kwargs", Text(json.dumps(redact(job.kwargs, redact_keys))))
    t.add_row("created", fmt_time(job.created_at))
    t.add_row("scheduled", fmt_time(job.scheduled_at))
    t.add_row("last attempt", fmt_time(job.attempted_at))
    t.add_row("finished", fmt_time(job.finished_at))
    if job.attempted_at and job.finished_at:
        t.add_row("ran for", f"{job.finished_at - job.attempted_at:.3f}s")
    if job.worker_id:
        t.add_row("worker", job.worker_id)
    if job.timeout:
        t.add_row("timeout", f"{job.timeout:g}s")
    if job.progress:
        p = job.progress
        total = p.get("total")
        line = f"{p.get('done')} of {total}" if total else f"{p.get('done')}"
        if total and job.attempted_at and p.get("done"):
            elapsed = (p.get("at") or job.attempted_at) - job.attempted_at
            if elapsed > 0 and p["done"] < total:
                eta = elapsed / p["done"] * (total - p["done"])
                line += f", ETA {eta:.0f}s"
        t.add_row("progress", f"{line} {p.get('message') or ''}".strip())
    if job.lock_key:
        t.add_row("lock key", job.lock_key)
    if job.unique_key:
        t.add_row("unique key", job.unique_key)
    if job.batch_id:
        t.add_row("batch", str(job.batch_id))
    if job.cancel_requested:
        t.add_row("cancel", "requested")
    if job.crashes:
        t.add_row("crashes", f"its worker process died {job.crashes} time(s) while running it")
    if job.result is not None:
        t.add_row("result", Text(json.dumps(redact(job.result, redact_keys))))
    parts: list[Table | Panel] = [t]
    for e in job.errors:
        body = Text(e.error + ("\n\n" + e.traceback if e.traceback else ""))
        title = f"attempt {e.attempt} failed at {fmt_time(e.at)}"
        parts.append(Panel(body, title=title, border_style="red", expand=False))
    return Group(*parts)


def jobs_table(jobs: list[JobRecord], title: str) -> Table:
    """One row per job. At 80 columns only the error wraps; piped (wide console) every row is one line, so
    ``failed list | grep 'unknown task'`` finds it. The error's first line only: ``failed show`` has the rest."""
    t = Table(title=title)
    for col in ("id", "task", "queue", "state", "tries", "finished (UTC)"):
        t.add_column(col, no_wrap=True)
    t.add_column("last error", overflow="fold", ratio=1)
    for j in jobs:
        err = j.last_error.error.strip().splitlines()[0] if j.last_error and j.last_error.error.strip() else ""
        finished = fmt_time(j.finished_at)
        t.add_row(
            str(j.id),
            j.task,
            j.queue,
            j.state.value,
            f"{j.attempt}/{j.max_attempts}",
            finished[5:16] if j.finished_at is not None else finished,
            Text(err),
        )
    return t
