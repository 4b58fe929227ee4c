"""The commerce tables' migrations: an independent history next to the engine's.

Its own script directory (``migrations/`` here) and its own version table (``commerce_alembic_version``), so
the queue can be upgraded without the commerce tables and the other way round, in one database or two.
Commerce workers call :func:`check_current` at start and refuse to run on an outdated schema instead of
failing later with an obscure SQL error.
"""

from __future__ import annotations

from pathlib import Path

from conveyor import MigrationHistory

VERSION_TABLE = "commerce_alembic_version"
#: What :func:`check_current` tells the user to run.
UPGRADE_HINT = (
    "run `conveyor --app conveyor.commerce.app:app db upgrade` (or `conveyor db upgrade` with your own app that "
    "installs the commerce pack, or app.migrate())"
)
HISTORY = MigrationHistory(
    script_location=Path(__file__).parent / "migrations",
    version_table=VERSION_TABLE,
    subject="the commerce tables are",
    nothing="no commerce tables",
    hint=UPGRADE_HINT,
)
head_revisions = HISTORY.head_revisions
current_revisions = HISTORY.current_revisions
upgrade = HISTORY.upgrade
downgrade = HISTORY.downgrade
check_current = HISTORY.check_current
