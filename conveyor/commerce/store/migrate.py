"""Run the commerce tables' Alembic migrations and check that a database is current.

The commerce store is an independent branch of history next to the engine's: its own script directory
(``migrations/`` here) and its own version table (``commerce_alembic_version``), so the queue can be
upgraded without the commerce tables and the other way round, in one database or two. Commerce workers call
:func:`check_current` at start and refuse to run on an outdated schema instead of failing later with an
obscure SQL error.
"""

from __future__ import annotations

from pathlib import Path

from alembic.command import downgrade as _downgrade
from alembic.command import upgrade as _upgrade
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from conveyor import SchemaOutdatedError

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "commerce_alembic_version"
#: What :func:`check_current` tells the user to run.
UPGRADE_HINT = "run `conveyor db upgrade` with an app that installs the commerce pack (or app.migrate())"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revisions() -> set[str]:
    """The revisions this version of the commerce pack expects."""
    return set(ScriptDirectory.from_config(_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    """The revisions the database is at (empty when it has no commerce tables)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return set(ctx.get_current_heads())


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Create or upgrade the commerce tables up to ``revision`` (default: the newest), in one transaction."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        _upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the commerce tables back to ``revision`` (``base`` drops every commerce table and its data)."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        _downgrade(cfg, revision)


def check_current(engine: Engine) -> None:
    """Raise :class:`~conveyor.SchemaOutdatedError` unless the commerce tables are at the expected revisions."""
    current, head = current_revisions(engine), head_revisions()
    if current == head:
        return
    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current - known:
        raise SchemaOutdatedError(
            f"the commerce tables are newer than this Conveyor (at {', '.join(sorted(current))}, unknown here; "
            f"this Conveyor knows up to {', '.join(sorted(head))}): upgrade Conveyor"
        )
    at = ", ".join(sorted(current)) or "no commerce tables"
    raise SchemaOutdatedError(
        f"the commerce tables are out of date (at {at}; this Conveyor needs {', '.join(sorted(head))}): " + UPGRADE_HINT
    )
