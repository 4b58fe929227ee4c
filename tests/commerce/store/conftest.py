"""Fixtures for the commerce store: a migrated database per test on SQLite and PostgreSQL, a shop, a cipher,
and a log of the writes a test's imports send to the database.

SQLite gets a fresh file per test. PostgreSQL gets one database per test session (creating one costs about
a second), migrated once, with every commerce table emptied before each test; tests that migrate or
downgrade use the ``db_url`` fixture instead and get a database of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from conveyor import Conveyor
from conveyor.commerce.store import CredentialCipher, Shop, create_shop, generate_key, upgrade
from conveyor.commerce.store.schema import metadata
from tests.conftest import pg_database


@pytest.fixture(scope="session")
def commerce_pg_url() -> Iterator[str]:
    with pg_database() as url:
        app = Conveyor(url)
        upgrade(app.driver.engine)
        app.close()
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with the commerce tables, empty: once per database."""
    if request.param == "sqlite":
        app = Conveyor(f"sqlite:///{tmp_path / 'commerce.db'}")
        upgrade(app.driver.engine)
    else:
        app = Conveyor(request.getfixturevalue("commerce_pg_url"))
        names = ", ".join(t.name for t in metadata.sorted_tables)
        with app.driver.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    yield app.driver.engine
    app.close()


@pytest.fixture
def cipher() -> CredentialCipher:
    return CredentialCipher(generate_key())


@pytest.fixture
def shop(engine: Engine, cipher: CredentialCipher) -> Shop:
    with engine.begin() as conn:
        return create_shop(
            conn,
            cipher,
            platform="shoptet",
            name="acme",
            base_url="https://acme.myshoptet.com",
            credentials={"token": "secret-token-123"},
            timezone="Europe/Prague",
        )


class Writes:
    """The INSERT/UPDATE/DELETE statements sent to the database, as (verb, table, rows)."""

    _TABLE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)

    def __init__(self) -> None:
        self.log: list[tuple[str, str, int]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        match = self._TABLE.match(statement)
        if match:
            verb = match.group(1).split()[0].upper()
            self.log.append((verb, match.group(2), len(parameters) if many else 1))

    def rows(self, verb: str, table: str) -> int:
        """Rows written by ``verb`` statements on ``table`` (executemany counts each parameter set)."""
        return sum(n for v, t, n in self.log if v == verb and t == table)

    def tables(self) -> set[tuple[str, str]]:
        return {(v, t) for v, t, _ in self.log}

    def clear(self) -> None:
        self.log.clear()


@pytest.fixture
def writes(engine: Engine) -> Iterator[Writes]:
    w = Writes()
    event.listen(engine, "before_cursor_execute", w)
    yield w
    event.remove(engine, "before_cursor_execute", w)
