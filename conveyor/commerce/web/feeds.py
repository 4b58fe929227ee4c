"""The supplier feeds in the web app: integrations, their runs, the mapping editor and the links review, as a
JSON API and dashboard pages.

Everything goes through :mod:`conveyor.commerce.feeds.actions` (what ``conveyor feeds …`` calls), so a rule —
a run never overlaps another of its task, a mapping must name sku or ean, an unlinked item is never re-linked
automatically — is decided in one place. Lists are keyset-paginated with opaque cursors (``?cursor=`` →
``next_cursor``); errors have the API's shape ``{"error": {"code", "message", "field"?}}``.

=================================================  ==========================================================
``GET /api/suppliers``                             suppliers by id; ``POST`` adds one → 201
``GET /api/feeds``                                 integrations with supplier, tasks, last and next run, status
``POST /api/feeds``                                add a feed with its first import task → 201
``GET /api/feeds/{id}``                            one feed with its tasks and the first page of runs
``GET /api/feeds/{id}/runs``                       its runs, newest first (counts, outcome, error)
``POST /api/feeds/{id}/tasks``                     add an import task → 201
``POST /api/feeds/{id}/import``                    import now → 202 with the execution ids (409 while one runs)
``POST /api/feeds/{id}/dry-run``                   parse, map and report, write nothing → 202
``POST /api/feeds/{id}/link``                      auto-link the feed's supplier's items (queue ``integrations``)
``POST /api/feeds/link``                           auto-link every supplier's (or ``{"supplier"}``'s) items → 202
``GET /api/feeds/runs/{execution_id}``             one run
``GET /api/feeds/runs/{execution_id}/errors``      its bad rows with line numbers, in the order found
``GET /api/feeds/tasks/{id}``                      one task (mapping, ``last_headers``)
``POST /api/feeds/tasks/{id}/mapping``             save a new mapping (columns; value rules kept unless given)
``GET /api/feeds/tasks/{id}/preview``              the first rows as read and as mapped (downloads the feed)
``GET /api/feeds/supplier-items``                  the links review: ``status`` (unmatched, ambiguous by default)
``POST /api/feeds/supplier-items/{id}/link``       link by hand to ``{"sku"}`` or ``{"item_id"}``
``POST /api/feeds/supplier-items/{id}/unlink``     unlink by hand (auto-linking leaves it alone from then on)
``/integrations``, ``/integrations/{id}``          the pages; ``/integrations/runs/{execution_id}`` one run's
``/links``                                         bad rows; the links review
=================================================  ==========================================================
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from conveyor import ConfigurationError, Conveyor, ConveyorError
from conveyor.commerce import warehouse
from conveyor.commerce.feeds import actions
from conveyor.commerce.feeds.actions import FeedOverview, RunView
from conveyor.commerce.feeds.errors import FeedDownloadError, FeedError, FeedMappingError, FeedNotFoundError
from conveyor.commerce.feeds.parsing.mapping import MAPPED_FIELDS
from conveyor.commerce.store import ExecutionError
from conveyor.commerce.store import feeds as feed_store
from conveyor.commerce.store import links as link_store
from conveyor.commerce.store.feeds import FEED_FORMATS, FeedTask, Supplier, SupplierItem
from conveyor.commerce.warehouse.errors import ItemNotFoundError
from conveyor.commerce.web import data
from conveyor.scheduler import InvalidCronError
from conveyor.web.extensions import InvalidCursorError, decode_cursor, encode_cursor, error_response, not_found_page
from conveyor.web.extensions import render as render_page

log = logging.getLogger("conveyor.commerce.web")

api = APIRouter(tags=["supplier feeds"])
pages = APIRouter(include_in_schema=False)

#: Rows per page on the pages, and the API's default.
PAGE = 50
MAX_LIMIT = 500
#: Row errors shown under a run on the feed page (the run's page and the API page through all of them).
ERRORS_SHOWN = 10
#: Rows the mapping editor's preview shows.
PREVIEW_ROWS = 10

#: Labels of the mapped fields in the mapping editor.
FIELD_LABELS = {
    "sku": "SKU (the supplier's code)",
    "ean": "EAN",
    "stock_quantity": "Stock quantity",
    "delivery_days": "Delivery days",
    "purchase_price": "Purchase price",
    "name": "Name",
    "manufacturer_code": "Manufacturer code",
}

#: The feeds' exceptions → (status, code, field). A feed that cannot be fetched or read (a preview) is the
#: supplier's problem, told as 502 with the reason; a bad mapping is the request's, 422.
ERRORS: list[tuple[type[ConveyorError], int, str, str | None]] = [
    (FeedNotFoundError, 404, "not_found", None),
    (FeedMappingError, 422, "invalid_mapping", "mapping"),
    (FeedError, 502, "feed_unreadable", None),
]


def add_error_handlers(app: FastAPI) -> None:
    """Answer the feeds' exceptions in the API's error shape (see :data:`ERRORS`)."""
    for exc_type, status, code, field in ERRORS:

        def handler(
            _r: Request, exc: Exception, status: int = status, code: str = code, field: str | None = field
        ) -> Response:
            return error_response(status, code, str(exc), field)

        app.add_exception_handler(exc_type, handler)


def _app(request: Request) -> Conveyor:
    conveyor: Conveyor = request.app.state.conveyor
    return conveyor


def _base(request: Request) -> str:
    return str(request.scope.get("root_path") or "").rstrip("/")


def _num(value: Any) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


# ---------------------------------------------------------------------------------------------- views
def public_source(source: str) -> str:
    """A task's source without a password written into its URL (``https://user:***@host/…``)."""
    try:
        parts = urlsplit(source)
    except ValueError:
        return source
    if parts.password is None:
        return source
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def supplier_view(s: Supplier) -> dict[str, Any]:
    return {"id": s.id, "code": s.code, "name": s.name, "created_at": s.created_at}


