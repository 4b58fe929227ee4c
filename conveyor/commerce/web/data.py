"""What the Shops API and the Shops pages show, as JSON-ready dicts.

One module for both, so a page and its endpoint never disagree (the same rule as ``conveyor.web.backend``).
Everything here only reads: shops, their sync cursors, pipeline executions with their record errors, and
the progress a running execution's job reports. Nothing here decrypts credentials, so the pages work in a
web process that has no ``CONVEYOR_COMMERCE_SECRET_KEY`` (only the actions and webhooks need it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from conveyor import Conveyor, JobNotFoundError, clock
from conveyor.commerce import store
from conveyor.commerce.shoptet.actions import PIPELINES, SNAPSHOT_KINDS, snapshot_file_of
from conveyor.commerce.shoptet.pack import PLATFORM
from conveyor.commerce.shoptet.snapshots import pipeline_name
from conveyor.commerce.shoptet.sync import STALLED
from conveyor.commerce.store import Execution, ExecutionStatus, Shop
from conveyor.commerce.store.schema import sync_cursors
from conveyor.web.extensions import decode_cursor, encode_cursor, progress_view

#: Newest executions shown with each shop in ``GET /api/shops`` and on the Shops page.
RECENT = 5
#: Executions per page of the pipeline log (API default and the page).
PAGE = 50
#: Record errors shown under an execution in the pipeline log (the API pages through all of them).
ERRORS_SHOWN = 20

#: How each pipeline reads on screen; the name itself is shown too, as the CLI and the API spell it.
PIPELINE_LABELS: dict[str, str] = {
    "orders.fetch_new": "New and changed orders",
    "products.import_master": "Products from the master shop",
    "customers.backfill_from_orders": "Customers from guest orders",
    "orders.fetch_one": "One order (webhook)",
    **{pipeline_name(kind): f"Full snapshot of {kind}" for kind in SNAPSHOT_KINDS},
}


@dataclass(frozen=True)
class Action:
    """A pipeline a shop's page offers to start: run now (``run``) or request a snapshot (``snapshot``)."""

    pipeline: str
    kind: str
    label: str
    button: str
    path: str


def actions(shop: Shop) -> list[Action]:
    """What can be started for this shop. Only Shoptet has pipelines so far; another platform's shop is
    listed with its executions and no buttons."""
    if shop.platform != PLATFORM:
        return []
    runs = [Action(p, "run", PIPELINE_LABELS.get(p, p), "Run now", f"/api/shops/{shop.id}/run/{p}") for p in PIPELINES]
    snaps = [
        Action(
            pipeline_name(kind),
            "snapshot",
            PIPELINE_LABELS[pipeline_name(kind)],
            f"Snapshot {kind}",
            f"/api/shops/{shop.id}/snapshots/{kind}",
        )
        for kind in SNAPSHOT_KINDS
    ]
    return runs + snaps


# ---------------------------------------------------------------------------------------------- views
def execution_view(e: Execution, *, now: float | None = None) -> dict[str, Any]:
    """One execution as the API returns it. ``duration`` runs on while the execution does; ``retryable``
    says whether ``POST /api/executions/{id}/retry`` accepts it (a failed snapshot)."""
    now = clock.now() if now is None else now
    end = e.finished_at if e.finished_at is not None else (now if e.status is ExecutionStatus.RUNNING else None)
    c = e.counts
    return {
        "id": e.id,
        "shop_id": e.shop_id,
        "feed_task_id": e.feed_task_id,
        "pipeline": e.pipeline,
        "label": PIPELINE_LABELS.get(e.pipeline, e.pipeline),
        "trigger": e.trigger,
        "status": e.status.value,
        "job_id": e.job_id,
        "queued_at": e.queued_at,
        "started_at": e.started_at,
        "finished_at": e.finished_at,
        "duration": None if e.started_at is None or end is None else max(0.0, end - e.started_at),
        "counts": {
            "read": c.read,
            "created": c.created,
            "updated": c.updated,
            "unchanged": c.unchanged,
            "failed": c.failed,
        },
        "error": e.error,
        "retryable": e.pipeline.startswith("snapshot.") and e.status is ExecutionStatus.ERROR,
    }


