"""The commerce tables' Alembic branch: independent of the engine's history, reversible, equal to schema.py."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from conveyor import Conveyor, SchemaOutdatedError
from conveyor.commerce.store import check_current, current_revisions, downgrade, head_revisions, upgrade
from conveyor.commerce.store.schema import metadata

COMMERCE_TABLES = {t.name for t in metadata.sorted_tables}


def _tables(app: Conveyor) -> set[str]:
    return set(inspect(app.driver.engine).get_table_names())


def test_upgrade_and_downgrade_leave_the_engine_tables_alone(db_url: str) -> None:
    app = Conveyor(db_url)
    app.migrate()
    engine_tables = _tables(app)
    upgrade(app.driver.engine)
    assert _tables(app) == engine_tables | COMMERCE_TABLES | {"commerce_alembic_version"}
    assert current_revisions(app.driver.engine) == head_revisions() == {"0003_warehouse_feeds"}
    app.check_schema()  # the engine's own history did not move

    downgrade(app.driver.engine, "base")
    assert _tables(app) == engine_tables | {"commerce_alembic_version"}
    assert current_revisions(app.driver.engine) == set()
    app.check_schema()
    app.close()


def test_upgrade_works_without_the_engine_tables_and_again_after_a_downgrade(db_url: str) -> None:
    app = Conveyor(db_url)
    upgrade(app.driver.engine)
    downgrade(app.driver.engine, "base")
    upgrade(app.driver.engine)
    assert _tables(app) >= COMMERCE_TABLES
    app.close()


def test_migrated_database_matches_schema_py(db_url: str) -> None:
    app = Conveyor(db_url)
    upgrade(app.driver.engine)
    with app.driver.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_name": lambda name, kind, parent: kind != "table" or name in COMMERCE_TABLES,
            },
        )
        assert compare_metadata(ctx, metadata) == []
    app.close()


def test_check_current_names_the_fix_when_the_tables_are_missing_or_newer(db_url: str) -> None:
    app = Conveyor(db_url)
    engine = app.driver.engine
    with pytest.raises(SchemaOutdatedError, match=r"no commerce tables.*conveyor db upgrade"):
        check_current(engine)
    upgrade(engine)
    check_current(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE commerce_alembic_version SET version_num = '0099_future'"))
    with pytest.raises(SchemaOutdatedError, match=r"newer than this Conveyor.*upgrade Conveyor"):
        check_current(engine)
    app.close()