def task_view(t: FeedTask) -> dict[str, Any]:
    """An import task: where from, format, its mapping and the columns its last file had."""
    return {
        "id": t.id,
        "feed_id": t.feed_id,
        "name": t.name,
        "source": public_source(t.source),
        "has_auth": t.has_auth,
        "format": t.format,
        "encoding": t.encoding,
        "item_path": t.item_path,
        "mappings": t.mappings,
        "last_headers": t.last_headers,
        "etag": t.etag,
        "last_modified": t.last_modified,
        "enabled": t.enabled,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    }


def run_view(rv: RunView) -> dict[str, Any]:
    """A run: its execution (status, trigger, times, counts, error) and what the run itself recorded."""
    run = rv.run
    return {
        **data.execution_view(rv.execution),
        "outcome": rv.outcome,
        "dry_run": run.dry_run,
        "row_limit": run.row_limit,
        "chunks": run.chunks,
        "chunks_done": run.chunks_done,
        "zeroed": run.zeroed,
        "size": run.size,
        "sha256": run.sha256,
        "details": run.details,
    }


def overview_view(o: FeedOverview) -> dict[str, Any]:
    """A feed as the Integrations list shows it."""
    return {
        "id": o.feed.id,
        "name": o.feed.name,
        "supplier": supplier_view(o.supplier),
        "schedule": o.feed.schedule,
        "enabled": o.feed.enabled,
        "status": o.status,
        "tasks": [task_view(t) for t in o.tasks],
        "last_run": None if o.last_run is None else run_view(o.last_run),
        "next_run_at": o.next_run_at,
        "created_at": o.feed.created_at,
        "updated_at": o.feed.updated_at,
    }


def error_view(err: ExecutionError) -> dict[str, Any]:
    """A bad row: its line in the file (the item's ordinal in XML), the supplier's code when known, why."""
    return data.error_view(err)


