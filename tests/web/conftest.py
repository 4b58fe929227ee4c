"""Fixtures for the web tests (JSON API, dashboard pages, browser tests)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor import Conveyor, current_job

# ===================================================================== dashboard (pages and browser tests)


def pytest_configure(config: pytest.Config) -> None:
    # Harmless if pyproject registers it too; keeps --strict-markers happy either way.
    config.addinivalue_line("markers", "browser: drives a real Chromium through Playwright (needs /usr/bin/chromium)")


CHROMIUM = os.environ.get("CONVEYOR_CHROMIUM", "/usr/bin/chromium")


def require_chromium() -> None:
    """Skip when there is no browser to drive, except under ``CI=true`` where that is a failure."""
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests are required under CI=true: {problem}")
        pytest.skip(problem)


def register_dashboard_tasks(app: Conveyor) -> None:
    """The tasks the dashboard tests enqueue: one that succeeds, one that always fails (two ways), one
    that reports progress, one that fails until told otherwise."""

    @app.task(name="ok")
    def ok(n: int = 0) -> int:
        return n

    @app.task(name="boom", max_attempts=1)
    def boom(kind: str = "value", password: str = "") -> None:
        if kind == "key":
            raise KeyError("missing")
        raise ValueError(f"bad row {kind}")

    @app.task(name="import_rows", queue="imports")
    def import_rows(total: int = 10, pause: float = 0.0) -> int:
        job = current_job()
        for done in range(total + 1):
            job.progress(done, total, "rows")
            if pause:
                time.sleep(pause)
        return total


class Pages:
    """A synchronous face over an ``httpx.AsyncClient`` on ``ASGITransport``: the dashboard as a browser
    sees it, without a server, in one event loop per test."""

    def __init__(self, asgi: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=asgi), base_url="http://127.0.0.1:8000", headers={"Accept": "text/html"}
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.get(path, params=params or None))

    def post(self, path: str, json: Any = None) -> httpx.Response:
        token = self.client.cookies.get("conveyor_csrf") or ""
        headers = {"X-CSRF-Token": token, "Origin": "http://127.0.0.1:8000", "Accept": "application/json"}
        return self.loop.run_until_complete(self.client.post(path, json=json, headers=headers))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


def pages_for(app: Conveyor) -> Pages:
    from conveyor.web import create_app
    from conveyor.web.monitor import Monitor

    # Interval 0 and no thread: every read sees the database as it is now.
    return Pages(create_app(app, monitor=Monitor(app, interval=0.0), start_monitor=False))


@pytest.fixture
def dash_app(app: Conveyor) -> Conveyor:
    """``app`` (SQLite and PostgreSQL) with the dashboard tests' tasks registered."""
    register_dashboard_tasks(app)
    return app


@pytest.fixture
def pages(dash_app: Conveyor) -> Iterator[Pages]:
    p = pages_for(dash_app)
    yield p
    p.close()


def run_all(app: Conveyor, queues: tuple[str, ...] = ("default", "imports")) -> None:
    assert app.work(list(queues), processes=0, stop_when_empty=True, sleep=0.05) == 0


class LiveServer:
    """The real web application under uvicorn, in a background thread, on a free loopback port."""

    def __init__(self, app: Conveyor, port: int) -> None:
        import uvicorn

        from conveyor.web import create_app
        from conveyor.web.monitor import Monitor

        self.url = f"http://127.0.0.1:{port}"
        asgi = create_app(app, monitor=Monitor(app, interval=0.25))
        self.server = uvicorn.Server(
            uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
        )
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class BackgroundWorker:
    """A worker executing jobs in a thread of the test process (what ``conveyor work --processes 0`` does),
    stopped cleanly at the end."""

    def __init__(self, app: Conveyor, queues: list[str]) -> None:
        from conveyor.worker.executor import Executor
        from conveyor.worker.options import WorkerOptions

        self.executor = Executor(app, WorkerOptions(queues=queues, processes=0, concurrency=4, sleep=0.05), "test/1")
        self.thread = threading.Thread(target=self.executor.run, name="worker", daemon=True)

    def start(self) -> BackgroundWorker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.executor.request_stop()
        self.thread.join(15)


# ===================================================================== end of dashboard fixtures
