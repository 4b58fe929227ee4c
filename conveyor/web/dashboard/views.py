"""The dashboard's HTML pages: server-rendered, each with a ``?fragment=1`` form that returns only its live
region, which the page script re-fetches and swaps in when a server-sent event says something changed.

Every page reads through :class:`~conveyor.web.backend.Backend`, the same facade as the JSON API, so a page
and its endpoint never disagree; every button posts to that API. Routes are plain ``def``: the backend is
synchronous (SQLAlchemy), so FastAPI runs them in its thread pool.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from conveyor.coordination.batches import BatchNotFoundError
from conveyor.errors import ConveyorError, JobNotFoundError
from conveyor.scheduler.errors import UnknownScheduleError
from conveyor.store.queries import error_class as error_class_of
from conveyor.web.backend import MAX_ID, Backend
from conveyor.web.dashboard import charts
from conveyor.web.dashboard.filters import FILTERS, GLOBALS

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the top navigation: ``key`` marks the active page, ``path`` is below the mount point."""

    key: str
    label: str
    path: str


#: The top navigation, in order. Data, not markup, so a pack (the commerce "Shops" pages) can append an
#: entry with :func:`add_nav_item` without touching the templates.
NAV: list[NavItem] = [
    NavItem("overview", "Overview", "/"),
    NavItem("jobs", "Jobs", "/jobs"),
    NavItem("failed", "Failed", "/failed"),
    NavItem("schedules", "Schedules", "/schedules"),
    NavItem("batches", "Batches", "/batches"),
    NavItem("locks", "Locks", "/locks"),
]


def add_nav_item(key: str, label: str, path: str) -> None:
    """Append a page to the navigation (once: adding the same key again replaces it in place)."""
    item = NavItem(key, label, path)
    for i, existing in enumerate(NAV):
        if existing.key == key:
            NAV[i] = item
            return
    NAV.append(item)


#: The dashboard's Jinja environment. Other packs render their own pages with it (``render``) so they share
#: the layout, filters and navigation; they may add a directory to its loader for their templates.
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters.update(FILTERS)
templates.env.globals.update(GLOBALS)
templates.env.globals.update(hour_chart=charts.hour_chart, day_chart=charts.day_chart)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True

router = APIRouter(include_in_schema=False)


def add_template_dir(path: str | Path) -> None:
    """Let another pack's templates ``{% extends "base.html" %}`` and import ``_macros.html``: its directory
    is searched after the dashboard's own."""
    loader = templates.env.loader
    assert loader is not None
    templates.env.loader = ChoiceLoader([loader, FileSystemLoader(str(path))])


#: The state tabs of the jobs page: (state, label); "" is every state.
STATE_TABS: list[tuple[str, str]] = [
    ("", "All"),
    ("available", "Available"),
    ("scheduled", "Scheduled"),
    ("executing", "Executing"),
    ("retryable", "Retrying"),
    ("completed", "Completed"),
    ("discarded", "Failed"),
    ("cancelled", "Cancelled"),
]


@cache
def _static_version(name: str) -> str:
    """A short content hash for cache busting: a deploy with a new stylesheet is seen at once."""
    try:
        return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def backend(request: Request) -> Backend:
    b: Backend = request.app.state.backend
    return b


def _base(request: Request) -> str:
    return str(request.scope.get("root_path") or "").rstrip("/")


