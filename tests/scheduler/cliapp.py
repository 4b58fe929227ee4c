"""The application the CLI tests load with ``--app tests.scheduler.cliapp:app`` (database from the env)."""

from __future__ import annotations

from conveyor import Conveyor

app = Conveyor()  # CONVEYOR_DATABASE_URL


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
