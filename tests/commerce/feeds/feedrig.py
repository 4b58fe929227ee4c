"""A feed import rig for tests: an application with the feeds installed on SQLite or PostgreSQL, a supplier,
the feed simulator over real HTTP, and helpers to run the workers and read the outcome."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from conveyor import Conveyor
from conveyor.commerce.feeds import pipelines
from conveyor.commerce.feeds.simulator import SimulatorConfig
from conveyor.commerce.feeds.simulator.server import serve_in_thread
from conveyor.commerce.store import feeds as feed_store
from conveyor.commerce.store.schema import supplier_items

CSV_MAPPING = {
    "sku": "kód",
    "ean": "ean",
    "name": "název",
    "stock_quantity": "skladem",
    "delivery_days": "dodací_lhůta",
    "purchase_price": "nákupní_cena",
}
HEUREKA_MAPPING = {
    "sku": "ITEM_ID",
    "ean": "EAN",
    "name": "PRODUCTNAME",
    "stock_quantity": "STOCK_QUANTITY",
    "delivery_days": "DELIVERY_DATE",
    "purchase_price": "PRICE",
}


@dataclass
class FeedRig:
    app: Conveyor
    data_dir: Path
    base_url: str

    def url(self, name: str = "stock.csv", supplier: str = "velkoobchod", **query: str) -> str:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{self.base_url}/feeds/{supplier}/{name}" + (f"?{qs}" if qs else "")

    def add_feed(self, source: str, mappings: dict[str, Any] | None = None, name: str = "stock", **options: Any) -> int:
        _, task = pipelines.add_feed(
            self.app, "velkoobchod", name, source=source, mappings=mappings or CSV_MAPPING, schedule=None, **options
        )
        return task.id

    def work(self) -> None:
        """Run every due job of the feed queues in this process until none is left."""
        self.app.work(["import", "integrations"], processes=0, stop_when_empty=True, sleep=0.02)

    def run(self, feed: str = "stock", **options: Any) -> pipelines.RunView:
        """Request an import, run the workers, return the finished run."""
        [execution_id] = pipelines.request_import(self.app, feed, **options)
        self.work()
        return pipelines.get_run(self.app, execution_id)

    def items(self) -> dict[str, feed_store.SupplierItem]:
        with self.app.read_transaction() as conn:
            found = feed_store.list_supplier_items(conn, limit=1_000_000)
        return {i.supplier_code: i for i in found}

    def count(self) -> int:
        with self.app.read_transaction() as conn:
            return int(conn.execute(select(func.count()).select_from(supplier_items)).scalar_one())

    def errors(self, execution_id: int) -> list[Any]:
        return pipelines.row_errors(self.app, execution_id, limit=10_000)


@contextmanager
def feed_rig(url: str, data_dir: Path, config: SimulatorConfig | None = None, **install: Any) -> Iterator[FeedRig]:
    app = Conveyor(url)
    pipelines.install(
        app, data_dir=data_dir, schedules=False, **{"chunk_size": 100, "local_roots": [data_dir.parent], **install}
    )
    app.migrate()
    pipelines.add_supplier(app, "velkoobchod", "Velkoobchod Žluťoučký s.r.o.")
    try:
        with serve_in_thread(config or SimulatorConfig(items=250, seed=7)) as base_url:
            yield FeedRig(app, data_dir, base_url)
    finally:
        app.close()
