"""Run the feed simulator over real HTTP: in a background thread (tests, benchmarks) or in the foreground (CLI).

Tests and benchmarks download from the simulator over loopback rather than through an in-process transport, so
streaming, timeouts and cut connections behave as they would against a supplier's server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from conveyor.commerce.feeds.simulator.app import create_app
from conveyor.commerce.feeds.simulator.config import SimulatorConfig
from conveyor.commerce.serving import serve_app_in_thread

__all__ = ["run", "serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(
    config: SimulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    app: FastAPI | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[str]:
    """Serve the feed simulator (built from ``config``, or the given ``app``) in a daemon thread; yield its
    base URL. ``port=0`` picks a free port. The server stops when the block exits.

        with serve_in_thread(SimulatorConfig(items=10_000, seed=7)) as base_url:
            download(f"{base_url}/feeds/velkoobchod/stock.csv", tmp_dir)
    """
    with serve_app_in_thread(
        app if app is not None else create_app(config),
        name="feed simulator",
        host=host,
        port=port,
        startup_timeout=startup_timeout,
        lifespan="off",
    ) as base_url:
        yield base_url


def run(config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 8020) -> None:
    """Serve the feed simulator in the foreground until interrupted (Ctrl+C)."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", access_log=False)
