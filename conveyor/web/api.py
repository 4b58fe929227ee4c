"""The JSON API under ``/api`` (OpenAPI at ``/api/docs``). Every handler is a thin call into
:class:`~conveyor.web.backend.Backend`; errors are :mod:`conveyor.errors` types that
:mod:`conveyor.web.app` turns into ``{"error": {"code", "message"}}`` with the right status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field, model_validator

from conveyor.errors import ConveyorError
from conveyor.web.backend import MAX_ID, Backend


class LockNotFoundError(ConveyorError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no lock {key!r} is held")


router = APIRouter(prefix="/api")

#: Ids are 64-bit on both databases: a larger one is refused as a bad request, never sent to the database.
JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="A job id")]
BatchId = Annotated[int, Path(ge=1, le=MAX_ID, description="A batch id")]


def _nul_path(value: Any, path: str) -> str | None:
    """Where in ``value`` a string (or a mapping key) holds a NUL byte, if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            if "\x00" in str(k):
                return path
            found = _nul_path(v, f"{path}.{k}")
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_path(v, f"{path}[{i}]")
            if found:
                return found
    return None


class _NoNulText(BaseModel):
    """Text with a NUL byte cannot be stored (PostgreSQL refuses it): refused here, with the field named."""

    @model_validator(mode="after")
    def _no_nul(self) -> _NoNulText:
        for name in type(self).model_fields:
            where = _nul_path(getattr(self, name), name)
            if where:
                raise ValueError(f"{where} contains a NUL byte (\\u0000), which text cannot hold")
        return self


def backend(request: Request) -> Backend:
    b: Backend = request.app.state.backend
    return b


