"""Workers: the fetch loop and executor, and the supervisor over child processes."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from conveyor.worker.options import WorkerOptions

if TYPE_CHECKING:
    from conveyor.app import Conveyor


def run_worker(app: Conveyor, opts: WorkerOptions) -> int:
    """Run a worker until it stops; returns the process exit code."""
    if opts.processes > 0:
        from conveyor.worker.supervisor import Supervisor

        return Supervisor(app, opts).run()
    return _run_inline(app, opts)


def _run_inline(app: Conveyor, opts: WorkerOptions) -> int:
    """Jobs run in this process: no hard timeouts, no crash isolation. Rescue of expired leases
    still happens, in a background thread."""
    from conveyor.engine import clock
    from conveyor.worker.executor import Executor
    from conveyor.worker.supervisor import new_worker_id, wait_for_database

    executor = Executor(app, opts, new_worker_id() + "/0")
    main = threading.current_thread() is threading.main_thread()
    previous = {}
    if main:
        previous = {s: signal.signal(s, executor.request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not wait_for_database(app, executor.stop.is_set):
            return 0
        lease = opts.lease or app.settings.lease_seconds
        stop_rescue = threading.Event()

        def rescue_loop() -> None:
            conn = app.driver.connect()
            try:
                while not stop_rescue.wait(min(max(lease / 4, 0.5), 15.0)):
                    try:
                        app.driver.rescue_expired(conn, clock.now(), app.settings.crash_quarantine_after)
                    except Exception:
                        continue
            finally:
                conn.close()

        rescuer = threading.Thread(target=rescue_loop, name="conveyor-rescue", daemon=True)
        rescuer.start()
        try:
            executor.run()
        finally:
            stop_rescue.set()
        return 0
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


__all__ = ["WorkerOptions", "run_worker"]
