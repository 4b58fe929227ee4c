"""The warehouse and feed pages and API over the real web app: an application with the warehouse and the
supplier feeds installed on SQLite (a file per test) or PostgreSQL (a database per test), its web client,
and helpers that post the way the dashboard's script does (from the page's origin, with the CSRF token)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from conveyor import Conveyor
from conveyor.commerce import warehouse
from conveyor.commerce.feeds import pipelines
from conveyor.commerce.web import extend_feeds, extend_warehouse
from conveyor.web import create_app as create_web_app
from conveyor.web.monitor import Monitor
from tests.conftest import pg_database

ORIGIN = "http://testserver"

#: Tables the warehouse and feed actions write (to show that a refused request wrote nothing).
TABLES = (
    "commerce_catalog_items",
    "commerce_warehouses",
    "commerce_documents",
    "commerce_document_lines",
    "commerce_document_counters",
    "commerce_stock_levels",
    "commerce_stock_ledger",
    "commerce_stock_changes",
    "commerce_suppliers",
    "commerce_feeds",
    "commerce_feed_tasks",
    "commerce_feed_runs",
    "commerce_supplier_items",
    "commerce_item_links",
    "commerce_pipeline_executions",
    "conveyor_jobs",
)


@dataclass
class Web:
    """An application with the warehouse and feeds installed, and a client of its web app."""

    app: Conveyor
    client: TestClient
    data_dir: Path

    def page(self, path: str, **params: Any) -> httpx.Response:
        """A page as a browser asks for it (which also gives this client the CSRF cookie)."""
        return self.client.get(path, params=params or None, headers={"Accept": "text/html"})

    def post(self, path: str, body: Any = None, *, token: bool = True) -> httpx.Response:
        """A POST as the pages' script sends it: from the page's origin, with (or without) its CSRF token."""
        if "conveyor_csrf" not in self.client.cookies:
            self.page("/catalog")
        headers = {"Origin": ORIGIN, "Accept": "application/json"}
        if token:
            headers["X-CSRF-Token"] = self.client.cookies.get("conveyor_csrf") or ""
        return self.client.post(path, json=body, headers=headers)

    def counts(self) -> dict[str, int]:
        with self.app.read_transaction() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}

    def work(self) -> None:
        """Run every due job of the feed queues in this process until none is left."""
        self.app.work(["import", "integrations", "default"], processes=0, stop_when_empty=True, sleep=0.02)


def build(url: str, data_dir: Path) -> Web:
    app = Conveyor(url)
    warehouse.install(app, stock_changed_delay=0)
    pipelines.install(app, data_dir=data_dir, schedules=False, chunk_size=100)
    app.add_web_extension(extend_warehouse)
    app.add_web_extension(extend_feeds)
    app.migrate()
    client = TestClient(create_web_app(app, monitor=Monitor(app, interval=0.0, lag=0.0), start_monitor=False))
    return Web(app, client, data_dir)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    """The app on a fresh SQLite file."""
    w = build(f"sqlite:///{tmp_path / 'web.db'}", tmp_path / "data")
    try:
        yield w
    finally:
        w.client.close()
        w.app.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_web(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Web]:
    """The app on SQLite, then on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        w = build(f"sqlite:///{tmp_path / 'web.db'}", tmp_path / "data")
        try:
            yield w
        finally:
            w.client.close()
            w.app.close()
        return
    with pg_database() as url:
        w = build(url, tmp_path / "data")
        try:
            yield w
        finally:
            w.client.close()
            w.app.close()
