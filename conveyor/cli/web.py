"""``conveyor web`` (the HTTP API and dashboard) and ``conveyor up`` (web + scheduler + a worker in one command)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from conveyor.cli.common import check_log_level, err_console, get_app, handle_errors, parse_queues, setup_logging

if TYPE_CHECKING:
    import uvicorn


def _server(ctx: typer.Context, host: str, port: int, quiet: bool = False) -> uvicorn.Server:
    import uvicorn

    from conveyor.web import create_app
    from conveyor.web.security import Auth, check_bind

    app = get_app(ctx)
    check_bind(host, Auth.from_settings(app.settings))
    web = create_app(app)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(f"dashboard: http://{shown}:{port}/   API docs: http://{shown}:{port}/api/docs", highlight=False)
    config = uvicorn.Config(web, host=host, port=port, log_level="warning" if quiet else "info", access_log=not quiet)
    return uvicorn.Server(config)


@handle_errors
def web(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind. Beyond loopback, CONVEYOR_WEB_TOKEN is required.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Same as --log-level debug.")] = False,
    log_level: Annotated[str, typer.Option(callback=check_log_level, help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the HTTP API (/api, OpenAPI at /api/docs), the live dashboard, /metrics, /healthz and /readyz."""
    level = "debug" if verbose else log_level
    setup_logging(level=level)
    _server(ctx, host, port, quiet=level not in ("debug", "info")).run()


@handle_errors
def up(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address the dashboard binds to.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            "--queues",
            help="Queues the worker serves (repeat it, or separate by commas). Default: every queue the "
            "application's tasks use, 'default' first.",
        ),
    ] = None,
    processes: Annotated[int, typer.Option(min=0, help="Worker processes (0: run jobs in the worker process).")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs at once per worker process.")] = 4,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Do not run the scheduler.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Same as --log-level debug.")] = False,
    log_level: Annotated[
        str, typer.Option(callback=check_log_level, help="debug, info, warning (default: quiet) or error.")
    ] = "warning",
) -> None:
    """Web + scheduler + a worker in one command, for development and small installs. Upgrades the schema
    first. Quiet by default (warnings and errors; --log-level info shows every request and job). Ctrl-C
    stops all three cleanly (running jobs get the worker's grace period). Refuses to start when the
    application registers no tasks."""
    from conveyor.scheduler.loop import run_scheduler

    level = "debug" if verbose else log_level
    setup_logging(level=level)
    app = get_app(ctx)
    app.require_tasks()
    if queue:
        queues = ",".join(parse_queues(",".join(queue)))
    else:
        used = {t.queue for t in app.tasks.values()} - {"default"}
        queues = ",".join(["default", *sorted(used)])
    app.migrate()
    app_path = ctx.find_root().obj.get("app_path")
    cmd = [sys.executable, "-m", "conveyor.cli.main"]
    if app_path:
        cmd += ["--app", app_path]
    cmd += ["work", "--queue", queues, "--processes", str(processes), "--concurrency", str(concurrency)]
    cmd += ["--log-level", level]
    server = _server(ctx, host, port, quiet=level not in ("debug", "info"))
    worker = subprocess.Popen(cmd, env=os.environ.copy())
    stop = threading.Event()
    scheduler = None
    if not no_scheduler:
        scheduler = threading.Thread(target=run_scheduler, args=(app.schedules, stop), name="scheduler", daemon=True)
        scheduler.start()

    def watch_worker() -> None:
        # A worker that dies on its own (bad option, outdated schema, crash) takes the whole `up` down:
        # a dashboard over a queue nobody works would only hide the problem.
        while not stop.wait(0.5):
            if worker.poll() is not None:
                err_console.print(
                    f"error: the worker stopped (exit code {worker.returncode}); stopping", highlight=False
                )
                server.should_exit = True
                return

    threading.Thread(target=watch_worker, name="worker-watch", daemon=True).start()
    try:
        server.run()
    finally:
        stop.set()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=app.settings.shutdown_grace_seconds + 10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if scheduler is not None:
            scheduler.join(timeout=5)
        err_console.print("stopped: web, scheduler and worker", highlight=False)
    stopped_by_signal = (0, 128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM)
    if worker.returncode not in stopped_by_signal:
        raise typer.Exit(worker.returncode or 1)