def supplier_item_view(si: SupplierItem, suppliers: dict[int, Supplier]) -> dict[str, Any]:
    """A supplier item with its linking verdict; an ambiguous one lists its candidate item ids."""
    supplier = suppliers.get(si.supplier_id)
    return {
        "id": si.id,
        "supplier_id": si.supplier_id,
        "supplier": supplier.code if supplier else None,
        "feed_task_id": si.feed_task_id,
        "supplier_code": si.supplier_code,
        "sku": si.sku,
        "ean": si.ean,
        "name": si.name,
        "manufacturer_code": si.manufacturer_code,
        "stock_quantity": _num(si.stock_quantity),
        "in_stock": si.in_stock,
        "delivery_days": si.delivery_days,
        "purchase_price": _num(si.purchase_price),
        "link_status": si.link_status,
        "link_note": None if si.link_status == link_store.AMBIGUOUS else si.link_note,
        "candidates": list(link_store.ambiguous_candidates(si.link_note))
        if si.link_status == link_store.AMBIGUOUS
        else [],
        "updated_at": si.updated_at,
    }


# ---------------------------------------------------------------------------------------------- reads
def _suppliers(app: Conveyor) -> dict[int, Supplier]:
    found: dict[int, Supplier] = {}
    after = 0
    while True:
        page = actions.list_suppliers(app, after_id=after, limit=1000)
        found.update({s.id: s for s in page})
        if len(page) < 1000:
            return found
        after = page[-1].id


def feeds_page(app: Conveyor, *, cursor: str | None = None, limit: int = PAGE) -> dict[str, Any]:
    """Integrations by id: ``{"feeds", "next_cursor"}``."""
    found = actions.list_feeds(app, after_id=decode_cursor(cursor) or 0, limit=limit + 1)
    page = found[:limit]
    return {
        "feeds": [overview_view(o) for o in page],
        "next_cursor": encode_cursor(page[-1].feed.id) if len(found) > limit else None,
    }


def runs_page(
    app: Conveyor, feed_id: int, *, cursor: str | None = None, limit: int = PAGE, errors: int = 0
) -> dict[str, Any]:
    """A feed's runs, newest first: ``{"runs", "next_cursor"}``; with ``errors``, the first bad rows of
    each run that had some (as ``errors``)."""
    found = actions.list_runs(app, feed_id, before_id=decode_cursor(cursor), limit=limit + 1)
    page = [run_view(r) for r in found[:limit]]
    if errors:
        for view in page:
            if view["counts"]["failed"]:
                view["errors"] = [error_view(e) for e in actions.row_errors(app, view["id"], limit=errors)]
    return {"runs": page, "next_cursor": encode_cursor(page[-1]["id"]) if len(found) > limit else None}


def feed_detail(app: Conveyor, feed_id: int) -> dict[str, Any]:
    """One feed as in the list, with its link counts."""
    overview = overview_view(actions.get_feed_overview(app, feed_id))
    overview["links"] = actions.link_summary(app, overview["supplier"]["id"])
    return overview