def _fragment_url(request: Request) -> str:
    """This page's own URL with ``fragment=1``: what the page script re-fetches."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "fragment"]
    params.append(("fragment", "1"))
    return f"{request.url.path}?{urlencode(params)}"


def _failed_total(request: Request) -> int:
    return sum(q["counts"].get("discarded", 0) for q in backend(request).queues())


def render(
    request: Request,
    template: str,
    fragment: str | None,
    *,
    active: str,
    title: str,
    status_code: int = 200,
    chrome: bool = True,
    **context: Any,
) -> HTMLResponse:
    """Render ``template``, or only ``fragment`` when the request asks for ``?fragment=1`` (the live swap).

    Every response carries ``X-Conveyor-Failed`` (the failed-job count) so the page script keeps the
    navigation's badge current on whichever page is open, without a request of its own."""
    base = _base(request)
    failed = _failed_total(request) if chrome else 0
    auth = getattr(request.app.state, "auth", None)
    ctx: dict[str, Any] = {
        "base": base,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "nav_items": NAV,
        "active": active,
        "page_title": title,
        "now": time.time(),
        "fragment_url": _fragment_url(request),
        "failed_total": failed,
        "auth_enabled": bool(auth is not None and auth.enabled),
        "static_url": lambda name: f"{base}/static/{name}?v={_static_version(name)}",
        **context,
    }
    is_fragment = fragment is not None and request.query_params.get("fragment") == "1"
    response = templates.TemplateResponse(request, fragment if is_fragment and fragment else template, ctx, status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Conveyor-Failed"] = str(failed)
    return response


def _error_page(request: Request, status: int, title: str, message: str, back: tuple[str, str]) -> HTMLResponse:
    return render(
        request,
        "error.html",
        None,
        active="",
        title=title,
        status_code=status,
        message=message,
        back_path=back[0],
        back_label=back[1],
    )


def not_found_page(request: Request, message: str = "There is no page at this address.") -> HTMLResponse:
    """The dashboard's 404 page, for the application's handler of unknown HTML paths."""
    return _error_page(request, 404, "Not found", message, ("/", "Back to the overview"))


# ---------------------------------------------------------------------- overview
@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    return render(
        request,
        "overview.html",
        "_overview.html",
        active="overview",
        title="Overview",
        data=backend(request).overview(),
    )


# ---------------------------------------------------------------------- jobs
@router.get("/jobs", response_class=HTMLResponse)
def jobs(
    request: Request,
    state: str | None = None,
    queue: str | None = None,
    task: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
) -> Response:
    b = backend(request)
    filters = {
        "state": state or None,
        "queue": queue or None,
        "task": task or None,
        "q": (q or "").strip() or None,
        "cursor": cursor or None,
    }
    try:
        page = b.jobs(
            state=filters["state"],
            queue=filters["queue"],
            task=filters["task"],
            q=filters["q"],
            cursor=filters["cursor"],
        )
    except ConveyorError as exc:  # an unknown state or a cursor this server did not hand out
        return _error_page(request, 400, "Cannot list these jobs", str(exc), ("/jobs", "Show all jobs"))
    queues = b.queues()
    counts: dict[str, int] = {}
    for qu in queues:
        if filters["queue"] and qu["name"] != filters["queue"]:
            continue
        for st, n in qu["counts"].items():
            counts[st] = counts.get(st, 0) + n
    keep = {k: v for k, v in filters.items() if v and k in ("queue", "task", "q")}

    def url(**override: str | None) -> str:
        params = {**keep, **override}
        query = urlencode({k: v for k, v in params.items() if v})
        return f"{_base(request)}/jobs" + (f"?{query}" if query else "")

    conveyor = request.app.state.conveyor
    # Registered tasks for the filter; none when this process was started without the application (the
    # page then offers a text field). A filter for an unregistered task stays selectable.
    task_names = sorted(set(conveyor.tasks) | ({filters["task"]} if filters["task"] and conveyor.tasks else set()))
    queue_names = sorted({qu["name"] for qu in queues} | ({filters["queue"]} if filters["queue"] else set()))
    return render(
        request,
        "jobs.html",
        "_jobs.html",
        active="jobs",
        title="Jobs",
        page=page,
        filters=filters,
        state_tabs=STATE_TABS,
        state_counts=counts,
        tab_urls={key: url(state=key or None) for key, _ in STATE_TABS},
        next_url=url(state=filters["state"], cursor=page["next_cursor"]) if page["next_cursor"] else None,
        first_url=url(state=filters["state"]),
        queue_names=queue_names,
        task_names=task_names,
        live_match={k: v for k, v in (("queue", filters["queue"]), ("task", filters["task"])) if v},
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job(request: Request, job_id: int) -> Response:
    try:
        if not 0 < job_id <= MAX_ID:  # no job has it; the database would refuse the number
            raise JobNotFoundError(job_id)
        detail = backend(request).job(job_id)
    except JobNotFoundError:
        return _error_page(
            request,
            404,
            f"Job #{job_id} not found",
            "It may have been pruned after its retention period, or deleted from the failed store.",
            ("/jobs", "Show all jobs"),
        )
    return render(request, "job.html", "_job.html", active="jobs", title=f"#{job_id} {detail['task']}", job=detail)


# ---------------------------------------------------------------------- failed
@router.get("/failed", response_class=HTMLResponse)
def failed(request: Request, task: str | None = None, error_class: str | None = None) -> Response:
    b = backend(request)
    groups = b.failed_groups()
    if task and error_class:
        # The backend filters jobs by task; the error class is the first word of the newest error, the
        # same rule failed_groups() groups by.
        candidates = b.jobs(state="discarded", task=task, limit=200)["jobs"]
        failed_jobs = [j for j in candidates if error_class_of(j["last_error"]) == error_class][:50]
    else:
        failed_jobs = b.jobs(state="discarded", limit=25)["jobs"]
    base = _base(request)
    group_urls = [
        f"{base}/failed"
        if (g["task"], g["error_class"]) == (task, error_class)
        else f"{base}/failed?" + urlencode({"task": g["task"], "error_class": g["error_class"]})
        for g in groups
    ]
    return render(
        request,
        "failed.html",
        "_failed.html",
        active="failed",
        title="Failed jobs",
        groups=groups,
        group_urls=group_urls,
        failed_jobs=failed_jobs,
        selected_task=task if error_class else None,
        selected_error=error_class if task else None,
    )


# ---------------------------------------------------------------------- schedules
@router.get("/schedules", response_class=HTMLResponse)
def schedules(request: Request) -> Response:
    return render(
        request,
        "schedules.html",
        "_schedules.html",
        active="schedules",
        title="Automation settings",
        schedules=backend(request).schedules(),
    )


@router.get("/schedules/{key:path}", response_class=HTMLResponse)
def schedule(request: Request, key: str) -> Response:
    b = backend(request)
    try:
        detail = b.schedule(key)
    except UnknownScheduleError as exc:
        return _error_page(request, 404, "Schedule not found", str(exc), ("/schedules", "Show every schedule"))
    return render(
        request,
        "schedule.html",
        "_schedule.html",
        active="schedules",
        title=key,
        schedule=detail,
        runs=b.schedule_runs(key, 50),
    )


# ---------------------------------------------------------------------- batches
@router.get("/batches", response_class=HTMLResponse)
def batches(request: Request, cursor: str | None = None) -> Response:
    try:
        page = backend(request).batches(cursor=cursor or None)
    except ConveyorError as exc:
        return _error_page(request, 400, "Cannot list batches", str(exc), ("/batches", "Show the newest batches"))
    base = _base(request)
    return render(
        request,
        "batches.html",
        "_batches.html",
        active="batches",
        title="Batches",
        page=page,
        cursor=cursor,
        next_url=f"{base}/batches?" + urlencode({"cursor": page["next_cursor"]}) if page["next_cursor"] else None,
        first_url=f"{base}/batches",
    )


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch(request: Request, batch_id: int) -> Response:
    try:
        if not 0 < batch_id <= MAX_ID:
            raise BatchNotFoundError(batch_id)
        detail = backend(request).batch(batch_id)
    except BatchNotFoundError as exc:
        return _error_page(request, 404, f"Batch #{batch_id} not found", str(exc), ("/batches", "Show every batch"))
    return render(
        request,
        "batch.html",
        "_batch.html",
        active="batches",
        title=detail["name"] or f"Batch #{batch_id}",
        batch=detail,
    )


# ---------------------------------------------------------------------- locks
@router.get("/locks", response_class=HTMLResponse)
def locks(request: Request) -> Response:
    return render(request, "locks.html", "_locks.html", active="locks", title="Locks", locks=backend(request).locks())


# ---------------------------------------------------------------------- login
@router.get("/login", response_class=HTMLResponse)
def login(request: Request, next: str = "/", error: str | None = None) -> Response:
    auth = getattr(request.app.state, "auth", None)
    if auth is None or not auth.enabled:
        return RedirectResponse(f"{_base(request)}/", status_code=303)
    return login_page(request, next, error)


def login_page(
    request: Request, next: str, error: str | None, *, status_code: int = 200, retry_after: int | None = None
) -> HTMLResponse:
    """The sign-in form; ``error`` is "invalid", "expired" or "throttled" (then ``retry_after`` seconds)."""
    auth = request.app.state.auth
    safe_next = next if next.startswith("/") and not next.startswith("//") else "/"
    return render(
        request,
        "login.html",
        None,
        active="",
        title="Sign in",
        status_code=status_code,
        chrome=False,
        methods=auth.methods,
        error=error,
        retry_after=retry_after,
        next=safe_next,
    )
