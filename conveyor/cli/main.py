"""``conveyor`` entry point."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli import batches, db, enqueue, failed, jobs, locks, queue, schedule, shoptet, sim, web, work

cli = typer.Typer(
    name="conveyor",
    help="Conveyor: durable job queues, workers and scheduling on SQLite and PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@cli.callback()
def root(
    ctx: typer.Context,
    app: Annotated[
        str | None,
        typer.Option("--app", "-A", envvar="CONVEYOR_APP", help="Your application, as 'package.module:app'."),
    ] = None,
) -> None:
    ctx.obj = {"app_path": app, "app": None}


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
cli.add_typer(sim.cli, name="sim")
cli.add_typer(shoptet.cli, name="shoptet")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