def errors_page(app: Conveyor, execution_id: int, *, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    """A run's bad rows in the order found: ``{"errors", "next_cursor"}``."""
    actions.get_run(app, execution_id)  # 404 for an execution that is not a feed run
    found = actions.row_errors(app, execution_id, after_id=decode_cursor(cursor) or 0, limit=limit + 1)
    page = found[:limit]
    return {
        "errors": [error_view(e) for e in page],
        "next_cursor": encode_cursor(page[-1].id) if len(found) > limit else None,
    }


def review_page(
    app: Conveyor,
    *,
    supplier: str | None = None,
    statuses: list[str] | None = None,
    cursor: str | None = None,
    limit: int = PAGE,
) -> dict[str, Any]:
    """Supplier items to review (unmatched and ambiguous by default): ``{"items", "next_cursor", "counts"}``,
    each ambiguous one with its candidate catalogue items (``candidate_items``)."""
    wanted = statuses or list(link_store.OPEN_STATUSES)
    unknown = sorted(set(wanted) - set(link_store.LINK_STATUSES))
    if unknown:
        raise InvalidStatusError(unknown)
    found = actions.review(
        app, supplier=supplier or None, statuses=wanted, after_id=decode_cursor(cursor) or 0, limit=limit + 1
    )
    page = found[:limit]
    suppliers = _suppliers(app)
    items = [supplier_item_view(si, suppliers) for si in page]
    wanted_ids = sorted({i for view in items for i in view["candidates"]})
    known: dict[int, dict[str, Any]] = {}
    for item_id in wanted_ids:
        try:
            found_item = warehouse.find_item(app, item_id)
        except ItemNotFoundError:
            continue
        known[item_id] = {"id": found_item.id, "sku": found_item.sku, "name": found_item.name, "ean": found_item.ean}
    for view in items:
        view["candidate_items"] = [known[i] for i in view["candidates"] if i in known]
    return {
        "items": items,
        "next_cursor": encode_cursor(page[-1].id) if len(found) > limit else None,
        "counts": actions.link_summary(app, supplier or None),
    }


class InvalidStatusError(ConveyorError):
    """A links review filter names a status that does not exist."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(f"unknown link status {', '.join(unknown)} (known: {', '.join(link_store.LINK_STATUSES)})")


# ---------------------------------------------------------------------------------------------- bodies
class SupplierBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)


class TaskBody(BaseModel):
    """An import task: its source (an http(s) URL or a local path), how its columns map, and its format."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    mappings: dict[str, Any]
    name: str = "default"
    format: str = "auto"
    encoding: str | None = None
    item_path: str | None = None


class FeedBody(TaskBody):
    """A feed integration with its first import task. ``schedule``: a cron (hourly by default; null: manual)."""

    supplier: str | int
    feed_name: str = Field(min_length=1, alias="feed")
    schedule: str | None = "0 * * * *"


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: int | None = None
    limit: int | None = Field(default=None, ge=1)


class LinkJobBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    supplier: str | int | None = None


class ManualLinkBody(BaseModel):
    """The catalogue item to link to: its SKU (what the page's form sends) or its id."""

    model_config = ConfigDict(extra="forbid")

    sku: str | None = None
    item_id: int | None = None


def _invalid(exc: ConveyorError, field: str | None = None) -> Response:
    return error_response(422, "invalid_request", str(exc), field)


# ---------------------------------------------------------------------------------------------- API: reads
@api.get("/api/suppliers")
def list_suppliers(
    request: Request, cursor: str | None = None, limit: int = Query(100, ge=1, le=MAX_LIMIT)
) -> dict[str, Any]:
    """Suppliers by id."""
    found = actions.list_suppliers(_app(request), after_id=decode_cursor(cursor) or 0, limit=limit + 1)
    page = found[:limit]
    return {
        "suppliers": [supplier_view(s) for s in page],
        "next_cursor": encode_cursor(page[-1].id) if len(found) > limit else None,
    }


@api.get("/api/feeds")
def list_feeds(
    request: Request, cursor: str | None = None, limit: int = Query(PAGE, ge=1, le=MAX_LIMIT)
) -> dict[str, Any]:
    """Integrations by id, each with its supplier, tasks, last run, next scheduled run and status."""
    return feeds_page(_app(request), cursor=cursor, limit=limit)


@api.get("/api/feeds/supplier-items")
def list_supplier_items(
    request: Request,
    supplier: str | None = None,
    status: list[str] | None = Query(None),
    cursor: str | None = None,
    limit: int = Query(PAGE, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """The links review: supplier items by id in the given statuses (``status`` repeats; default unmatched
    and ambiguous), the ambiguous ones with their candidates, and the counts per status."""
    return review_page(_app(request), supplier=supplier, statuses=status, cursor=cursor, limit=limit)


@api.get("/api/feeds/runs/{execution_id}")
def get_run(request: Request, execution_id: int) -> dict[str, Any]:
    """One import run: status, outcome, counts, error, file and chunk progress."""
    return run_view(actions.get_run(_app(request), execution_id))


@api.get("/api/feeds/runs/{execution_id}/errors")
def run_errors(
    request: Request, execution_id: int, cursor: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> dict[str, Any]:
    """A run's bad rows (line, the supplier's code, reason), in the order found."""
    return errors_page(_app(request), execution_id, cursor=cursor, limit=limit)


@api.get("/api/feeds/tasks/{task_id}")
def get_task(request: Request, task_id: int) -> dict[str, Any]:
    """One import task with its mapping and the columns of the last file it read (``last_headers``)."""
    app = _app(request)
    with app.read_transaction() as conn:
        return task_view(feed_store.get_feed_task(conn, task_id))


@api.get("/api/feeds/tasks/{task_id}/preview")
def preview_task(request: Request, task_id: int, n: int = Query(PREVIEW_ROWS, ge=1, le=100)) -> dict[str, Any]:
    """The first ``n`` rows of the task's feed as read and as its mapping maps them (the feed is downloaded;
    its columns become the task's ``last_headers``; nothing else is written). 502 when the feed cannot be
    fetched or read, 422 when the mapping names a column the feed lacks."""
    return preview_view(actions.preview_task(_app(request), task_id, n=n))


def preview_view(p: Any) -> dict[str, Any]:
    """A :class:`~conveyor.commerce.feeds.parsing.Preview` as JSON: headers, rows as read, rows as mapped
    (or the reason a row could not be)."""
    rows = []
    for line, values in p.rows:
        if isinstance(values, Exception):
            rows.append({"line": line, "error": str(values)})
        else:
            rows.append({"line": line, "values": values})
    mapped: list[dict[str, Any]] | None = None
    if p.mapped is not None:
        mapped = []
        for m in p.mapped:
            if isinstance(m, Exception):
                mapped.append({"line": getattr(m, "line", None), "error": getattr(m, "reason", str(m))})
            else:
                mapped.append(
                    {
                        "line": m.line,
                        "sku": m.sku,
                        "ean": m.ean,
                        "name": m.name,
                        "manufacturer_code": m.manufacturer_code,
                        "stock_quantity": m.quantity,
                        "in_stock": m.in_stock,
                        "at_least": m.at_least,
                        "delivery_days": m.delivery_days,
                        "purchase_price": _num(m.purchase_price),
                        "warnings": [str(w) for w in m.warnings],
                    }
                )
    return {"description": p.description, "headers": p.headers, "rows": rows, "mapped": mapped}


@api.get("/api/feeds/{feed_id}")
def get_feed(request: Request, feed_id: int, limit: int = Query(PAGE, ge=1, le=MAX_LIMIT)) -> dict[str, Any]:
    """One feed as in the list, with its link counts and the first page of its runs (``next_cursor``)."""
    app = _app(request)
    return {**feed_detail(app, feed_id), **runs_page(app, feed_id, limit=limit)}


@api.get("/api/feeds/{feed_id}/runs")
def feed_runs(
    request: Request, feed_id: int, cursor: str | None = None, limit: int = Query(PAGE, ge=1, le=MAX_LIMIT)
) -> dict[str, Any]:
    """The feed's import runs, newest first."""
    app = _app(request)
    actions.find_feed(app, feed_id)
    return runs_page(app, feed_id, cursor=cursor, limit=limit)


# ---------------------------------------------------------------------------------------------- API: actions
@api.post("/api/suppliers", status_code=201)
def add_supplier(request: Request, body: SupplierBody) -> Response:
    """Add a supplier (its code is unique: 422 when taken)."""
    try:
        supplier = actions.add_supplier(_app(request), body.code, body.name)
    except ConfigurationError as exc:
        return _invalid(exc, "code")
    return JSONResponse(supplier_view(supplier), status_code=201)


@api.post("/api/feeds", status_code=201)
def add_feed(request: Request, body: FeedBody) -> Response:
    """Add a feed integration with its first import task in one transaction; 422 (nothing written) for an
    unknown supplier, a taken name, a bad cron, format or mapping."""
    app = _app(request)
    try:
        feed, _task = actions.add_feed(
            app,
            body.supplier,
            body.feed_name,
            source=body.source,
            mappings=body.mappings,
            schedule=body.schedule or None,
            task_name=body.name,
            format=body.format,
            encoding=body.encoding or None,
            item_path=body.item_path or None,
        )
    except FeedNotFoundError as exc:
        return _invalid(exc, "supplier")
    except InvalidCronError as exc:
        return _invalid(exc, "schedule")
    except ConfigurationError as exc:
        return _invalid(exc)
    return JSONResponse(feed_detail(app, feed.id), status_code=201)


@api.post("/api/feeds/{feed_id}/tasks", status_code=201)
def add_task(request: Request, feed_id: int, body: TaskBody) -> Response:
    """Add an import task (another file) to a feed."""
    if body.format not in FEED_FORMATS:
        return error_response(
            422, "invalid_request", f"unknown feed format {body.format!r} (known: {', '.join(FEED_FORMATS)})", "format"
        )
    try:
        task = actions.add_task(
            _app(request),
            feed_id,
            source=body.source,
            mappings=body.mappings,
            name=body.name,
            format=body.format,
            encoding=body.encoding or None,
            item_path=body.item_path or None,
        )
    except ConfigurationError as exc:
        return _invalid(exc)
    return JSONResponse(task_view(task), status_code=201)


@api.post("/api/feeds/tasks/{task_id}/mapping")
def update_mapping(request: Request, task_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Save a new mapping. Column fields (sku, ean, stock_quantity, delivery_days, purchase_price, name,
    manufacturer_code) given replace the saved ones, null or "" unmaps one; the value rules (``stock_values``,
    ``delivery_values``, ``default_values``) are kept unless given. The mapping is checked first (422 names
    what is wrong, nothing saved); the next run imports the feed again even if it did not change."""
    app = _app(request)
    with app.read_transaction() as conn:
        task = feed_store.get_feed_task(conn, task_id)
    mapping = dict(task.mappings)
    for key, value in body.items():
        if key in MAPPED_FIELDS:
            text = None if value is None else str(value).strip()
            if text:
                mapping[key] = text
            else:
                mapping.pop(key, None)
        else:
            mapping[key] = value  # a value rule, or an unknown key the mapping's check names
    updated = actions.update_task(app, task_id, mappings=mapping)
    log.info("feed task %s: mapping changed from the web", task_id)
    return task_view(updated)


def _queued(app: Conveyor, feed_id: int, execution_ids: list[int], what: str) -> Response:
    return JSONResponse(
        {
            "feed_id": feed_id,
            "what": what,
            "execution_id": execution_ids[0] if execution_ids else None,
            "execution_ids": execution_ids,
            "runs": [run_view(actions.get_run(app, e)) for e in execution_ids],
        },
        status_code=202,
    )


@api.post("/api/feeds/{feed_id}/import", status_code=202)
def import_now(request: Request, feed_id: int, body: ImportBody | None = None) -> Response:
    """Import now: one run per enabled task (or ``task_id`` only), ``limit`` rows at most (never zeroes);
    202 with the execution ids. 409 while a run of a task is still going."""
    app = _app(request)
    body = body or ImportBody()
    ids = actions.request_import(app, feed_id, task_id=body.task_id, limit=body.limit, trigger="manual")
    return _queued(app, feed_id, ids, "import")


@api.post("/api/feeds/{feed_id}/dry-run", status_code=202)
def dry_run(request: Request, feed_id: int, body: ImportBody | None = None) -> Response:
    """Parse and map the feed and report its bad rows, writing no supplier item; 202 with the execution ids."""
    app = _app(request)
    body = body or ImportBody()
    ids = actions.request_import(app, feed_id, task_id=body.task_id, limit=body.limit, dry_run=True, trigger="manual")
    return _queued(app, feed_id, ids, "dry_run")


@api.post("/api/feeds/link", status_code=202)
def link_all(request: Request, body: LinkJobBody | None = None) -> Response:
    """Queue auto-linking (SKU, then a unique EAN) of every supplier's items, or of ``supplier``'s; 202 with
    the job id (a job already waiting for it is reused)."""
    app = _app(request)
    supplier = body.supplier if body else None
    try:
        job_id = actions.request_linking(app, supplier)
    except FeedNotFoundError as exc:
        return _invalid(exc, "supplier")
    return JSONResponse({"job_id": job_id, "supplier": supplier}, status_code=202)


@api.post("/api/feeds/{feed_id}/link", status_code=202)
def link_feed(request: Request, feed_id: int) -> Response:
    """Queue auto-linking of the feed's supplier's items; 202 with the job id."""
    app = _app(request)
    feed = actions.find_feed(app, feed_id)
    job_id = actions.request_linking(app, feed.supplier_id)
    return JSONResponse({"job_id": job_id, "feed_id": feed.id, "supplier_id": feed.supplier_id}, status_code=202)


@api.post("/api/feeds/supplier-items/{supplier_item_id}/link")
def link_item(request: Request, supplier_item_id: int, body: ManualLinkBody) -> Response:
    """Link a supplier item by hand to the catalogue item with this SKU (or id), replacing any link it had.
    422 when no catalogue item has that SKU (nothing changes)."""
    app = _app(request)
    ref: int | str
    if body.item_id is not None:
        ref = body.item_id
    elif body.sku and body.sku.strip():
        ref = body.sku.strip()
    else:
        return error_response(422, "invalid_request", "give the SKU of the catalogue item to link to", "sku")
    with app.read_transaction() as conn:
        feed_store.get_supplier_item(conn, supplier_item_id)  # 404 first: the address is wrong
    try:
        item = warehouse.find_item(app, ref)
    except ItemNotFoundError as exc:
        return error_response(422, "unknown_item", str(exc), "sku" if isinstance(ref, str) else "item_id")
    made = actions.link(app, supplier_item_id, item.id)
    return JSONResponse(
        {
            "id": made.id,
            "supplier_item_id": made.supplier_item_id,
            "item_id": made.item_id,
            "sku": item.sku,
            "method": made.method,
            "created_at": made.created_at,
        }
    )


@api.post("/api/feeds/supplier-items/{supplier_item_id}/unlink")
def unlink_item(request: Request, supplier_item_id: int) -> dict[str, Any]:
    """Unlink a supplier item by hand; it becomes ``unlinked`` and auto-linking leaves it alone from then on."""
    had = actions.unlink(_app(request), supplier_item_id)
    return {"supplier_item_id": supplier_item_id, "unlinked": True, "had_link": had}


# ---------------------------------------------------------------------------------------------- pages
def _url(base: str, path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "", False)}, doseq=True)
    return f"{base}{path}" + (f"?{query}" if query else "")


@pages.get("/integrations", response_class=HTMLResponse)
def integrations_page(request: Request, cursor: str | None = None) -> Response:
    """Every supplier feed: its supplier, schedule, last run (status, counts), next run and buttons."""
    app = _app(request)
    problem, status = None, 200
    try:
        page = feeds_page(app, cursor=cursor)
    except InvalidCursorError as exc:
        problem, status, cursor = str(exc), 400, None
        page = feeds_page(app)
    base = _base(request)
    return render_page(
        request,
        "commerce/feeds.html",
        None,
        active="integrations",
        title="Integrations",
        status_code=status,
        rows=page["feeds"],
        problem=problem,
        is_first=not cursor,
        next_url=_url(base, "/integrations", cursor=page["next_cursor"]) if page["next_cursor"] else None,
        first_url=_url(base, "/integrations"),
    )


@pages.get("/integrations/runs/{execution_id}", response_class=HTMLResponse)
def run_page(request: Request, execution_id: int, cursor: str | None = None) -> Response:
    """One run with all its bad rows, a page at a time."""
    app = _app(request)
    try:
        run = run_view(actions.get_run(app, execution_id))
    except FeedNotFoundError:
        return not_found_page(request, f"There is no feed import run #{execution_id}.")
    problem, status = None, 200
    try:
        page = errors_page(app, execution_id, cursor=cursor)
    except InvalidCursorError as exc:
        problem, status, cursor = str(exc), 400, None
        page = errors_page(app, execution_id)
    with app.read_transaction() as conn:
        task = feed_store.get_feed_task(conn, run["feed_task_id"])
        feed = feed_store.get_feed(conn, task.feed_id)
    base = _base(request)
    path = f"/integrations/runs/{execution_id}"
    return render_page(
        request,
        "commerce/feed_run.html",
        None,
        active="integrations",
        title=f"Run #{execution_id}",
        status_code=status,
        run=run,
        feed={"id": feed.id, "name": feed.name},
        task=task_view(task),
        errors=page["errors"],
        problem=problem,
        is_first=not cursor,
        next_url=_url(base, path, cursor=page["next_cursor"]) if page["next_cursor"] else None,
        first_url=_url(base, path),
    )


@pages.get("/integrations/{feed_id}", response_class=HTMLResponse)
def feed_page(request: Request, feed_id: int, cursor: str | None = None, preview: int | None = None) -> Response:
    """One feed: its tasks with the mapping editor (the last file's columns; ``?preview=TASK`` downloads the
    feed and shows its first rows as mapped), buttons, and its runs with counts and bad rows."""
    app = _app(request)
    try:
        feed = feed_detail(app, feed_id)
    except FeedNotFoundError:
        return not_found_page(request, f"There is no supplier feed #{feed_id}.")
    problem, status = None, 200
    try:
        runs = runs_page(app, feed_id, cursor=cursor, errors=ERRORS_SHOWN)
    except InvalidCursorError as exc:
        problem, status, cursor = str(exc), 400, None
        runs = runs_page(app, feed_id, errors=ERRORS_SHOWN)
    shown: dict[str, Any] | None = None
    if preview is not None and any(t["id"] == preview for t in feed["tasks"]):
        try:
            shown = {"task_id": preview, **preview_view(actions.preview_task(app, preview, n=PREVIEW_ROWS))}
        except (FeedError, FeedDownloadError) as exc:
            shown = {"task_id": preview, "error": str(exc)}
        feed = feed_detail(app, feed_id)  # the preview stored the file's columns: show them
    base = _base(request)
    path = f"/integrations/{feed_id}"
    return render_page(
        request,
        "commerce/feed.html",
        None,
        active="integrations",
        title=feed["name"],
        status_code=status,
        feed=feed,
        runs=runs["runs"],
        preview=shown,
        fields=[(f, FIELD_LABELS[f]) for f in MAPPED_FIELDS],
        problem=problem,
        errors_shown=ERRORS_SHOWN,
        is_first=not cursor,
        next_url=_url(base, path, cursor=runs["next_cursor"]) if runs["next_cursor"] else None,
        first_url=_url(base, path),
    )


@pages.get("/links", response_class=HTMLResponse)
def links_page(
    request: Request, supplier: str | None = None, status: str | None = None, cursor: str | None = None
) -> Response:
    """The links review: supplier items auto-linking could not place (unmatched, ambiguous), or those of
    another status, each with a form to link it by SKU, candidates to pick, or an Unlink button."""
    app = _app(request)
    problem, code = None, 200
    statuses = [status] if status else None
    try:
        page = review_page(app, supplier=supplier, statuses=statuses, cursor=cursor)
    except (InvalidCursorError, InvalidStatusError, FeedNotFoundError) as exc:
        problem, code, supplier, status, cursor = str(exc), 400, None, None, None
        page = review_page(app)
    base = _base(request)
    return render_page(
        request,
        "commerce/links.html",
        None,
        active="links",
        title="Links",
        status_code=code,
        rows=page["items"],
        counts=page["counts"],
        suppliers=[supplier_view(s) for s in _suppliers(app).values()],
        supplier=supplier or "",
        status=status or "",
        statuses=link_store.LINK_STATUSES,
        problem=problem,
        is_first=not cursor,
        next_url=_url(base, "/links", supplier=supplier, status=status, cursor=page["next_cursor"])
        if page["next_cursor"]
        else None,
        first_url=_url(base, "/links", supplier=supplier, status=status),
    )


def extend(app: FastAPI) -> None:
    """Add the feeds' API and pages to ``app`` (see :func:`conveyor.commerce.web.extend_feeds`)."""
    add_error_handlers(app)

    def bad_status(_r: Request, exc: Exception) -> Response:
        return error_response(422, "invalid_status", str(exc), "status")

    app.add_exception_handler(InvalidStatusError, bad_status)
    app.include_router(api)
    app.include_router(pages)