class ScheduleUpdate(_NoNulText):
    """Operator overrides of a schedule; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(default=None, description="Cron expression, e.g. '*/5 * * * *'.")
    timezone: str | None = Field(default=None, description="IANA time zone, e.g. 'Europe/Prague'.")
    params: dict[str, Any] | None = Field(default=None, description="Parameters merged over the declared ones.")
    enabled: bool | None = None


class RetryFilter(_NoNulText):
    """Which failed jobs to retry; an empty filter retries every failed job."""

    model_config = ConfigDict(extra="forbid")

    queue: str | None = None
    task: str | None = None
    error_class: str | None = None


# ---------------------------------------------------------------------- queues
@router.get("/queues", summary="Every queue: counts by state, paused, oldest waiting age, throughput")
def list_queues(request: Request) -> list[dict[str, Any]]:
    return backend(request).queues()


@router.post("/queues/{queue}/pause", summary="Stop workers from starting this queue's jobs (404: unknown queue)")
def pause_queue(request: Request, queue: str) -> dict[str, Any]:
    return backend(request).pause(queue)


@router.post("/queues/{queue}/resume", summary="Let workers start this queue's jobs again")
def resume_queue(request: Request, queue: str) -> dict[str, Any]:
    return backend(request).resume(queue)


# ---------------------------------------------------------------------- jobs
@router.get("/jobs", summary="Jobs, newest first, filtered; cursor-paginated")
def list_jobs(
    request: Request,
    state: str | None = None,
    queue: str | None = None,
    task: str | None = None,
    q: Annotated[str | None, Query(description="A job id, or text found in the job's arguments")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    return backend(request).jobs(state=state, queue=queue, task=task, q=q, cursor=cursor, limit=limit)


@router.post("/jobs/retry", summary="Retry every failed job matching a filter")
def retry_jobs(request: Request, body: Annotated[RetryFilter, Body()]) -> dict[str, Any]:
    n = backend(request).retry_where(queue=body.queue, task=body.task, error_class=body.error_class)
    return {"retried": n}


@router.get("/jobs/failed/groups", summary="Failed jobs grouped by task and error class")
def failed_groups(request: Request) -> list[dict[str, Any]]:
    return backend(request).failed_groups()


@router.get("/jobs/{job_id}", summary="One job: arguments, attempts, errors with tracebacks, progress, timings")
def get_job(request: Request, job_id: JobId) -> dict[str, Any]:
    return backend(request).job(job_id)


@router.post("/jobs/{job_id}/retry", summary="Put a failed or cancelled job back in its queue")
def retry_job(request: Request, job_id: JobId) -> dict[str, Any]:
    return backend(request).retry(job_id)


@router.post("/jobs/{job_id}/cancel", summary="Cancel a waiting job, or ask a running one to stop")
def cancel_job(request: Request, job_id: JobId) -> dict[str, Any]:
    return backend(request).cancel(job_id)


@router.delete("/jobs/{job_id}", summary="Delete a failed or cancelled job and its errors for good")
def delete_job(request: Request, job_id: JobId) -> dict[str, Any]:
    return backend(request).delete(job_id)


@router.post("/jobs/{job_id}/discard", deprecated=True, summary="Old name of DELETE /api/jobs/{job_id}")
def discard_job(request: Request, job_id: JobId) -> dict[str, Any]:
    return backend(request).delete(job_id)


# ---------------------------------------------------------------------- schedules
@router.get("/schedules", summary="The schedule catalog with next runs and last status")
def list_schedules(request: Request) -> list[dict[str, Any]]:
    return backend(request).schedules()


@router.get("/schedules/{key}", summary="One schedule")
def get_schedule(request: Request, key: str) -> dict[str, Any]:
    return backend(request).schedule(key)


@router.patch("/schedules/{key}", summary="Change a schedule's cron, timezone, params or enabled flag")
def update_schedule(request: Request, key: str, body: Annotated[ScheduleUpdate, Body()]) -> dict[str, Any]:
    return backend(request).update_schedule(
        key, cron=body.cron, timezone=body.timezone, params=body.params, enabled=body.enabled
    )


@router.post("/schedules/{key}/trigger", summary="Run a schedule now")
def trigger_schedule(request: Request, key: str, force: bool = False) -> dict[str, Any]:
    return backend(request).trigger_schedule(key, force=force)


@router.get("/schedules/{key}/runs", summary="A schedule's runs, newest first")
def schedule_runs(request: Request, key: str, limit: Annotated[int, Query(ge=1, le=500)] = 20) -> list[dict[str, Any]]:
    return backend(request).schedule_runs(key, limit)


# ---------------------------------------------------------------------- batches and locks
@router.get("/batches", summary="Batches, newest first; cursor-paginated")
def list_batches(
    request: Request, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    return backend(request).batches(cursor=cursor, limit=limit)


@router.get("/batches/{batch_id}", summary="One batch with its failed jobs")
def get_batch(request: Request, batch_id: BatchId) -> dict[str, Any]:
    return backend(request).batch(batch_id)


@router.post("/batches/{batch_id}/retry-failed", summary="Retry a batch's failed jobs")
def batch_retry_failed(request: Request, batch_id: BatchId) -> dict[str, Any]:
    return backend(request).batch_retry_failed(batch_id)


@router.get("/locks", summary="Named locks and job locks currently held")
def list_locks(request: Request) -> list[dict[str, Any]]:
    return backend(request).locks()


@router.post("/locks/{key:path}/release", summary="Force-release a lock, whoever holds it")
def release_lock(request: Request, key: str) -> dict[str, Any]:
    if not backend(request).release_lock(key):
        raise LockNotFoundError(key)
    return {"key": key, "released": True}


# ---------------------------------------------------------------------- events
@router.get("/events", response_class=EventSourceResponse, summary="Server-sent events: live changes")
async def events(request: Request) -> AsyncIterator[ServerSentEvent]:
    """``job`` (state changes), ``progress``, ``schedule`` (fired), ``batch`` (finished), ``queue`` (paused
    or resumed), ``retried`` and ``stats`` (about once a second: refresh counts)."""
    monitor = backend(request).monitor
    with monitor.subscribe() as queue:
        yield ServerSentEvent(event="hello", data={"interval": monitor.interval})
        while True:
            try:
                name, data = await asyncio.wait_for(queue.get(), timeout=5.0)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                continue
            yield ServerSentEvent(event=name, data=data)
