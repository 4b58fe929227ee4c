"""``conveyor db``: schema migrations."""

from __future__ import annotations

import typer

from conveyor.cli.common import console, get_app, handle_errors
from conveyor.store.migrate import current_revisions, head_revisions

cli = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@cli.command("upgrade")
@handle_errors
def upgrade(ctx: typer.Context) -> None:
    """Create Conveyor's tables or bring them up to date."""
    app = get_app(ctx)
    with console.status("migrating…"):
        app.migrate()
    console.print(f"database is at {', '.join(sorted(head_revisions()))}")


@cli.command("current")
@handle_errors
def current(ctx: typer.Context) -> None:
    """Show the schema revision of the database and the one this Conveyor needs."""
    app = get_app(ctx)
    have = current_revisions(app.driver.engine)
    need = head_revisions()
    console.print(f"database: {', '.join(sorted(have)) or 'empty'}; needed: {', '.join(sorted(need))}")
    if have != need:
        console.print("run `conveyor db upgrade`")
        raise typer.Exit(1)
