"""The schedules the scheduler tests declare: the issue's example catalog.

The CLI tests load ``--app tests.scheduler.cliapp:app`` (database from ``CONVEYOR_DATABASE_URL``); the
catalog tests call :func:`declare` on their own app.
"""

from __future__ import annotations

from conveyor import Conveyor, Task


def declare(app: Conveyor) -> Task[..., None]:
    """Declare the example catalog on ``app``; returns the task of the supported entry."""

    @app.task(queue="snapshots")
    def fetch_new_orders(fallback_lookback_hours: int, chunk: int = 100) -> None:
        """Import orders changed since the last run."""

    app.schedule(
        "orders.fetch_new",
        task=fetch_new_orders,
        cron="*/5 * * * *",
        timezone="Europe/Prague",
        params={"fallback_lookback_hours": 24, "chunk": 250},
        overlap=False,
        description="Incremental order import",
    )
    app.schedule("orders.refresh_statuses", cron="*/15 * * * *")
    return fetch_new_orders


app = Conveyor()  # CONVEYOR_DATABASE_URL
declare(app)