def _shop_fields(shop: Shop) -> dict[str, Any]:
    return {
        "id": shop.id,
        "name": shop.name,
        "platform": shop.platform,
        "base_url": shop.base_url,
        "is_master": shop.is_master,
        "timezone": shop.timezone,
        "created_at": shop.created_at,
        "updated_at": shop.updated_at,
    }


def _cursors(conn: Connection, shop_ids: Sequence[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Every cursor of these shops, in one query on the (shop_id, key) primary key: where each incremental
    sync got to, and a waiting snapshot's pending export (``snapshot.orders.pending``)."""
    found: dict[int, dict[str, dict[str, Any]]] = {shop_id: {} for shop_id in shop_ids}
    if not shop_ids:
        return found
    c = sync_cursors.c
    rows = conn.execute(
        select(c.shop_id, c.key, c.value, c.updated_at).where(c.shop_id.in_(list(shop_ids))).order_by(c.shop_id, c.key)
    )
    for shop_id, key, value, updated_at in rows:
        found[int(shop_id)][str(key)] = {"value": value, "updated_at": updated_at}
    return found


def _stalls(cursors: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Why a cursor does not move (``{"reason", "since", "runs"}``), by cursor: kept in the sync state next to
    the cursor, but not a cursor itself, so it is not listed as one."""
    stalls: dict[str, dict[str, Any]] = {}
    for key, raw in cursors.items():
        if key.endswith(STALLED):
            try:
                stalls[key.removesuffix(STALLED)] = dict(json.loads(raw["value"]))
            except (TypeError, ValueError):
                stalls[key.removesuffix(STALLED)] = {"reason": str(raw["value"]), "since": raw["updated_at"], "runs": 1}
    return stalls


def _shop_view(conn: Connection, shop: Shop, cursors: dict[str, dict[str, Any]], now: float) -> dict[str, Any]:
    pipelines = []
    for action in actions(shop):
        # One lookup per pipeline on ix_commerce_executions_pipeline (shop, pipeline, id): constant cost
        # however long the log is.
        last = store.list_executions(conn, shop.id, pipeline=action.pipeline, limit=1)
        pipelines.append(
            {
                "pipeline": action.pipeline,
                "label": action.label,
                "kind": action.kind,
                "action": {"method": "POST", "path": action.path, "label": action.button},
                "last_execution": execution_view(last[0], now=now) if last else None,
            }
        )
    recent = store.list_executions(conn, shop.id, limit=RECENT)
    return {
        **_shop_fields(shop),
        "cursors": {key: value for key, value in cursors.items() if not key.endswith(STALLED)},
        "stalls": _stalls(cursors),
        "pipelines": pipelines,
        "last_executions": [execution_view(e, now=now) for e in recent],
    }


def shops(app: Conveyor) -> list[dict[str, Any]]:
    """Every shop (any platform), by id, with its cursors, the last run of each of its pipelines, and its
    newest executions."""
    now = clock.now()
    with app.read_transaction() as conn:
        found = store.list_shops(conn)
        cursors = _cursors(conn, [s.id for s in found])
        return [_shop_view(conn, s, cursors[s.id], now) for s in found]


def shop(app: Conveyor, shop_id: int) -> dict[str, Any]:
    """One shop as in :func:`shops`; :class:`~conveyor.commerce.store.ShopNotFoundError` if there is none."""
    with app.read_transaction() as conn:
        found = store.get_shop(conn, shop_id)
        return _shop_view(conn, found, _cursors(conn, [shop_id])[shop_id], clock.now())


def executions(
    app: Conveyor, shop_id: int, *, cursor: str | None = None, limit: int = PAGE, pipeline: str | None = None
) -> dict[str, Any]:
    """A page of the shop's pipeline log, newest first: ``{"executions", "next_cursor"}``. Keyset over
    (shop, id): pass ``next_cursor`` back as ``cursor``; a cursor this server did not hand out raises
    :class:`~conveyor.web.backend.InvalidCursorError` (400), an unknown shop ``ShopNotFoundError`` (404)."""
    before = decode_cursor(cursor)
    now = clock.now()
    with app.read_transaction() as conn:
        store.get_shop(conn, shop_id)
        rows = store.list_executions(conn, shop_id, pipeline=pipeline, before_id=before, limit=limit + 1)
    page = rows[:limit]
    return {
        "executions": [execution_view(e, now=now) for e in page],
        "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
    }


def execution(
    app: Conveyor, execution_id: int, *, errors_cursor: str | None = None, errors_limit: int = 100
) -> dict[str, Any]:
    """One execution with its shop, a page of its record errors (``errors_next_cursor`` for the rest), its
    job's state and progress while it runs, and, for a snapshot, the file it imports."""
    after = decode_cursor(errors_cursor) or 0
    with app.read_transaction() as conn:
        e = store.get_execution(conn, execution_id)
        shop_row = None if e.shop_id is None else store.get_shop(conn, e.shop_id)
        errors = store.list_errors(conn, execution_id, after_id=after, limit=errors_limit + 1)
    file = snapshot_file_of(app, execution_id) if e.pipeline.startswith("snapshot.") else None
    page = errors[:errors_limit]
    view = execution_view(e)
    view.update(
        shop=None if shop_row is None else {"id": shop_row.id, "name": shop_row.name, "platform": shop_row.platform},
        errors=[error_view(err) for err in page],
        errors_next_cursor=encode_cursor(page[-1].id) if len(errors) > errors_limit else None,
        job=job_view(app, e.job_id),
        snapshot_file=None if file is None else _file_view(file),
    )
    return view


def error_view(err: store.ExecutionError) -> dict[str, Any]:
    """A record an execution could not import: its code (None when the record had none) and why."""
    return {
        "id": err.id,
        "record_code": err.record_code,
        "line": err.line,
        "reason": err.reason,
        "created_at": err.created_at,
    }


def _file_view(f: store.SnapshotFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "kind": f.kind,
        "path": f.path,
        "sha256": f.sha256,
        "size": f.size,
        "status": f.status.value,
        "downloaded_at": f.downloaded_at,
        "imported_at": f.imported_at,
        "error": f.error,
    }


def job_view(app: Conveyor, job_id: int | None) -> dict[str, Any] | None:
    """The job running an execution: state and progress (percent, rate, ETA), as the job page shows them.
    None when there is no job, or it was pruned after its retention period."""
    if job_id is None:
        return None
    try:
        rec = app.get_job(job_id)
    except JobNotFoundError:
        return None
    return {"id": rec.id, "state": rec.state.value, "progress": progress_view(rec.progress, rec.attempted_at)}


def with_jobs(app: Conveyor, views: Iterable[dict[str, Any]]) -> None:
    """Attach ``job`` (state and progress) to the executions still queued or running, in place: the pages
    draw their progress bars from it, and the dashboard's ``progress`` events move those bars live."""
    for view in views:
        if view["status"] in (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value):
            view["job"] = job_view(app, view["job_id"])


def record_errors(app: Conveyor, views: Iterable[dict[str, Any]], limit: int = ERRORS_SHOWN) -> None:
    """Attach the first ``limit`` record errors to each execution that reported failed records, in place
    (the pipeline log shows them expandable under the run). One indexed query per such execution."""
    wanted = [v for v in views if v["counts"]["failed"]]
    if not wanted:
        return
    with app.read_transaction() as conn:
        for view in wanted:
            view["errors"] = [error_view(err) for err in store.list_errors(conn, view["id"], limit=limit)]
