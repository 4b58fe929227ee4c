"""The long-running scheduler (``conveyor scheduler``): tick, then sleep until the next slot is due.

While idle it wakes every ``poll`` seconds for one indexed query (the earliest ``next_at``), so a change made
with ``conveyor schedule set`` in another process is picked up within ``poll`` seconds, and an idle scheduler
costs next to no CPU. Several schedulers may run at once: each slot is claimed once (see
:mod:`conveyor.store.queries.schedule_runs`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from conveyor.engine import clock
from conveyor.scheduler.catalog import Catalog, TickReport

log = logging.getLogger("conveyor.scheduler")


def run_scheduler(
    catalog: Catalog,
    stop: threading.Event,
    *,
    poll: float = 1.0,
    max_time: float = 0.0,
    on_tick: Callable[[TickReport], None] | None = None,
) -> int:
    """Run until ``stop`` is set (or ``max_time`` seconds passed); returns how many ticks ran."""
    started = clock.now()
    ticks = 0
    next_at: float | None = 0.0  # tick at once on start: catches up what was missed while down
    while not stop.is_set():
        now = clock.now()
        if max_time and now - started >= max_time:
            break
        if catalog.refresh(now):  # a pack's source declared a schedule: tick now to write its first slot
            next_at = 0.0
        if next_at is not None and next_at <= now:
            try:
                report = catalog.tick()
            except Exception:
                log.exception("scheduler tick failed; retrying in %.1fs", poll)
                stop.wait(poll)
                continue
            ticks += 1
            for f in report.fired:
                log.info(
                    "%s: %s slot %s%s",
                    f.key,
                    f.status,
                    clock.to_datetime(f.slot_at),
                    f" (job {f.job_id})" if f.job_id else f" ({f.reason})" if f.reason else "",
                )
            for key, message in report.errors:
                log.error("%s: %s", key, message)
            if on_tick is not None:
                on_tick(report)
        try:
            next_at = catalog.next_due_at()
        except Exception:
            log.exception("cannot read the schedule catalog; retrying in %.1fs", poll)
            next_at = None
        now = clock.now()
        wait = poll if next_at is None else min(poll, max(0.0, next_at - now))
        if max_time:
            wait = min(wait, max(0.0, started + max_time - now))
        if wait > 0:
            stop.wait(wait)
    return ticks
