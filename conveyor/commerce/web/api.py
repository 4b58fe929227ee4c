"""The commerce JSON API (``/api/shops…``, ``/api/executions…``) and Shoptet's webhook endpoint.

Reads go through :mod:`.data`, the same functions the Shops pages use; actions call the Shoptet pipelines'
functions, the same ones the CLI calls, so a rule (which snapshot can be retried, which pipeline exists) is
decided in one place. Errors have the shape of the rest of the API (``{"error": {"code", "message",
"field"?}}``); the mapping from the pack's exceptions to statuses is :data:`ERRORS`.

Routes are plain ``def`` where they only touch the database (FastAPI runs them in its thread pool). The
webhook must read the raw body before anything parses it (its signature covers the exact bytes), so it is
``async`` and hands the synchronous work to the thread pool itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from conveyor import Conveyor, ConveyorError
from conveyor.commerce import store
from conveyor.commerce.shoptet import actions, errors
from conveyor.commerce.shoptet import webhooks as shoptet_webhooks
from conveyor.commerce.shoptet.pack import PLATFORM
from conveyor.commerce.shoptet.webhooks import SIGNATURE_HEADER
from conveyor.commerce.store import (
    CredentialsKeyError,
    ExecutionNotFoundError,
    ParkedRecordNotFoundError,
    ShopNotFoundError,
)
from conveyor.commerce.web import data
from conveyor.web.extensions import error_response

log = logging.getLogger("conveyor.commerce.web")

router = APIRouter(tags=["shops"])
webhooks = APIRouter(tags=["webhooks"])


class UnsupportedPlatformError(ConveyorError):
    """A pipeline was asked of a shop on a platform that has none (only Shoptet has pipelines so far)."""


#: The pack's exceptions → (HTTP status, machine-readable code, the request field it is about). Registered
#: on the application by :func:`add_error_handlers`, like the core API's own table.
ERRORS: list[tuple[type[ConveyorError], int, str, str | None]] = [
    (ShopNotFoundError, 404, "shop_not_found", None),
    (ExecutionNotFoundError, 404, "execution_not_found", None),
    (ParkedRecordNotFoundError, 404, "parked_record_not_found", None),
    (errors.UnknownPipelineError, 422, "invalid_pipeline", "pipeline"),
    (errors.SnapshotNotRetryableError, 409, "not_retryable", None),
    (errors.WebhookSignatureError, 401, "invalid_signature", None),
    (errors.WebhookPayloadError, 400, "invalid_payload", None),
    # The web process cannot open the shops' credentials: a configuration problem on our side, not a bad
    # request. 503 also makes Shoptet deliver a webhook again later instead of dropping it.
    (CredentialsKeyError, 503, "credentials_unavailable", None),
    (UnsupportedPlatformError, 409, "unsupported_platform", None),
    # Shoptet refused to register the webhooks (a bad token, a URL it rejects): said as Shoptet said it.
    (errors.PipelineError, 502, "platform_refused", None),
]


def add_error_handlers(app: FastAPI) -> None:
    """Answer the pack's exceptions in the API's error shape (see :data:`ERRORS`)."""
    for exc_type, status, code, field in ERRORS:

        def handler(
            _r: Request, exc: Exception, status: int = status, code: str = code, field: str | None = field
        ) -> Response:
            return error_response(status, code, str(exc), field)

        app.add_exception_handler(exc_type, handler)


def _app(request: Request) -> Conveyor:
    conveyor: Conveyor = request.app.state.conveyor
    return conveyor


def _actionable(app: Conveyor, shop_id: int) -> store.Shop:
    """The shop, if pipelines can be started for it (404 if there is none, 409 for another platform's)."""
    with app.read_transaction() as conn:
        shop = store.get_shop(conn, shop_id)
    if shop.platform != PLATFORM:
        message = f"shop {shop.name!r} is a {shop.platform} shop: only Shoptet shops have pipelines"
        raise UnsupportedPlatformError(message)
    return shop


# ---------------------------------------------------------------------------------------------- reads
@router.get("/api/shops")
def list_shops(request: Request) -> list[dict[str, Any]]:
    """Every shop with its cursors, the last run of each pipeline and its newest executions."""
    return data.shops(_app(request))


@router.get("/api/shops/{shop_id}")
def get_shop(request: Request, shop_id: int, limit: int = Query(data.PAGE, ge=1, le=500)) -> dict[str, Any]:
    """One shop as in the list, with the first page of its pipeline log (``next_cursor`` for the next)."""
    app = _app(request)
    return {**data.shop(app, shop_id), **data.executions(app, shop_id, limit=limit)}


@router.get("/api/shops/{shop_id}/executions")
def shop_executions(
    request: Request,
    shop_id: int,
    cursor: str | None = None,
    pipeline: str | None = None,
    limit: int = Query(data.PAGE, ge=1, le=500),
) -> dict[str, Any]:
    """The shop's pipeline log, newest first, keyset-paginated: pass ``next_cursor`` back as ``cursor``."""
    return data.executions(_app(request), shop_id, cursor=cursor or None, limit=limit, pipeline=pipeline or None)


@router.get("/api/executions/{execution_id}")
def get_execution(
    request: Request,
    execution_id: int,
    errors_cursor: str | None = None,
    errors_limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """One execution: counts, error, its record errors (paged by ``errors_cursor``), its job's progress while
    it runs, and a snapshot's file."""
    return data.execution(_app(request), execution_id, errors_cursor=errors_cursor or None, errors_limit=errors_limit)


# ---------------------------------------------------------------------------------------------- actions
@router.post("/api/shops/{shop_id}/snapshots/{kind}", status_code=202)
def request_snapshot(request: Request, shop_id: int, kind: str) -> Response:
    """Queue a full snapshot (orders, products or customers); 202 with the execution that tracks it. A
    snapshot of that kind already waiting for the shop is answered with its execution instead."""
    if kind not in actions.SNAPSHOT_KINDS:
        kinds = ", ".join(actions.SNAPSHOT_KINDS)
        return error_response(422, "invalid_kind", f"unknown snapshot kind {kind!r} (kinds: {kinds})", "kind")
    app = _app(request)
    shop = _actionable(app, shop_id)
    execution_id = actions.request_snapshot(app, shop.id, kind)
    execution = actions.get_execution(app, execution_id)
    log.info("shop %s: %s snapshot requested from the web (execution %s)", shop.name, kind, execution_id)
    return JSONResponse(
        {
            "execution_id": execution_id,
            "job_id": execution.job_id,
            "shop_id": shop.id,
            "kind": kind,
            "execution": data.execution_view(execution),
        },
        status_code=202,
    )


@router.post("/api/shops/{shop_id}/run/{pipeline}", status_code=202)
def run_pipeline(request: Request, shop_id: int, pipeline: str) -> Response:
    """Run a pipeline for the shop now; 202 with the job id (that of the run already waiting, if any)."""
    if pipeline not in actions.PIPELINES:
        message = f"unknown pipeline {pipeline!r} (pipelines: {', '.join(actions.PIPELINES)})"
        return error_response(422, "invalid_pipeline", message, "pipeline")
    app = _app(request)
    shop = _actionable(app, shop_id)
    job_id = actions.run_pipeline(app, shop.id, pipeline)
    runs = [e for e in actions.list_executions(app, shop.id, pipeline=pipeline, limit=20) if e.job_id == job_id]
    log.info("shop %s: %s run from the web (job %s)", shop.name, pipeline, job_id)
    return JSONResponse(
        {
            "job_id": job_id,
            "shop_id": shop.id,
            "pipeline": pipeline,
            "execution_id": runs[0].id if runs else None,
        },
        status_code=202,
    )


@router.post("/api/executions/{execution_id}/retry", status_code=202)
def retry_execution(request: Request, execution_id: int) -> Response:
    """Retry a failed snapshot, from its stored file when intact; 202 with the new execution. 409 for any
    other execution (a run that is not a snapshot, or a snapshot that did not fail)."""
    app = _app(request)
    new_id = actions.retry_snapshot(app, execution_id)
    execution = actions.get_execution(app, new_id)
    return JSONResponse(
        {
            "execution_id": new_id,
            "job_id": execution.job_id,
            "retry_of": execution_id,
            "execution": data.execution_view(execution),
        },
        status_code=202,
    )


@router.post("/api/shops/{shop_id}/webhooks")
def register_webhooks(request: Request, shop_id: int, body: dict[str, Any] | None = None) -> Response:
    """Register the shop's webhooks (order:create, order:update, job:finished; snapshots need the last) to
    ``{"url": …}``, by default this server's ``/webhooks/shoptet``; 200 with the events newly registered."""
    app = _app(request)
    shop = _actionable(app, shop_id)
    url = (body or {}).get("url") or str(request.url_for("shoptet_webhook"))
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return error_response(
            422, "invalid_url", f"the webhook URL must start with http:// or https://, got {url!r}", "url"
        )
    new = shoptet_webhooks.register_webhooks(app, shop.id, url)
    log.info("shop %s: webhooks registered to %s from the web (%s)", shop.name, url, ", ".join(new) or "none new")
    return JSONResponse({"shop_id": shop.id, "url": url, "registered": new})


# ---------------------------------------------------------------------------------------------- parked
@router.get("/api/parked")
def list_parked(
    request: Request,
    shop_id: int | None = None,
    failing: bool = False,
    after_id: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Records parked after failing run after run (and dismissed ones; ``failing=true`` adds those still
    failing), by id: pass the last ``id`` back as ``after_id`` for the next page."""
    rows = actions.list_parked(_app(request), shop_id, include_failing=failing, after_id=after_id, limit=limit)
    return {"parked": [r.as_dict() for r in rows], "next_after_id": rows[-1].id if len(rows) == limit else None}


@router.post("/api/parked/{record_id}/retry", status_code=202)
def retry_parked(request: Request, record_id: int) -> Response:
    """Retry a parked (or dismissed) record now: its pipeline runs for the shop; 202 with the job id."""
    job_id = actions.retry_parked(_app(request), record_id)
    return JSONResponse({"id": record_id, "job_id": job_id}, status_code=202)


@router.post("/api/parked/{record_id}/dismiss")
def dismiss_parked(request: Request, record_id: int) -> dict[str, Any]:
    """Stop retrying a parked record; it stays listed as ``dismissed``."""
    return actions.dismiss_parked(_app(request), record_id).as_dict()


# ---------------------------------------------------------------------------------------------- webhooks
@webhooks.post("/webhooks/shoptet")
async def shoptet_webhook(request: Request) -> Response:
    """A Shoptet notification. The signature (``Shoptet-Webhook-Signature``, HMAC-SHA1 of the raw body)
    picks the shop; 401 when it matches none, and nothing is recorded or enqueued. 200 as soon as the event
    is recorded (a repeated delivery too, marked ``duplicate``): the fetch it causes runs as a job."""
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER)
    result = await run_in_threadpool(shoptet_webhooks.handle_webhook, _app(request), body, signature)
    return JSONResponse(
        {
            "status": "duplicate" if result.duplicate else "accepted",
            "message": result.action,
            "shop_id": result.shop_id,
            "event": result.event,
            "instance": result.instance,
            "event_id": result.event_id,
            "job_id": result.job_id,
            "execution_id": result.execution_id,
        }
    )
