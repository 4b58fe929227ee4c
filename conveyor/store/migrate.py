"""Run Alembic migrations programmatically and check that a database is current.

A :class:`MigrationHistory` is one Alembic script directory with its own version table: the engine has one
(``conveyor db upgrade`` runs it), and a pack built on Conveyor keeps its tables in another next to it
(``app.add_schema``), so each can be upgraded on its own in the same database. Workers call
:meth:`MigrationHistory.check_current` and refuse to start on an outdated schema instead of failing later
with an obscure SQL error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.errors import SchemaOutdatedError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

# Alembic is imported inside the methods: ``import conveyor`` must stay fast (Alembic alone costs ~0.3 s),
# and only ``conveyor db upgrade``, a worker's start and ``/readyz`` ever need it.


@dataclass(frozen=True)
class MigrationHistory:
    """One independent history of migrations. ``subject`` and ``nothing`` word the errors ("the commerce
    tables are", "no commerce tables"); ``hint`` says what to run."""

    script_location: Path
    version_table: str
    subject: str
    nothing: str
    hint: str

    def _config(self) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(self.script_location))
        return cfg

    def head_revisions(self) -> set[str]:
        """The revisions this version of the code expects."""
        from alembic.script import ScriptDirectory

        return set(ScriptDirectory.from_config(self._config()).get_heads())

    def current_revisions(self, engine: Engine) -> set[str]:
        """The revisions the database is at (empty for a database without these tables)."""
        from alembic.runtime.migration import MigrationContext

        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": self.version_table})
            return set(ctx.get_current_heads())

    def upgrade(self, engine: Engine, revision: str = "heads") -> None:
        """Create or upgrade the tables up to ``revision`` (default: the newest), in one transaction."""
        from alembic.command import upgrade as _upgrade

        cfg = self._config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            _upgrade(cfg, revision)

    def downgrade(self, engine: Engine, revision: str) -> None:
        """Take the tables back to ``revision`` (``base`` drops every table of this history and its data)."""
        from alembic.command import downgrade as _downgrade

        cfg = self._config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            _downgrade(cfg, revision)

    def check_current(self, engine: Engine) -> None:
        """Raise :class:`SchemaOutdatedError` unless the database is at the expected revisions."""
        current, head = self.current_revisions(engine), self.head_revisions()
        if current == head:
            return
        from alembic.script import ScriptDirectory

        known = {rev.revision for rev in ScriptDirectory.from_config(self._config()).walk_revisions()}
        if current - known:
            raise SchemaOutdatedError(
                f"{self.subject} newer than this Conveyor (at {', '.join(sorted(current))}, unknown here; "
                f"this Conveyor knows up to {', '.join(sorted(head))}): upgrade Conveyor"
            )
        at = ", ".join(sorted(current)) or self.nothing
        raise SchemaOutdatedError(
            f"{self.subject} out of date (at {at}; this Conveyor needs {', '.join(sorted(head))}): {self.hint}"
        )


VERSION_TABLE = "conveyor_alembic_version"
ENGINE = MigrationHistory(
    script_location=Path(__file__).parent / "migrations",
    version_table=VERSION_TABLE,
    subject="the database schema is",
    nothing="no Conveyor tables",
    hint="run `conveyor db upgrade`",
)
head_revisions = ENGINE.head_revisions
current_revisions = ENGINE.current_revisions
upgrade = ENGINE.upgrade
downgrade = ENGINE.downgrade
check_current = ENGINE.check_current
