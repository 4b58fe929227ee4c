"""``conveyor enqueue``: queue a job by task name."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli.common import console, get_app, handle_errors, parse_json


@handle_errors
def enqueue(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task name.")],
    args: Annotated[str | None, typer.Option("--args", help="Positional arguments as a JSON array.")] = None,
    kwargs: Annotated[str | None, typer.Option("--kwargs", help="Keyword arguments as a JSON object.")] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q")] = None,
    delay: Annotated[float, typer.Option(min=0, help="Seconds to wait before it may run.")] = 0,
    priority: Annotated[int | None, typer.Option(help="Higher runs first within the queue.")] = None,
) -> None:
    """Queue a job; prints its id."""
    parsed_args = parse_json(args, list, "--args")
    parsed_kwargs = parse_json(kwargs, dict, "--kwargs")
    app = get_app(ctx)
    job_id = app.enqueue(task, parsed_args, parsed_kwargs, queue=queue, delay=delay, priority=priority)
    console.print(job_id)
