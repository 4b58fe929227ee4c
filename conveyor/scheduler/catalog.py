"""The schedule catalog: code declares each schedule's defaults, the database holds the operator's overrides.

``app.schedule(key, task=..., cron=...)`` declares an entry (see :meth:`Catalog.add`). The first time a
process writes (a tick, ``set``, ``trigger``), the declarations are synced into ``conveyor_schedules``: new
keys are inserted, keys no longer declared are marked orphaned (their history is kept). Overrides (cron,
timezone, params, queue, enabled) are written by :meth:`Catalog.set` and win over the code's defaults.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from conveyor.engine import clock
from conveyor.engine.job import JobSpec, encode_payload
from conveyor.engine.states import JobState
from conveyor.engine.task import Task
from conveyor.errors import ConfigurationError
from conveyor.scheduler.cron import Cron, compile_cron, get_zone, validate_cron
from conveyor.scheduler.errors import (
    OrphanedScheduleError,
    ScheduleEnqueueError,
    ScheduleOverlapError,
    SchedulerError,
    UnknownScheduleError,
    UnsupportedScheduleError,
)
from conveyor.scheduler.params import validate_params

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.scheduler")

#: A slot run this late is still "on time" even when ``catch_up`` is shorter (``schedule run`` from cron
#: starts a little after the minute).
ON_TIME_GRACE = 60.0
BUILTIN_PREFIX = "conveyor."


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """A schedule as declared in code: the defaults the database's overrides apply to."""

    key: str
    task: Task[Any, Any] | str | None
    cron: str
    timezone: str = "UTC"
    params: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    overlap: bool = True
    catch_up: float | None = None  # seconds; None: one interval of the schedule
    description: str = ""
    enabled: bool = True

    @property
    def task_name(self) -> str | None:
        if self.task is None:
            return None
        return self.task if isinstance(self.task, str) else self.task.name

    @property
    def builtin(self) -> bool:
        return self.key.startswith(BUILTIN_PREFIX)


@dataclass(slots=True)
class Effective:
    """A schedule's settings after the operator's overrides were applied to the code's defaults."""

    cron: str
    timezone: str
    params: dict[str, Any]
    queue: str | None
    enabled: bool
    overridden: frozenset[str]


