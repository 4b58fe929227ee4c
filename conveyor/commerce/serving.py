"""Serve an ASGI app over real HTTP in a background thread: how every simulator runs in tests, benchmarks and
the demo (loopback, so connection limits, latency, streaming and cut connections behave as they would against
the real platform, unlike an in-process transport)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


@contextlib.contextmanager
def serve_app_in_thread(
    app: Any,
    *,
    name: str,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 30.0,
    **config: Any,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread named ``name``; yield its base URL (``port=0``: a free
    port). ``config`` goes to ``uvicorn.Config`` (e.g. ``lifespan``, ``date_header``). The server stops when
    the block exits; a server that does not start raises :class:`RuntimeError` naming ``name``."""
    options: dict[str, Any] = {"log_level": "warning", "access_log": False, "timeout_graceful_shutdown": 2}
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **{**options, **config}))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the {name} failed to start on {host}:{port} (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the {name} did not start within {startup_timeout} s")
        time.sleep(0.01)
    bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    try:
        yield f"http://{shown_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
