"""``conveyor`` entry point.

The core commands are registered here. Packs add theirs without the core knowing them: a distribution
declares an entry point in the ``conveyor.cli`` group (the bundled commerce pack does, for ``conveyor shoptet``
and ``conveyor sim``), and an application adds command groups with ``app.add_cli_extension`` — which is
why :func:`main` loads the ``--app`` application before it parses the command line.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Annotated

import typer

from conveyor.cli import batches, db, enqueue, failed, jobs, locks, queue, schedule, web, work
from conveyor.cli.common import err_console, load_app
from conveyor.errors import ConveyorError

log = logging.getLogger("conveyor.cli")

#: Entry-point group through which installed packs add command groups: ``extend(typer_app) -> None``.
ENTRY_POINT_GROUP = "conveyor.cli"

cli = typer.Typer(
    name="conveyor",
    help="Conveyor: durable job queues, workers and scheduling on SQLite and PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: The application :func:`main` loaded before parsing (path, app), reused by the root callback.
_preloaded: dict[str, object] = {}


@cli.callback()
def root(
    ctx: typer.Context,
    app: Annotated[
        str | None,
        typer.Option("--app", "-A", envvar="CONVEYOR_APP", help="Your application, as 'package.module:app'."),
    ] = None,
) -> None:
    ctx.obj = {"app_path": app, "app": _preloaded.get(app or "")}


cli.add_typer(db.cli, name="db")
cli.command("work")(work.work)
cli.command("enqueue")(enqueue.enqueue)
cli.add_typer(queue.cli, name="queue")
cli.add_typer(failed.cli, name="failed")
cli.add_typer(jobs.cli, name="jobs")
cli.add_typer(batches.cli, name="batches")
cli.add_typer(schedule.cli, name="schedule")
cli.command("scheduler")(schedule.scheduler)
cli.add_typer(locks.cli, name="locks")
cli.command("web")(web.web)
cli.command("up")(web.up)


def app_path_from(argv: Sequence[str]) -> str | None:
    """The ``--app``/``-A`` value of a command line (before the subcommand), else ``CONVEYOR_APP``."""
    for i, arg in enumerate(argv):
        if arg in ("--app", "-A") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--app="):
            return arg.partition("=")[2]
        if not arg.startswith("-"):
            break  # the subcommand: options after it are its own
    return os.environ.get("CONVEYOR_APP") or None


def add_extensions(argv: Sequence[str]) -> None:
    """Register the command groups of installed packs (entry points) and of the ``--app`` application.
    Runs once per process (``main`` calls it; tests may too)."""
    if _preloaded.get("_extended"):
        return
    _preloaded["_extended"] = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            extend = ep.load()
        except ImportError as exc:  # a pack whose optional dependencies are not installed
            log.debug("CLI extension %s skipped: %s", ep.name, exc)
            continue
        extend(cli)
    path = app_path_from(argv)
    if path:
        app = load_app(path)
        _preloaded[path] = app
        for extend in app.cli_extensions:
            extend(cli)


def main() -> None:
    try:
        add_extensions(sys.argv[1:])
    except ConveyorError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    cli()


if __name__ == "__main__":
    main()
