"""Fixtures for the warehouse: an application with the warehouse installed on a migrated database, once per
database (SQLite file per test; one PostgreSQL database per session, emptied before each test), and a few
helpers that build catalogue items, warehouses and stock through the public functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from conveyor import Conveyor
from conveyor.commerce import warehouse
from conveyor.commerce.store import catalog, documents, stock
from conveyor.commerce.store.documents import LineInput
from tests.conftest import pg_database


@pytest.fixture(scope="session")
def warehouse_pg_url() -> Iterator[str]:
    with pg_database() as url:
        setup = Conveyor(url)
        warehouse.install(setup)
        setup.migrate()
        setup.close()
        yield url


def empty_postgres(app: Conveyor) -> None:
    """Every table but the migration histories, emptied (ids restart at 1)."""
    with app.transaction() as conn:
        names = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '%version%'")
        ).scalars()
        conn.execute(text(f"TRUNCATE {', '.join(f'{n}' for n in names)} RESTART IDENTITY"))


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Conveyor]:
    """An application with the warehouse installed (no debounce delay: tests run the job at once)."""
    if request.param == "sqlite":
        a = Conveyor(f"sqlite:///{tmp_path / 'warehouse.db'}")
        warehouse.install(a, stock_changed_delay=0)
        a.migrate()
    else:
        a = Conveyor(request.getfixturevalue("warehouse_pg_url"))
        warehouse.install(a, stock_changed_delay=0)
        empty_postgres(a)
    yield a
    a.close()


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Conveyor]:
    a = Conveyor(f"sqlite:///{tmp_path / 'warehouse.db'}")
    warehouse.install(a, stock_changed_delay=0)
    a.migrate()
    yield a
    a.close()


def item(conn: Connection, sku: str, name: str | None = None, **fields: object) -> int:
    return catalog.create_item(conn, sku=sku, name=name or f"Item {sku}", **fields).id  # type: ignore[arg-type]


def receive(conn: Connection, warehouse_code: str, *lines: tuple[str, int | str]) -> documents.Document:
    """Post a receipt (PZ) of ``(sku, quantity)`` lines."""
    doc = documents.create_document(conn, "PZ", warehouse_code, [LineInput(s, q) for s, q in lines])
    return documents.post_document(conn, doc.id)


def levels(conn: Connection) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """``(sku, warehouse code) → (on_hand, reserved)`` of every stock row."""
    return {(r.sku, r.warehouse): (r.on_hand, r.reserved) for r in stock.list_stock(conn, limit=10_000)}


def table_counts(conn: Connection) -> dict[str, int]:
    """Rows in each warehouse table (to show that a refused action wrote nothing)."""
    tables = (
        "commerce_catalog_items",
        "commerce_documents",
        "commerce_document_lines",
        "commerce_document_counters",
        "commerce_stock_levels",
        "commerce_stock_ledger",
        "commerce_stock_changes",
    )
    return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables}
