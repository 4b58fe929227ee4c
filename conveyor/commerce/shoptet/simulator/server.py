"""Run the simulator over real HTTP: in a background thread (tests, benchmarks) or in the foreground (CLI).

Tests and benchmarks talk to the simulator over loopback rather than through an in-process transport, so
connection limits, latency and streaming behave as they would against Shoptet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from conveyor.commerce.serving import serve_app_in_thread
from conveyor.commerce.shoptet.simulator.app import create_app
from conveyor.commerce.shoptet.simulator.config import SimulatorConfig

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
    """Serve a simulator (built from ``config``, or the given ``app``) in a daemon thread; yield its base URL.

    ``port=0`` picks a free port. The server stops, and its background work with it, when the block exits.

        with serve_in_thread(SimulatorConfig(orders=500)) as base_url:
            httpx.get(f"{base_url}/api/orders", headers={"Shoptet-Private-Api-Token": "sim-private-token"})
    """
    with serve_app_in_thread(
        app if app is not None else create_app(config),
        name="Shoptet simulator",
        host=host,
        port=port,
        startup_timeout=startup_timeout,
        lifespan="on",
        date_header=False,  # the simulator sends its own, on the shop's clock (clock_skew)
    ) as base_url:
        yield base_url


def run(config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 8010) -> None:
    """Serve the simulator in the foreground until interrupted (Ctrl+C)."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", access_log=False, date_header=False)
