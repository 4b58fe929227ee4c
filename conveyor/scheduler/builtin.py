"""Built-in schedules every catalog has. Their keys start with ``conveyor.``.

* ``conveyor.prune`` – daily at 03:15 UTC: delete completed jobs older than
  ``completed_retention_hours`` and discarded/cancelled jobs older than a week (like ``conveyor failed prune``).

Rescuing jobs whose lease expired needs no schedule: every worker does it continuously.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.scheduler.cron import daily_at

if TYPE_CHECKING:
    from conveyor.scheduler.catalog import Catalog

PRUNE_TASK = "conveyor.prune"
PRUNE_KEY = "conveyor.prune"


def register_builtins(catalog: Catalog) -> None:
    app = catalog.app

    if PRUNE_TASK not in app.tasks:

        def prune(failed_hours: float = 168.0, completed_hours: float | None = None) -> dict[str, int]:
            """Delete finished jobs past their retention; returns how many of each kind."""
            keep = app.settings.completed_retention_hours if completed_hours is None else completed_hours
            failed = app.prune_failed(failed_hours * 3600)
            done = app.prune_completed(keep * 3600)
            return {"failed": failed, "completed": done}

        app.task(name=PRUNE_TASK, store_result=True)(prune)

    task: Any = app.tasks[PRUNE_TASK]
    catalog.add(
        PRUNE_KEY,
        task=task,
        cron=daily_at("03:15"),
        timezone="UTC",
        overlap=False,
        description="Delete completed jobs past their retention and failed jobs older than a week",
    )