@dataclass(slots=True)
class RunRecord:
    """One run of a schedule, with the status of its job."""

    id: int
    key: str
    slot_at: float | None
    kind: str  # cron | catch_up | trigger
    status: str  # queued | running | completed | error | skipped | unknown
    reason: str | None
    job_id: int | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else clock.now()
        return max(0.0, end - self.started_at)

    def as_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data: one shape for ``schedule history --json`` and the API."""
        return {
            "id": self.id,
            "key": self.key,
            "slot_at": self.slot_at,
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason,
            "job_id": self.job_id,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
        }


@dataclass(slots=True)
class ScheduleView:
    """Everything ``schedule list`` shows about one key."""

    key: str
    task: str | None
    description: str
    cron: str
    timezone: str
    params: dict[str, Any]
    queue: str | None
    enabled: bool
    overridden: frozenset[str]
    orphaned: bool
    next_at: float | None
    last_run: RunRecord | None

    @property
    def unsupported(self) -> bool:
        return self.task is None

    @property
    def status(self) -> str:
        if self.orphaned:
            return "orphaned"
        if self.unsupported:
            return "unsupported"
        return self.last_run.status if self.last_run else "-"


@dataclass(slots=True)
class Fired:
    key: str
    slot_at: float | None
    kind: str
    status: str  # queued | skipped
    job_id: int | None = None
    reason: str | None = None


@dataclass(slots=True)
class TickReport:
    """What one tick did (or, for a dry run, would do)."""

    now: float
    evaluated: int = 0
    fired: list[Fired] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def queued(self) -> list[Fired]:
        return [f for f in self.fired if f.status == "queued"]

    @property
    def skipped(self) -> list[Fired]:
        return [f for f in self.fired if f.status == "skipped"]


def _run_record(row: Mapping[str, Any]) -> RunRecord:
    status, started, finished = row["status"], row["started_at"], row["finished_at"]
    job_state = row.get("job_state")
    if status == "queued" and job_state is not None:
        # Follow the job: the stored status is settled only once the job finishes.
        started = row.get("job_attempted_at")
        finished = row.get("job_finished_at")
        status = {
            JobState.SCHEDULED: "queued",
            JobState.AVAILABLE: "queued",
            JobState.EXECUTING: "running",
            JobState.RETRYABLE: "running",
            JobState.COMPLETED: "completed",
        }.get(JobState(job_state), "error")
    return RunRecord(
        id=int(row["id"]),
        key=row["schedule_key"],
        slot_at=row["slot_at"],
        kind=row["kind"],
        status=status,
        reason=row["reason"],
        job_id=row["job_id"],
        created_at=row["created_at"],
        started_at=started,
        finished_at=finished,
    )


def _seconds(value: float | timedelta | None, what: str) -> float | None:
    if value is None:
        return None
    s = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if s < 0:
        raise ConfigurationError(f"{what} must be >= 0 seconds")
    return s


class Catalog:
    """Every schedule of an application. Reached as ``app.schedules``; declare with ``app.schedule(...)``."""

    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self.entries: dict[str, ScheduleEntry] = {}
        self._version = 0
        self._synced_version = -1
        self._sources: list[tuple[Callable[[Catalog], object], float]] = []
        self._sources_run_at: list[float] = []
        from conveyor.scheduler.builtin import register_builtins

        register_builtins(self)

    def __repr__(self) -> str:
        return f"<Catalog {len(self.entries)} schedules>"

    # ------------------------------------------------------------------ declaring
    def add(
        self,
        key: str,
        *,
        task: Task[Any, Any] | str | None = None,
        cron: str,
        timezone: str = "UTC",
        params: Mapping[str, Any] | None = None,
        queue: str | None = None,
        overlap: bool = True,
        catch_up: float | timedelta | None = None,
        description: str = "",
        enabled: bool = True,
    ) -> ScheduleEntry:
        """Declare a schedule (the code's defaults). Raises at once on a bad cron, timezone or params."""
        if not isinstance(key, str) or not key.strip() or len(key) > 255:
            raise ConfigurationError(
                f"a schedule key must be a non-empty string of at most 255 characters, got {key!r}"
            )
        if key in self.entries:
            raise ConfigurationError(f"schedule {key!r} is declared twice")
        if task is not None and not isinstance(task, Task | str):
            raise ConfigurationError(
                f"schedule {key!r}: task must be a task (@app.task) or a task name, got {type(task).__name__}"
            )
        if queue is not None and not queue.strip():
            raise ConfigurationError(f"schedule {key!r}: queue must not be empty")
        expr = validate_cron(cron)
        get_zone(timezone)
        entry = ScheduleEntry(
            key=key,
            task=task,
            cron=expr,
            timezone=timezone,
            params=dict(params or {}),
            queue=queue,
            overlap=overlap,
            catch_up=_seconds(catch_up, f"schedule {key!r}: catch_up"),
            description=description,
            enabled=enabled,
        )
        if task is not None:
            entry = replace(entry, params=self._validate(entry, entry.params))
        self.entries[key] = entry
        self._version += 1
        return entry

    def add_source(self, declare: Callable[[Catalog], object], *, every: float = 30.0) -> None:
        """Let ``declare(catalog)`` add schedules that live in a pack's own tables (a supplier feed's hourly
        import, say), so that one added while the scheduler runs is scheduled without a restart.

        The long-running scheduler calls it at start and then at most every ``every`` seconds
        (:meth:`refresh`); it must be idempotent, adding with :meth:`add` only the keys not declared yet
        (``key in catalog.entries``). A source that raises is logged and tried again next time."""
        if every <= 0:
            raise ConfigurationError(f"a schedule source's interval must be > 0 seconds, got {every}")
        self._sources.append((declare, every))
        self._sources_run_at.append(-math.inf)

    def refresh(self, now: float | None = None) -> bool:
        """Run the schedule sources that are due (see :meth:`add_source`); True when one declared something."""
        at = clock.now() if now is None else now
        before = self._version
        for i, (declare, every) in enumerate(self._sources):
            if at - self._sources_run_at[i] < every:
                continue
            self._sources_run_at[i] = at
            try:
                declare(self)
            except Exception:
                log.exception("schedule source %r failed; trying again in %.0f s", declare, every)
        return self._version != before

    def get(self, key: str) -> ScheduleEntry:
        try:
            return self.entries[key]
        except KeyError:
            raise UnknownScheduleError(key, list(self.entries)) from None

    def _task_fn(self, entry: ScheduleEntry) -> tuple[str, Callable[..., Any] | None]:
        t = entry.task
        if t is None:
            return "", None
        if isinstance(t, str):
            registered = self.app.tasks.get(t)
            return t, registered.fn if registered else None
        return t.name, t.fn

    def _validate(self, entry: ScheduleEntry, params: Mapping[str, Any]) -> dict[str, Any]:
        name, fn = self._task_fn(entry)
        return validate_params(entry.key, name, fn, params)

    # ------------------------------------------------------------------ effective settings
    def effective(self, entry: ScheduleEntry, row: Mapping[str, Any] | None) -> Effective:
        over: set[str] = set()
        cron, tz, queue, enabled = entry.cron, entry.timezone, entry.queue, entry.enabled
        params = dict(entry.params)
        if row is not None:
            if row.get("cron"):
                cron = row["cron"]
                over.add("cron")
            if row.get("timezone"):
                tz = row["timezone"]
                over.add("timezone")
            if row.get("queue"):
                queue = row["queue"]
                over.add("queue")
            if row.get("enabled") is not None:
                enabled = bool(row["enabled"])
                over.add("enabled")
            if row.get("params"):
                params.update(json.loads(row["params"]))
                over.add("params")
        return Effective(cron, tz, params, queue, enabled, frozenset(over))

    def _next_at(self, entry: ScheduleEntry, eff: Effective, since: float) -> float | None:
        if not eff.enabled or entry.task is None:
            return None
        return compile_cron(eff.cron, eff.timezone).next_after(since)

    # ------------------------------------------------------------------ database
    @contextmanager
    def _transaction(self, commit: bool = True) -> Iterator[Connection]:
        with self.app.driver.engine.connect() as conn:
            trans = conn.begin()
            try:
                yield conn
            except BaseException:
                trans.rollback()
                raise
            if commit:
                trans.commit()
            else:
                trans.rollback()

    def sync(self, conn: Connection, now: float, *, force: bool = False) -> None:
        """Write the code's declarations into the catalog table (once per process unless ``force``)."""
        if self._synced_version == self._version and not force:
            return
        existing = self.app.driver.schedule_load(conn)
        user_declared = any(not e.builtin for e in self.entries.values())
        if not user_declared and any(
            not r["orphaned"] and not k.startswith(BUILTIN_PREFIX) for k, r in existing.items()
        ):
            raise SchedulerError(
                "this application declares no schedules but the database holds some: point --app (or "
                "CONVEYOR_APP) at the application that declares them, or they would all be marked orphaned"
            )
        new, changed = [], []
        for key, entry in self.entries.items():
            row = existing.get(key)
            declared = {
                "task": entry.task_name,
                "description": entry.description,
                "declared_cron": entry.cron,
                "declared_timezone": entry.timezone,
            }
            if row is None:
                eff = self.effective(entry, None)
                new.append(
                    {
                        "key": key,
                        **declared,
                        "orphaned": False,
                        "active_since": now,
                        "next_at": self._next_at(entry, eff, now),
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            if all(row[k] == v for k, v in declared.items()) and not row["orphaned"]:
                active = self._next_at(entry, self.effective(entry, row), row["active_since"]) is not None
                if active == (row["next_at"] is not None):
                    continue
            eff = self.effective(entry, row)
            since = row["active_since"]
            moved = row["orphaned"] or (row["declared_cron"], row["declared_timezone"]) != (entry.cron, entry.timezone)
            if moved or row["next_at"] is None:
                since = max(since, now)  # slots from before the change (or the revival) do not fire
            changed.append(
                {
                    "b_key": key,
                    **declared,
                    "orphaned": False,
                    "active_since": since,
                    "next_at": self._next_at(entry, eff, since),
                    "updated_at": now,
                }
            )
        self.app.driver.schedule_insert(conn, new)
        self.app.driver.schedule_update(conn, changed)
        gone = [
            {"b_key": k, "orphaned": True, "next_at": None, "updated_at": now}
            for k, r in existing.items()
            if k not in self.entries and not r["orphaned"]
        ]
        self.app.driver.schedule_update(conn, gone)
        self._synced_version = self._version

    def _row(self, conn: Connection, key: str) -> dict[str, Any] | None:
        return self.app.driver.schedule_load(conn, [key]).get(key)

    def _require(self, key: str) -> ScheduleEntry:
        """The declared entry for ``key``, or the right error (orphaned / unknown)."""
        entry = self.entries.get(key)
        if entry is not None:
            return entry
        with self.app.driver.engine.connect() as conn:
            row = self._row(conn, key)
        if row is not None:
            raise OrphanedScheduleError(key)
        raise UnknownScheduleError(key, list(self.entries))

    # ------------------------------------------------------------------ operator overrides
    def set(
        self,
        key: str,
        *,
        cron: str | None = None,
        timezone: str | None = None,
        params: Mapping[str, Any] | None = None,
        queue: str | None = None,
        enabled: bool | None = None,
        reset: bool = False,
    ) -> ScheduleView:
        """Store overrides for ``key``. Everything is validated first; on any error nothing is written.

        ``reset`` first drops every override (back to the code's defaults)."""
        entry = self._require(key)
        new_cron = validate_cron(cron) if cron is not None else None
        if timezone is not None:
            get_zone(timezone)
        if queue is not None and not queue.strip():
            raise SchedulerError(f"schedule {key!r}: queue must not be empty")
        now = clock.now()
        with self._transaction() as conn:
            self.sync(conn, now)
            row = self._row(conn, key)
            assert row is not None
            old = self.effective(entry, row)
            if reset:
                row.update(cron=None, timezone=None, params=None, queue=None, enabled=None)
            override_params: dict[str, Any] = json.loads(row["params"]) if row.get("params") else {}
            if params:
                override_params.update(params)
            if (params or reset) and entry.task is not None:
                checked = self._validate(entry, {**entry.params, **override_params})
                override_params = {k: checked.get(k, v) for k, v in override_params.items()}
            updates: dict[str, Any] = {
                "cron": new_cron if new_cron is not None else row["cron"],
                "timezone": timezone if timezone is not None else row["timezone"],
                "params": json.dumps(override_params, separators=(",", ":")) if override_params else None,
                "queue": queue if queue is not None else row["queue"],
                "enabled": enabled if enabled is not None else row["enabled"],
            }
            if updates["params"] is not None:
                encode_payload(entry.task_name or key, [], override_params, self.app.settings.max_payload_bytes)
            row.update(updates)
            eff = self.effective(entry, row)
            since = row["active_since"]
            if (eff.cron, eff.timezone) != (old.cron, old.timezone) or (eff.enabled and not old.enabled):
                since = now  # slots of the old settings (or while disabled) do not fire after the change
            self.app.driver.schedule_update(
                conn,
                [
                    {
                        "b_key": key,
                        **updates,
                        "active_since": since,
                        "next_at": self._next_at(entry, eff, max(since, now)),
                        "updated_at": now,
                    }
                ],
            )
        return self.view(key)

    # ------------------------------------------------------------------ reading
    def views(self) -> list[ScheduleView]:
        """Every schedule: declared ones and orphaned ones still in the database. Writes nothing."""
        now = clock.now()
        with self.app.driver.engine.connect() as conn:
            rows = self.app.driver.schedule_load(conn)
            last = self.app.driver.schedule_run_last(conn)
        out = []
        for key in sorted(set(self.entries) | set(rows)):
            out.append(self._view(key, rows.get(key), last.get(key), now))
        return out

    def view(self, key: str) -> ScheduleView:
        self._require(key)
        for v in self.views():
            if v.key == key:
                return v
        raise UnknownScheduleError(key, list(self.entries))  # pragma: no cover - _require checked it

    def _view(
        self, key: str, row: Mapping[str, Any] | None, last: Mapping[str, Any] | None, now: float
    ) -> ScheduleView:
        entry = self.entries.get(key)
        last_run = _run_record(last) if last else None
        if entry is None:
            assert row is not None
            return ScheduleView(
                key=key,
                task=row["task"],
                description=row["description"],
                cron=row["cron"] or row["declared_cron"],
                timezone=row["timezone"] or row["declared_timezone"],
                params=json.loads(row["params"]) if row["params"] else {},
                queue=row["queue"],
                enabled=bool(row["enabled"]) if row["enabled"] is not None else True,
                overridden=frozenset(),
                orphaned=True,
                next_at=None,
                last_run=last_run,
            )
        eff = self.effective(entry, row)
        since = max(now, row["active_since"]) if row else now
        return ScheduleView(
            key=key,
            task=entry.task_name,
            description=entry.description,
            cron=eff.cron,
            timezone=eff.timezone,
            params=eff.params,
            queue=self._queue(entry, eff),
            enabled=eff.enabled,
            overridden=eff.overridden,
            orphaned=False,
            next_at=self._next_at(entry, eff, since),
            last_run=last_run,
        )

    def history(self, key: str, limit: int = 20) -> list[RunRecord]:
        """Runs of ``key``, newest first (orphaned keys keep theirs)."""
        with self.app.driver.engine.connect() as conn:
            if key not in self.entries and self._row(conn, key) is None:
                raise UnknownScheduleError(key, list(self.entries))
            return [_run_record(r) for r in self.app.driver.schedule_run_history(conn, key, limit)]

    # ------------------------------------------------------------------ running
    def _queue(self, entry: ScheduleEntry, eff: Effective) -> str | None:
        if eff.queue:
            return eff.queue
        if isinstance(entry.task, Task):
            return entry.task.queue
        if isinstance(entry.task, str) and entry.task in self.app.tasks:
            return self.app.tasks[entry.task].queue
        return None

    def _job(self, entry: ScheduleEntry, eff: Effective) -> JobSpec:
        """The job a run enqueues. Any error (including one raised by the task's own code) is wrapped in
        :class:`ScheduleEnqueueError` before anything is written."""
        try:
            t = entry.task
            if isinstance(t, str):
                t = self.app.get_task(t)
            assert t is not None
            spec = t.job(**eff.params)
            queue = self._queue(entry, eff)
            if queue:
                spec.queue = queue
            encode_payload(spec.task, spec.args, spec.kwargs, self.app.settings.max_payload_bytes)
        except Exception as exc:
            raise ScheduleEnqueueError(entry.key, exc) from exc
        return spec

    def tick(self, now: float | None = None, *, dry_run: bool = False) -> TickReport:
        """Evaluate the catalog once and claim every due slot (``schedule run``).

        ``now`` evaluates as of that instant (every active schedule is looked at, for backfills); without it,
        only schedules whose next slot is due are read. A slot fires once at most, whoever ticks; a missed
        slot fires if it is within the schedule's ``catch_up`` window, and only the latest one.
        ``dry_run`` does everything in a transaction that is rolled back."""
        explicit = now is not None
        at = clock.now() if now is None else float(now)
        report = TickReport(now=at, dry_run=dry_run)
        with self._transaction(commit=not dry_run) as conn:
            self.sync(conn, at, force=dry_run)
            self.app.driver.schedule_run_settle(conn)
            rows = self.app.driver.schedule_due(conn, at, everything=explicit)
            report.evaluated = len(rows)
            claims: list[dict[str, Any]] = []
            meta: dict[tuple[str, float], tuple[ScheduleEntry, JobSpec]] = {}
            next_ats: list[tuple[str, float]] = []
            memo = _Memo()  # schedules sharing a cron and zone share its evaluation
            for row in rows:
                entry = self.entries.get(row["key"])
                if entry is None or entry.task is None:
                    continue
                eff = self.effective(entry, row)
                if not eff.enabled:
                    continue
                cron = compile_cron(eff.cron, eff.timezone)
                old_next = float(row["next_at"])
                if old_next > at:  # only with an explicit --now: never move the schedule back
                    due, nxt = memo.prev(cron, at), old_next
                else:
                    nxt = memo.next(cron, old_next)
                    if nxt > at:
                        due = old_next  # the common case: the stored next slot is the one due
                    else:
                        due, nxt = memo.prev(cron, at), memo.next(cron, at)
                if due <= row["active_since"]:
                    next_ats.append((entry.key, nxt))
                    continue
                window = entry.catch_up if entry.catch_up is not None else memo.next(cron, due) - due
                late = at - due
                if late > max(window, ON_TIME_GRACE):
                    next_ats.append((entry.key, nxt))  # missed, and too long ago to catch up
                    continue
                try:
                    spec = self._job(entry, eff)
                except ScheduleEnqueueError as exc:
                    report.errors.append((entry.key, str(exc)))
                    continue  # nothing claimed; retried next tick
                next_ats.append((entry.key, nxt))
                meta[(entry.key, due)] = (entry, spec)
                claims.append(
                    {
                        "schedule_key": entry.key,
                        "slot_at": due,
                        "kind": "cron" if late <= ON_TIME_GRACE else "catch_up",
                        "status": "queued",
                        "created_at": at,
                    }
                )
            busy = self.app.driver.schedule_run_busy_keys(
                conn, [c["schedule_key"] for c in claims if not meta[(c["schedule_key"], c["slot_at"])][0].overlap]
            )
            for c in claims:
                if c["schedule_key"] in busy:
                    c["status"], c["reason"] = "skipped", "overlapping"
                else:
                    c["reason"] = None

            def enqueue(won: list[dict[str, Any]]) -> list[int | None]:
                todo = [meta[(c["schedule_key"], c["slot_at"])][1] for c in won if c["status"] == "queued"]
                ids = iter(self.app.enqueue_many(todo, connection=conn) if todo else [])
                return [next(ids) if c["status"] == "queued" else None for c in won]

            for c, job_id in self.app.driver.schedule_run_claim_slots(conn, claims, enqueue):
                report.fired.append(
                    Fired(c["schedule_key"], c["slot_at"], c["kind"], c["status"], job_id=job_id, reason=c["reason"])
                )
            self.app.driver.schedule_set_next_at(conn, next_ats)
        return report

    def trigger(self, key: str, *, force: bool = False) -> RunRecord:
        """Run ``key`` now, outside its cron. Refused while its previous job is still waiting or running if
        the schedule has ``overlap=False`` (``force`` runs it anyway)."""
        entry = self._require(key)
        if entry.task is None:
            raise UnsupportedScheduleError(key)
        now = clock.now()
        with self._transaction() as conn:
            self.sync(conn, now)
            row = self._row(conn, key)
            eff = self.effective(entry, row)
            spec = self._job(entry, eff)
            if not entry.overlap and not force and self.app.driver.schedule_run_busy_keys(conn, [key]):
                raise ScheduleOverlapError(
                    f"schedule {key!r} does not allow overlapping runs and its previous job is still waiting "
                    "or running; use --force to run it anyway"
                )
            rid = self.app.driver.schedule_run_insert(
                conn, {"schedule_key": key, "slot_at": None, "kind": "trigger", "status": "queued", "created_at": now}
            )
            job_id = self.app.enqueue_spec(spec, connection=conn)
            self.app.driver.schedule_run_link_jobs(conn, [(rid, job_id)])
        return RunRecord(rid, key, None, "trigger", "queued", None, job_id, now, None, None)

    def next_due_at(self) -> float | None:
        """The earliest next slot over every active schedule (what the long-running scheduler sleeps until)."""
        with self.app.driver.engine.connect() as conn:
            return self.app.driver.schedule_next_due_at(conn)


class _Memo:
    """Per-tick memo of cron evaluations: ten thousand schedules usually share a few dozen (cron, zone)."""

    def __init__(self) -> None:
        self._next: dict[tuple[int, float], float] = {}
        self._prev: dict[tuple[int, float], float] = {}

    def next(self, cron: Cron, ts: float) -> float:
        k = (id(cron), ts)
        v = self._next.get(k)
        if v is None:
            v = self._next[k] = cron.next_after(ts)
        return v

    def prev(self, cron: Cron, ts: float) -> float:
        k = (id(cron), ts)
        v = self._prev.get(k)
        if v is None:
            v = self._prev[k] = cron.prev_at_or_before(ts)
        return v
