"""The FastAPI application: JSON API, dashboard pages, server-sent events, ``/metrics`` and health checks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from conveyor.coordination.batches import BatchNotFoundError
from conveyor.errors import (
    ConveyorError,
    InvalidJobError,
    InvalidStateError,
    JobNotFoundError,
    SchemaOutdatedError,
    UnknownQueueError,
)
from conveyor.scheduler.errors import (
    InvalidCronError,
    InvalidParamsError,
    OrphanedScheduleError,
    ScheduleOverlapError,
    UnknownScheduleError,
    UnknownTimezoneError,
    UnsupportedScheduleError,
)
from conveyor.web import api, security
from conveyor.web.api import LockNotFoundError
from conveyor.web.backend import Backend, InvalidCursorError
from conveyor.web.metrics import registry_for
from conveyor.web.monitor import Monitor

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.web")
#: Where the Swagger UI files of the ``swagger-ui-bundle-v2`` package are served (no CDN: docs work offline).
DOCS_ASSETS = "/api/docs/assets"

#: error type -> (HTTP status, machine-readable code, the request field it is about)
ERRORS: list[tuple[type[ConveyorError], int, str, str | None]] = [
    (JobNotFoundError, 404, "job_not_found", None),
    (BatchNotFoundError, 404, "batch_not_found", None),
    (UnknownScheduleError, 404, "schedule_not_found", None),
    (LockNotFoundError, 404, "lock_not_found", None),
    (UnknownQueueError, 404, "queue_not_found", "queue"),
    (InvalidJobError, 422, "invalid_job", None),
    (InvalidCursorError, 400, "invalid_cursor", "cursor"),
    (InvalidCronError, 422, "invalid_cron", "cron"),
    (UnknownTimezoneError, 422, "invalid_timezone", "timezone"),
    (InvalidParamsError, 422, "invalid_params", "params"),
    (InvalidStateError, 409, "invalid_state", None),
    (ScheduleOverlapError, 409, "schedule_busy", None),
    (OrphanedScheduleError, 409, "schedule_orphaned", None),
    (UnsupportedScheduleError, 409, "schedule_unsupported", None),
]


def error_response(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    return JSONResponse({"error": body}, status_code=status)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def create_app(
    conveyor: Conveyor,
    *,
    monitor: Monitor | None = None,
    start_monitor: bool = True,
) -> FastAPI:
    """The web application for ``conveyor``. ``start_monitor=False`` leaves the background monitor off
    (tests drive the ASGI app directly; reads then refresh the snapshot on demand)."""
    auth = security.Auth.from_settings(conveyor.settings)
    monitor = monitor or Monitor(conveyor)
    backend = Backend(conveyor, monitor)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_monitor:
            monitor.start()
        try:
            yield
        finally:
            monitor.stop()

    throttle = security.LoginThrottle(conveyor.settings.web_login_attempts, conveyor.settings.web_login_lockout_seconds)
    allowed_hosts = list(conveyor.settings.web_allowed_hosts)

    app = FastAPI(
        title="Conveyor",
        summary="Queues, jobs, failures, schedules, batches and locks",
        docs_url=None,  # served below from the installed Swagger UI package: the docs work offline
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    # Bodies without a Content-Length (chunked) are cut off here; declared lengths are refused with a JSON
    # error by ``guard`` below, which wraps this middleware.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=conveyor.settings.web_max_body_bytes)
    app.state.conveyor = conveyor
    app.state.backend = backend
    app.state.auth = auth
    app.state.login_throttle = throttle
    registry = registry_for(monitor)

    # ------------------------------------------------------------------ errors
    for exc_type, status, code, field in ERRORS:

        def handler(
            _r: Request, exc: Exception, status: int = status, code: str = code, field: str | None = field
        ) -> Response:
            return error_response(status, code, str(exc), field)

        app.add_exception_handler(exc_type, handler)

    @app.exception_handler(ConveyorError)
    def conveyor_error(_r: Request, exc: ConveyorError) -> Response:
        return error_response(400, "error", str(exc))

    @app.exception_handler(RequestValidationError)
    def invalid_request(_r: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or None
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        if first.get("type") == "json_invalid":
            message, field = "the request body is not valid JSON", None
        elif field:
            message = f"{field}: {message}"
        details = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")} for e in exc.errors()]
        return error_response(422, "invalid_request", message, field, details=details)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and _wants_html(request):
            from conveyor.web.dashboard import not_found_page

            return not_found_page(request)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large", 401: "unauthorized"}
        message = {413: f"request body over {conveyor.settings.web_max_body_bytes} bytes"}.get(
            exc.status_code, str(exc.detail)
        )
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), message)

    # ------------------------------------------------------------------ hosts, auth, CSRF, headers
    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await _guard(request, call_next)
        for name, value in security.SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        server = request.scope.get("server")
        host = request.headers.get("host")
        if not security.host_allowed(host, server[0] if server else None, allowed_hosts):
            name = security.host_name(host or "")
            log.warning("refused a request for host %r (not in CONVEYOR_WEB_ALLOWED_HOSTS)", name)
            return error_response(
                400,
                "host_not_allowed",
                f"host {name!r} is not allowed: add it to CONVEYOR_WEB_ALLOWED_HOSTS (comma-separated) "
                "to serve the dashboard under that name",
            )
        if "\x00" in request.url.path or any("\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()):
            return error_response(
                400, "nul_byte", "the address contains a NUL byte (%00): no queue, job, schedule or text holds one"
            )
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > conveyor.settings.web_max_body_bytes:
            # Refused before reading a byte of it.
            return error_response(
                413, "body_too_large", f"request body over {conveyor.settings.web_max_body_bytes} bytes"
            )
        token = request.cookies.get(security.CSRF_COOKIE)
        fresh = token is None
        request.state.csrf_token = token or security.new_csrf_token()
        path = request.url.path
        header = request.headers.get("authorization")
        client = request.client.host if request.client else "?"
        scheme = None
        if auth.enabled and header:
            if throttle.retry_after(client) > 0:
                return _throttled(client)
            scheme = auth.check_header(header)
            if scheme is None:
                throttle.failed(client)
        signed_in = scheme is not None or auth.check_session(request.cookies.get(security.SESSION_COOKIE))
        if auth.enabled and not security.is_public(path) and not signed_in:
            if request.method == "GET" and _wants_html(request):
                return RedirectResponse(f"/login?next={quote(str(request.url.path))}", status_code=303)
            resp = error_response(401, "unauthorized", "authentication required: send a bearer token or log in")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="conveyor"'
            return resp
        if (
            request.method not in security.SAFE_METHODS
            and scheme != "bearer"
            and security.from_browser(request)
            and path != "/login"  # the login form checks its own token field
            and not security.csrf_ok(request, request.headers.get(security.CSRF_HEADER))
        ):
            return error_response(
                403, "csrf_failed", "missing or wrong CSRF token: reload the page (send it in X-CSRF-Token)"
            )
        response = await call_next(request)
        # Only pages get the cookie: API clients (scripts) never hold one, so they are never taken for a
        # browser and need no CSRF token.
        if fresh and response.headers.get("content-type", "").startswith("text/html"):
            response.set_cookie(
                security.CSRF_COOKIE,
                request.state.csrf_token,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    # ------------------------------------------------------------------ health, metrics
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        try:
            conveyor.check_schema()
        except SchemaOutdatedError as exc:
            return error_response(503, "schema_outdated", str(exc))
        except Exception as exc:
            return error_response(503, "database_unreachable", f"database unreachable: {type(exc).__name__}: {exc}")
        return JSONResponse({"status": "ready", "database": conveyor.driver.name})

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ login
    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        nxt = str(form.get("next") or "/")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        if not security.csrf_ok(request, str(form.get("csrf_token") or "")):
            return RedirectResponse(f"/login?error=expired&next={quote(nxt)}", status_code=303)
        client = request.client.host if request.client else "?"
        if throttle.retry_after(client) > 0:
            return _throttled(client, request, nxt)
        ok = auth.check_token(str(form.get("token") or "")) or auth.check_password(
            str(form.get("username") or ""), str(form.get("password") or "")
        )
        if not ok:
            throttle.failed(client)
            log.warning("failed dashboard login from %s", client)
            return RedirectResponse(f"/login?error=invalid&next={quote(nxt)}", status_code=303)
        throttle.succeeded(client)
        resp = RedirectResponse(nxt, status_code=303)
        resp.set_cookie(
            security.SESSION_COOKIE,
            auth.new_session(),
            max_age=security.SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(security.SESSION_COOKIE)
        return resp

    def _throttled(client: str, request: Request | None = None, nxt: str = "/") -> Response:
        """429 for a client that failed to sign in too often: the login page for a browser, JSON otherwise."""
        wait = throttle.retry_after_header(client)
        message = f"too many failed sign-ins from {client}: try again in {wait} s"
        log.warning("throttled a sign-in from %s (%s s to wait)", client, wait)
        if request is not None:
            from conveyor.web.dashboard.views import login_page

            resp: Response = login_page(request, nxt, "throttled", status_code=429, retry_after=int(wait))
        else:
            resp = error_response(429, "too_many_attempts", message)
        resp.headers["Retry-After"] = wait
        return resp

    # ------------------------------------------------------------------ API docs, served offline
    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        root = str(request.scope.get("root_path") or "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/api/openapi.json",
            title="Conveyor API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
        )

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="api-docs-assets")

    app.include_router(api.router)
    for extend in conveyor.web_extensions:
        extend(app)
    _mount_dashboard(app)
    return app


def _mount_dashboard(app: FastAPI) -> None:
    from conveyor.web import dashboard

    app.include_router(dashboard.router)
    static = Path(dashboard.__file__).parent / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
