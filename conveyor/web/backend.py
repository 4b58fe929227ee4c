"""What the HTTP API and the dashboard pages read and do, as plain JSON-ready dicts.

One facade for both, so a page and its API endpoint can never disagree, and so redaction of secrets in
job arguments happens in exactly one place. Reads come from the :class:`~conveyor.web.monitor.Monitor`
snapshot (counts) or from keyset-paginated queries (lists); writes go through the same application and
driver calls as the CLI, so every rule (what can be retried, validation of schedule overrides) is the
CLI's rule too.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from cron_descriptor import ExpressionDescriptor, Options
from sqlalchemy import Connection

from conveyor.coordination import batches as batch_ops
from conveyor.coordination.locks import force_release, list_locks
from conveyor.engine import clock
from conveyor.engine.job import JobRecord
from conveyor.engine.redact import REDACTED, is_secret_key, redact, restore_redacted
from conveyor.engine.states import JobState
from conveyor.errors import ConveyorError, InvalidStateError, JobNotFoundError
from conveyor.scheduler.catalog import RunRecord, ScheduleView
from conveyor.scheduler.cron import compile_cron
from conveyor.store.queries import JobFilter, error_class
from conveyor.web.monitor import Monitor, progress_view

if TYPE_CHECKING:
    from conveyor.app import Conveyor

S = JobState
PREVIEW_CHARS = 160
#: The largest id a job or batch can have (a signed 64-bit integer on both databases).
MAX_ID = 2**63 - 1
#: How job arguments are stored (compact JSON, ASCII): searching their redacted form compares like with like.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class InvalidCursorError(ConveyorError):
    """A pagination cursor that this server did not hand out."""

    def __init__(self, cursor: str) -> None:
        super().__init__(f"invalid cursor {cursor[:40]!r}: pass back the next_cursor of a previous page")


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)["id"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidCursorError(cursor) from exc
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise InvalidCursorError(cursor)
    return value


def cron_text(expr: str) -> str:
    """A cron expression in words ("Every 5 minutes"); the expression itself if it has no description."""
    try:
        options = Options()
        options.use_24hour_time_format = True  # European operators read 03:00, not 03:00 AM
        return str(ExpressionDescriptor(expr, options).get_description())
    except Exception:  # cron-descriptor does not know every extension croniter accepts
        return expr


class Backend:
    """See the module docstring."""

    def __init__(self, app: Conveyor, monitor: Monitor | None = None) -> None:
        self.app = app
        self.monitor = monitor or Monitor(app)

    @property
    def redact_keys(self) -> list[str]:
        return list(self.app.settings.redact_keys)

    def _redact(self, value: Any) -> Any:
        return redact(value, self.redact_keys)

    def _progress(self, job_id: int, progress: Any, attempted_at: float | None) -> dict[str, Any] | None:
        return progress_view(progress, attempted_at, self.monitor.origin(job_id, attempted_at))

    # ------------------------------------------------------------------ queues
    def queues(self) -> list[dict[str, Any]]:
        """Every queue (with jobs, settings, or declared in code) from :meth:`Conveyor.queue_stats`: the same
        counts and "processed" figures as ``conveyor queue stats``."""
        out = []
        at = clock.now()
        for st in self.monitor.queue_stats():
            counts = {s.value: 0 for s in S} | {str(k): int(v) for k, v in st.counts.items()}
            out.append(
                {
                    "name": st.queue,
                    "counts": counts,
                    "waiting": st.waiting,
                    "executing": counts[S.EXECUTING],
                    "paused": st.paused,
                    "oldest_waiting_age": st.oldest_waiting_age,
                    "processed_1m": st.processed_last_minute,
                    "processed_1h": st.processed_last_hour,
                    "failed_1m": st.failed_last_minute,
                    "failed_1h": st.failed_last_hour,
                    "global_limit": st.global_limit,
                    "as_of": at,
                }
            )
        return out

    def pause(self, queue: str) -> dict[str, Any]:
        """Refuses a queue nothing knows (:class:`~conveyor.errors.UnknownQueueError`, 404): no ghost queues."""
        self.app.pause_queue(queue)
        self.monitor.invalidate()
        self.monitor.publish("queue", {"name": queue, "paused": True})
        return {"name": queue, "paused": True}

    def resume(self, queue: str) -> dict[str, Any]:
        """Also wakes idle workers of the queue."""
        self.app.resume_queue(queue)
        self.monitor.invalidate()
        self.monitor.publish("queue", {"name": queue, "paused": False})
        return {"name": queue, "paused": False}

    # ------------------------------------------------------------------ jobs
    def _summary(self, row: dict[str, Any], last_error: str | None) -> dict[str, Any]:
        args = self._redact(json.loads(row["args"]))
        kwargs = self._redact(json.loads(row["kwargs"]))
        parts = [json.dumps(a, ensure_ascii=False) for a in args]
        parts += [f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in kwargs.items()]
        preview = ", ".join(parts)
        if len(preview) > PREVIEW_CHARS:
            preview = preview[: PREVIEW_CHARS - 1] + "…"
        progress = json.loads(row["progress"]) if row.get("progress") else None
        return {
            "id": row["id"],
            "queue": row["queue"],
            "task": row["task"],
            "state": row["state"],
            "priority": row["priority"],
            "attempt": row["attempt"],
            "max_attempts": row["max_attempts"],
            "args_preview": preview,
            "created_at": row["created_at"],
            "scheduled_at": row["scheduled_at"],
            "attempted_at": row["attempted_at"],
            "finished_at": row["finished_at"],
            "progress": self._progress(row["id"], progress, row["attempted_at"]),
            "last_error": last_error,
        }

    def jobs(
        self,
        state: str | None = None,
        queue: str | None = None,
        task: str | None = None,
        q: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """Newest first; ``next_cursor`` fetches the following page (keyset on id)."""
        if state is not None and state not in {s.value for s in S}:
            raise InvalidStateError(f"unknown state {state!r} (states: {', '.join(s.value for s in S)})")
        before = decode_cursor(cursor)
        text = (q or "").strip() or None
        f = JobFilter(state=state or None, queue=queue or None, task=task or None, q=text)
        d = self.app.driver
        with d.read() as conn:
            rows = d.job_search(conn, f, before, limit + 1) if text is None else self._search(conn, f, before, limit)
            page = rows[:limit]
            errors = d.job_error_last(conn, [r["id"] for r in page if r["attempt"] > 0])
        return {
            "jobs": [self._summary(r, errors.get(r["id"])) for r in page],
            "next_cursor": encode_cursor(page[-1]["id"]) if len(rows) > limit else None,
        }

    def _search(self, conn: Connection, f: JobFilter, before: int | None, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit + 1`` jobs whose *redacted* arguments contain ``f.q`` (or whose id it is).

        The database narrows the candidates (a substring of the stored arguments); each is then checked
        against what a reader may see. Searching the stored text alone would tell a reader whether a secret
        starts with "a", "ab", ... and give it away one character at a time."""
        assert f.q is not None
        needle = f.q.lower()
        chunk = max(limit + 1, 200)
        out: list[dict[str, Any]] = []
        while len(out) <= limit:
            rows = self.app.driver.job_search(conn, f, before, chunk)
            out += [r for r in rows if self._visible_match(r, needle)]
            if len(rows) < chunk:
                break
            before = rows[-1]["id"]
        return out[: limit + 1]

    def _visible_match(self, row: dict[str, Any], needle: str) -> bool:
        if needle.isdecimal() and int(needle) == row["id"]:
            return True
        for column in ("args", "kwargs"):
            shown = _encode(self._redact(json.loads(row[column])))
            if needle in shown.lower():
                return True
        return False

    def job(self, job_id: int) -> dict[str, Any]:
        """Everything about one job: arguments (redacted), every error with its traceback, progress with
        rate and ETA, timings, and the batch/schedule/lock it belongs to."""
        rec = self.app.get_job(job_id)
        with self.app.driver.read() as conn:
            sched = self.app.driver.schedule_run_of_job(conn, job_id)
        batch = None
        if rec.batch_id is not None:
            try:
                b = batch_ops.get_batch(self.app, rec.batch_id)
                batch = {"id": b.id, "name": b.name, "state": b.state}
            except ConveyorError:
                batch = {"id": rec.batch_id, "name": None, "state": "deleted"}
        return self._detail(rec, batch, sched)

    def _detail(self, rec: JobRecord, batch: dict[str, Any] | None, sched: tuple[str, int] | None) -> dict[str, Any]:
        now = clock.now()
        started = rec.attempted_at
        return {
            "id": rec.id,
            "queue": rec.queue,
            "task": rec.task,
            "state": rec.state.value,
            "priority": rec.priority,
            "attempt": rec.attempt,
            "max_attempts": rec.max_attempts,
            "args": self._redact(rec.args),
            "kwargs": self._redact(rec.kwargs),
            "created_at": rec.created_at,
            "scheduled_at": rec.scheduled_at,
            "attempted_at": rec.attempted_at,
            "finished_at": rec.finished_at,
            "timings": {
                "waited": None if started is None else max(0.0, started - rec.scheduled_at),
                "ran": None if started is None else max(0.0, (rec.finished_at or now) - started),
                "timeout": rec.timeout,
                "lease_expires_at": rec.lease_expires_at,
            },
            "errors": [
                {
                    "attempt": e.attempt,
                    "at": e.at,
                    "error": e.error,
                    "error_class": error_class(e.error),
                    "traceback": e.traceback,
                }
                for e in rec.errors
            ],
            "last_error": rec.errors[-1].error if rec.errors else None,
            "progress": self._progress(rec.id, rec.progress, rec.attempted_at),
            "batch": batch,
            "schedule": None if sched is None else {"key": sched[0], "run_id": sched[1]},
            "lock_key": rec.lock_key,
            "unique_key": rec.unique_key,
            "worker_id": rec.worker_id,
            "result": self._redact(rec.result),
            "cancel_requested": rec.cancel_requested,
            "crashes": rec.crashes,
            "started_at": rec.started_at,
        }

    def retry(self, job_id: int) -> dict[str, Any]:
        """Put a discarded or cancelled job back in its queue (409 for any other state)."""
        self.app.retry([job_id])
        self._changed(job_id)
        return self.job(job_id)

    def cancel(self, job_id: int) -> dict[str, Any]:
        outcome = self.app.cancel(job_id)
        if outcome == "finished":
            state = self.app.get_job(job_id).state.value
            raise InvalidStateError(f"job {job_id} already finished ({state}): nothing to cancel")
        self._changed(job_id)
        return {"outcome": outcome, "job": self.job(job_id)}

    def delete(self, job_id: int) -> dict[str, Any]:
        """Delete a job that finished unsuccessfully (failed for good or cancelled) with its errors, for good
        (409 for any other state)."""
        rec = self.app.get_job(job_id)
        self.app.delete_jobs([job_id])
        self.monitor.invalidate(totals=True)
        self.monitor.publish("job", {"id": job_id, "queue": rec.queue, "task": rec.task, "state": "deleted"})
        return {"id": job_id, "deleted": True}

    def retry_where(self, queue: str | None = None, task: str | None = None, error_class: str | None = None) -> int:
        """Retry every failed job matching the filter (all failed jobs when it is empty)."""
        n = self.app.retry_failed(queue=queue or None, task=task or None, error_class=error_class or None)
        self.monitor.invalidate(totals=True)
        if n:
            self.monitor.publish("retried", {"count": n, "queue": queue, "task": task, "error_class": error_class})
        return n

    def _changed(self, job_id: int) -> None:
        self.monitor.invalidate(totals=True)
        rec = self.app.get_job(job_id)
        self.monitor.publish("job", {"id": rec.id, "queue": rec.queue, "task": rec.task, "state": rec.state.value})

    def failed_groups(self) -> list[dict[str, Any]]:
        """Failed jobs grouped by task and error class, biggest group first (Sidekiq's morgue, grouped)."""
        d = self.app.driver
        with d.read() as conn:
            failed = d.job_discarded(conn)
            errs = d.job_error_last(conn, [f[0] for f in failed])
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for job_id, task, queue, finished_at in failed:
            message = errs.get(job_id)
            key = (task, error_class(message))
            g = groups.get(key)
            if g is None:
                g = groups[key] = {
                    "task": task,
                    "error_class": key[1],
                    "queues": [],
                    "count": 0,
                    "last_at": finished_at,
                    "sample_job_id": job_id,
                    "sample_message": message,
                    "job_ids": [],
                }
            g["count"] += 1
            if queue not in g["queues"]:
                g["queues"].append(queue)
            if len(g["job_ids"]) < 20:
                g["job_ids"].append(job_id)
        return sorted(groups.values(), key=lambda g: (-g["count"], g["task"]))

    # ------------------------------------------------------------------ overview
    def overview(self) -> dict[str, Any]:
        snap = self.monitor.snapshot()
        queues = self.queues()
        totals = {s.value: sum(q["counts"][s.value] for q in queues) for s in S}
        now = snap.at
        minute0 = (now // 60) * 60
        hour_points = []
        for i in range(59, -1, -1):
            t = minute0 - i * 60
            c, f = self.monitor.minutes.get(t, [0, 0])
            hour_points.append({"t": t, "completed": c, "failed": f})
        hour0 = (now // 3600) * 3600
        per_hour: dict[float, list[int]] = {}
        for t, (c, f) in list(self.monitor.minutes.items()):
            slot = per_hour.setdefault((t // 3600) * 3600, [0, 0])
            slot[0] += c
            slot[1] += f
        day_points = []
        for i in range(23, -1, -1):
            t = hour0 - i * 3600
            c, f = per_hour.get(t, [0, 0])
            day_points.append({"t": t, "completed": c, "failed": f})
        workers = []
        for w in snap.workers:
            jobs = [
                {
                    "id": j["id"],
                    "task": j["task"],
                    "queue": j["queue"],
                    "attempted_at": j["attempted_at"],
                    "progress": self._progress(j["id"], j["progress"], j["attempted_at"]),
                }
                for j in snap.executing
                if (j["worker_id"] or "").startswith(w["id"])
            ]
            queues_of = json.loads(w["queues"]) if w["queues"].startswith("[") else w["queues"].split(",")
            workers.append({**w, "queues": queues_of, "alive_for": now - w["started_at"], "jobs": jobs})
        return {
            "as_of": now,
            "queues": queues,
            "totals": totals,
            "throughput_hour": hour_points,
            "throughput_day": day_points,
            "workers": workers,
        }

    # ------------------------------------------------------------------ schedules
    def _schedule(self, v: ScheduleView, runs: int = 5) -> dict[str, Any]:
        next_runs: list[float] = []
        if v.next_at is not None and v.enabled:
            next_runs.append(v.next_at)
            try:
                cron = compile_cron(v.cron, v.timezone)
                while len(next_runs) < runs:
                    next_runs.append(cron.next_after(next_runs[-1]))
            except ConveyorError:
                pass
        return {
            "key": v.key,
            "task": v.task,
            "description": v.description,
            "cron": v.cron,
            "cron_text": cron_text(v.cron),
            "timezone": v.timezone,
            "params": self._redact(v.params),
            "queue": v.queue,
            "enabled": v.enabled,
            "overridden": sorted(v.overridden),
            "orphaned": v.orphaned,
            "next_runs": next_runs,
            "last_run": None if v.last_run is None else self._run(v.last_run),
            "status": v.status,
        }

    def _run(self, r: RunRecord) -> dict[str, Any]:
        return r.as_dict()

    def schedules(self) -> list[dict[str, Any]]:
        return [self._schedule(v) for v in self.app.schedules.views()]

    def schedule(self, key: str) -> dict[str, Any]:
        return self._schedule(self.app.schedules.view(key))

    def update_schedule(
        self,
        key: str,
        *,
        cron: str | None = None,
        timezone: str | None = None,
        params: dict[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> dict[str, Any]:
        """The CLI's ``schedule set``: validated first, nothing written on any error. A secret param sent
        back as ``"[redacted]"`` (what the API and the dashboard show) keeps its stored value."""
        if params:
            keys = self.redact_keys
            # A top-level placeholder is left out (the override, or the code's value, stays as it is); one
            # nested in a changed value is filled in from the current value.
            params = {k: v for k, v in params.items() if not (v == REDACTED and is_secret_key(k, keys))}
            params = restore_redacted(params, self.app.schedules.view(key).params, keys)
        view = self.app.schedules.set(key, cron=cron, timezone=timezone, params=params, enabled=enabled)
        self.monitor.publish("schedule_changed", {"key": key})
        return self._schedule(view)

    def trigger_schedule(self, key: str, *, force: bool = False) -> dict[str, Any]:
        run = self.app.schedules.trigger(key, force=force)
        self.monitor.publish("schedule", {"key": key, "run_id": run.id, "job_id": run.job_id})
        return self._run(run)

    def schedule_runs(self, key: str, limit: int = 20) -> list[dict[str, Any]]:
        return [self._run(r) for r in self.app.schedules.history(key, limit)]

    # ------------------------------------------------------------------ batches and locks
    def _batch(self, b: batch_ops.BatchRecord) -> dict[str, Any]:
        return {
            "id": b.id,
            "name": b.name,
            "state": b.state,
            "total": b.total,
            "completed": b.completed,
            "failed": b.failed,
            "cancelled": b.cancelled,
            "pending": b.pending,
            "progress": b.progress,
            "created_at": b.created_at,
            "finished_at": b.finished_at,
            "on_complete": b.on_complete,
            "on_failure": b.on_failure,
            "callback_job_id": b.callback_job_id,
        }

    def batches(self, cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
        before = decode_cursor(cursor)
        rows = batch_ops.list_batches(self.app, limit=limit + 1, before_id=before)
        page = rows[:limit]
        return {
            "batches": [self._batch(b) for b in page],
            "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
        }

    def batch(self, batch_id: int) -> dict[str, Any]:
        out = self._batch(batch_ops.get_batch(self.app, batch_id))
        out["failed_jobs"] = self.jobs_of_batch(batch_id)
        return out

    def jobs_of_batch(self, batch_id: int, limit: int = 50) -> list[dict[str, Any]]:
        d = self.app.driver
        with d.read() as conn:
            rows = d.batch_failed_jobs(conn, batch_id, limit)
            errors = d.job_error_last(conn, [r["id"] for r in rows])
        return [self._summary(r, errors.get(r["id"])) for r in rows]

    def batch_retry_failed(self, batch_id: int) -> dict[str, Any]:
        n = batch_ops.retry_failed(self.app, batch_id)
        self.monitor.invalidate(totals=True)
        return {"retried": n, "batch": self._batch(batch_ops.get_batch(self.app, batch_id))}

    def locks(self) -> list[dict[str, Any]]:
        now = clock.now()
        return [
            {
                "key": lk.key,
                "holder": lk.holder,
                "acquired_at": lk.acquired_at,
                "expires_at": lk.expires_at,
                "held_for": max(0.0, now - lk.acquired_at),
                "expired": lk.expires_at <= now,
            }
            for lk in list_locks(self.app)
        ]

    def release_lock(self, key: str) -> bool:
        return force_release(self.app, key)


__all__ = [
    "MAX_ID",
    "Backend",
    "InvalidCursorError",
    "JobNotFoundError",
    "cron_text",
    "decode_cursor",
    "encode_cursor",
]
