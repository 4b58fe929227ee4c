"""Run Alembic migrations programmatically and check that a database is current.

``conveyor db upgrade`` calls :func:`upgrade`; workers call :func:`check_current` and refuse to start on an
outdated schema instead of failing later with an obscure SQL error.
"""

from __future__ import annotations

from pathlib import Path

from alembic.command import downgrade as _downgrade
from alembic.command import upgrade as _upgrade
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from conveyor.errors import SchemaOutdatedError

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "conveyor_alembic_version"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revisions() -> set[str]:
    """The revisions this version of Conveyor expects."""
    return set(ScriptDirectory.from_config(_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    """The revisions the database is at (empty for a fresh database)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return set(ctx.get_current_heads())


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database schema up to ``revision`` (default: the newest)."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        _upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (``base`` removes every Conveyor table)."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        _downgrade(cfg, revision)


def check_current(engine: Engine) -> None:
    """Raise :class:`SchemaOutdatedError` unless the database is at the expected revisions."""
    current, head = current_revisions(engine), head_revisions()
    if current != head:
        at = ", ".join(sorted(current)) or "no Conveyor tables"
        raise SchemaOutdatedError(
            f"the database schema is out of date (at {at}; this Conveyor needs {', '.join(sorted(head))}): "
            "run `conveyor db upgrade`"
        )
