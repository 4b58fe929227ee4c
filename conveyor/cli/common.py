"""What every command group shares: loading the application, printing, turning errors into one line."""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from conveyor.app import Conveyor, check_queue_name
from conveyor.errors import ConfigurationError, ConveyorError

# Piped output (``failed list | grep``) is not wrapped at 80 columns: each table row stays on one line.
_PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 1000
console = Console(width=_PIPED_WIDTH)
err_console = Console(stderr=True)

#: ``--json`` on every list/show command: one JSON document with stable keys, nothing else on stdout.
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")]
#: ``--log-level`` of the long-running commands.
LOG_LEVELS = ("debug", "info", "warning", "error")

F = TypeVar("F", bound=Callable[..., Any])


def load_app(path: str | None) -> Conveyor:
    """``module:attribute`` (or ``CONVEYOR_APP``); without one, a bare app on ``CONVEYOR_DATABASE_URL``."""
    path = path or os.environ.get("CONVEYOR_APP")
    if not path:
        return Conveyor()
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"--app must look like 'package.module:app', got {path!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import {module_name!r} for --app: {exc}") from None
    app = getattr(module, attr, None)
    if not isinstance(app, Conveyor):
        raise ConfigurationError(f"{path!r} is not a Conveyor application (found {type(app).__name__})")
    return app


def get_app(ctx: typer.Context) -> Conveyor:
    state = ctx.find_root().obj
    if state.get("app") is None:
        state["app"] = load_app(state.get("app_path"))
    app: Conveyor = state["app"]
    return app


def handle_errors(fn: F) -> F:
    """Library errors become one line on stderr and exit code 2 (no traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConveyorError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)  # one line, for grep
            raise typer.Exit(2) from None
        except Exception as exc:
            if _missing_tables(exc):
                err_console.print(
                    "[red]error:[/red] the database has no Conveyor tables: run `conveyor db upgrade`",
                    highlight=False,
                    soft_wrap=True,
                )
                raise typer.Exit(2) from None
            if "OperationalError" in type(exc).__name__:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                err_console.print(f"[red]error:[/red] database unavailable: {first}", highlight=False, soft_wrap=True)
                raise typer.Exit(2) from None
            raise

    return wrapper  # type: ignore[return-value]


def _missing_tables(exc: BaseException) -> bool:
    """A query on a database where ``conveyor db upgrade`` never ran (SQLite: "no such table", PostgreSQL:
    undefined table)."""
    text = str(exc)
    return "no such table: conveyor_" in text or ('relation "conveyor_' in text and "does not exist" in text)


def print_json(data: Any) -> None:
    """One JSON document on stdout (``--json``)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def check_log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    return value.lower()


def setup_logging(verbose: bool = False, level: str | None = None) -> None:
    """Rich output on a terminal; plain one-line records otherwise (log files, journald, CI).

    ``level`` (``--log-level``) wins over ``verbose``. HTTP client libraries log every request at INFO; they
    are kept to warnings unless the level is debug."""
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=err_console, show_path=False, rich_tracebacks=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    name = level or ("debug" if verbose else "info")
    numeric = getattr(logging, name.upper())
    logging.basicConfig(level=numeric, format=fmt, handlers=[handler], force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING))


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def parse_json(value: str | None, kind: type, option: str) -> Any:
    """Parse a JSON CLI option, as a usage error (exit 2) when malformed."""
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON ({exc.msg} at position {exc.pos})", param_hint=option) from None
    if not isinstance(parsed, kind):
        raise typer.BadParameter(f"must be a JSON {'array' if kind is list else 'object'}", param_hint=option)
    return parsed


def parse_queues(value: str, option: str = "--queue") -> list[str]:
    names = [q.strip() for q in value.split(",")]
    if not value.strip() or any(not q for q in names) or any(" " in q for q in names):
        raise typer.BadParameter(
            f"{value!r} is not a queue list: give names separated by commas, e.g. 'snapshots,default'",
            param_hint=option,
        )
    for name in names:
        try:
            check_queue_name(name)
        except ConveyorError as exc:
            raise typer.BadParameter(str(exc), param_hint=option) from None
    return names


def job_json(job: Any, redact_keys: Any = ()) -> dict[str, Any]:
    """A job as ``--json`` prints it (stable keys; secret-looking argument values redacted)."""
    from conveyor.engine.redact import redact

    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "state": job.state.value,
        "priority": job.priority,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "args": redact(job.args, redact_keys),
        "kwargs": redact(job.kwargs, redact_keys),
        "created_at": job.created_at,
        "scheduled_at": job.scheduled_at,
        "attempted_at": job.attempted_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "crashes": job.crashes,
        "timeout": job.timeout,
        "worker_id": job.worker_id,
        "lock_key": job.lock_key,
        "unique_key": job.unique_key,
        "batch_id": job.batch_id,
        "progress": job.progress,
        "cancel_requested": job.cancel_requested,
        "result": redact(job.result, redact_keys),
        "last_error": job.last_error.error if job.last_error else None,
        "errors": [{"attempt": e.attempt, "at": e.at, "error": e.error, "traceback": e.traceback} for e in job.errors],
    }


@contextmanager
def spinner(message: str) -> Iterator[None]:
    with console.status(message):
        yield
