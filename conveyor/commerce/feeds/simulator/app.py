"""The supplier feed simulator: a FastAPI app serving realistic feeds the way suppliers' servers do.

Endpoints:

* ``GET /feeds/{supplier}/{file}`` — ``stock.csv``, ``heureka.xml``, ``google.xml`` and each ``….gz`` (see
  :mod:`.formats`). Bodies stream with chunked transfer encoding (a supplier's script writes the feed as it
  reads its database), each with ``ETag`` and ``Last-Modified``; ``If-None-Match`` (preferred) or
  ``If-Modified-Since`` answers 304. Query: ``fault=a,b`` injects faults into this request, ``etag=0`` serves the
  same bytes without validators (and ignores conditional headers), like a server that has none.
* ``GET /`` — the suppliers and feed URLs, as JSON.
* ``POST /_sim/advance?generations=1`` — begin new generations now (a share of items change); ``GET /_sim/stats``
  — request counters; ``GET /_sim/health``.

Choices made where real servers differ: auth is checked before the path (a 401 does not tell whether a feed
exists); an unknown supplier or file is a plain-text 404; 401/500 bodies are plain text; the ``html200`` page
is a Czech "try again later" page, as shared hostings serve; ``garbage`` is 64 KiB of random bytes under the
feed's own Content-Type; a deliberately truncated response is not logged as the server error it looks like.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from email.utils import formatdate, parsedate_to_datetime

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from conveyor.commerce.feeds.simulator.config import FAULTS, SimulatorConfig
from conveyor.commerce.feeds.simulator.data import FeedView
from conveyor.commerce.feeds.simulator.formats import FORMATS, render
from conveyor.commerce.feeds.simulator.state import FeedSimulator

__all__ = ["DEFAULT_SUPPLIER", "HTML_ERROR_PAGE", "DeliberateCut", "create_app", "etag_for"]

#: The supplier the CLI and demos point at when none is named.
DEFAULT_SUPPLIER = "velkoobchod"

HTML_ERROR_PAGE = (
    '<!DOCTYPE html>\n<html lang="cs"><head><meta charset="utf-8"><title>Služba je dočasně nedostupná</title>'
    "</head>\n<body><h1>Omlouváme se</h1><p>Export se právě připravuje. Zkuste to prosím za několik minut."
    "</p></body></html>\n"
)
GARBAGE_BYTES = 64 * 1024


class DeliberateCut(Exception):
    """Raised mid-body by the ``truncated`` fault: the server closes the connection, as a crashed one would."""


class _HideDeliberateCuts(logging.Filter):
    """Keep uvicorn from logging a traceback for every truncated response the simulator makes on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BaseExceptionGroup):
            return not all(isinstance(inner, DeliberateCut) for inner in exc.exceptions)
        return not isinstance(exc, DeliberateCut)


def _quiet_deliberate_cuts() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _HideDeliberateCuts) for existing in logger.filters):
        logger.addFilter(_HideDeliberateCuts())


def etag_for(config: SimulatorConfig, supplier: str, name: str, generation: int, malformed: bool) -> str:
    """A strong ETag for one feed's content: the same inputs always give the same bytes, so the same tag."""
    parts = (
        config.seed,
        config.items,
        supplier,
        name,
        generation,
        config.change_share,
        config.text_stock_share,
        config.malformed_share if malformed else None,
    )
    return '"' + hashlib.sha256(repr(parts).encode()).hexdigest()[:24] + '"'


def create_app(config: SimulatorConfig | None = None, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """A FastAPI app serving simulated supplier feeds; its state is ``app.state.simulator``.

    ``clock`` decides when scheduled changes (``change_every``) fall due and what Last-Modified says.
    """
    config = config or SimulatorConfig()
    sim = FeedSimulator(config, clock)
    _quiet_deliberate_cuts()
    app = FastAPI(title="Supplier feed simulator", docs_url="/_sim/docs", openapi_url="/_sim/openapi.json")
    app.state.simulator = sim

    @app.get("/")
    async def index(request: Request) -> Response:
        """Where the feeds are."""
        sim.count("requests")
        base = str(request.base_url).rstrip("/")
        suppliers = list(config.suppliers) or [DEFAULT_SUPPLIER]
        return JSONResponse(
            {
                "items": config.items,
                "seed": config.seed,
                "generation": sim.now().generation,
                "suppliers": list(config.suppliers) or "any name",
                "feeds": [f"{base}/feeds/{supplier}/{name}" for supplier in suppliers for name in FORMATS],
            }
        )

    @app.get("/feeds/{supplier}/{name}")
    async def feed(supplier: str, name: str, request: Request) -> Response:
        """One supplier's feed file, with validators, auth and the faults asked for."""
        sim.count("requests")
        if config.latency:
            await asyncio.sleep(config.latency)
        faults = _faults(config, request)
        if isinstance(faults, Response):
            sim.record(f"{supplier}/{name}", faults.status_code, ())
            return faults
        response = await _serve(sim, supplier, name, faults, request)
        sim.record(f"{supplier}/{name}", response.status_code, faults)
        return response

    @app.post("/_sim/advance")
    async def advance(generations: int = 1) -> Response:
        """Begin ``generations`` new generations now: a ``change_share`` of items change in each."""
        sim.count("requests")
        if not 1 <= generations <= 10_000:
            return PlainTextResponse("generations must be between 1 and 10000\n", status_code=400)
        moment = await run_in_threadpool(sim.advance, generations)
        return JSONResponse(
            {
                "generation": moment.generation,
                "last_modified": formatdate(moment.last_modified, usegmt=True),
                "changed_items_per_generation": round(config.change_share * config.items),
            }
        )

    @app.get("/_sim/stats")
    async def stats() -> Response:
        sim.count("requests")
        return JSONResponse(sim.stats())

    @app.get("/_sim/health")
    async def health() -> Response:
        return JSONResponse({"ok": True})

    return app


def _faults(config: SimulatorConfig, request: Request) -> tuple[str, ...] | Response:
    """The configured faults plus those asked for in ``?fault=``; a 400 naming the known ones for a typo."""
    asked = [f.strip() for value in request.query_params.getlist("fault") for f in value.split(",") if f.strip()]
    unknown = [fault for fault in asked if fault not in FAULTS]
    if unknown:
        return PlainTextResponse(
            f"unknown fault {', '.join(unknown)}; known faults: {', '.join(FAULTS)}\n", status_code=400
        )
    wanted = set(config.faults) | set(asked)
    return tuple(fault for fault in FAULTS if fault in wanted)


async def _serve(sim: FeedSimulator, supplier: str, name: str, faults: tuple[str, ...], request: Request) -> Response:
    config = sim.config
    if "401" in faults or not _authorized(config, request):
        return _unauthorized(config)
    feed_format = FORMATS.get(name)
    if feed_format is None:
        return PlainTextResponse(f"404 Not Found: no feed {name!r}; feeds: {', '.join(FORMATS)}\n", status_code=404)
    if config.suppliers and supplier not in config.suppliers:
        return PlainTextResponse(f"404 Not Found: no supplier {supplier!r}\n", status_code=404)
    if "500" in faults:
        return PlainTextResponse("500 Internal Server Error\n", status_code=500)
    if "html200" in faults:
        return Response(HTML_ERROR_PAGE.encode("utf-8"), status_code=200, media_type="text/html; charset=utf-8")
    if "garbage" in faults:
        garbage = random.Random(config.seed).randbytes(GARBAGE_BYTES)
        return Response(garbage, status_code=200, media_type=feed_format.content_type)

    moment = sim.now()
    malformed = "malformed" in faults
    validators = config.etag and request.query_params.get("etag", "1").lower() not in ("0", "false", "no", "off")
    headers: dict[str, str] = {"Cache-Control": "no-cache"}
    if validators:
        tag = etag_for(config, supplier, name, moment.generation, malformed)
        headers["ETag"] = tag
        headers["Last-Modified"] = formatdate(moment.last_modified, usegmt=True)
        if _not_modified(request, tag, moment.last_modified):
            sim.count("not_modified")
            return Response(status_code=304, headers=headers)

    def chunks() -> Iterator[bytes]:
        view = FeedView(
            config.seed,
            config.items,
            supplier,
            moment.versions,
            text_stock_share=config.text_stock_share,
            malformed_share=config.malformed_share if malformed else 0.0,
        )
        return render(view, feed_format, config.rows_per_chunk)

    cut_at = None
    if "truncated" in faults:
        full = await run_in_threadpool(lambda: sum(len(chunk) for chunk in chunks()))
        headers["Content-Length"] = str(full)
        cut_at = full // 2
    slow = config.slow_seconds if "slow" in faults else 0.0
    return StreamingResponse(
        _body(sim, chunks(), slow=slow, cut_at=cut_at), headers=headers, media_type=feed_format.content_type
    )


async def _body(
    sim: FeedSimulator, chunks: Iterator[bytes], *, slow: float, cut_at: int | None
) -> AsyncIterator[bytes]:
    """Stream the chunks (rendered in a worker thread), holding back or cutting the body as the faults say."""
    if slow:
        await asyncio.sleep(slow)  # after the headers went out: the client now waits for the body
    sent = 0
    try:
        async for chunk in iterate_in_threadpool(chunks):
            if cut_at is not None and sent + len(chunk) >= cut_at:
                part = chunk[: cut_at - sent]
                if part:
                    sent += len(part)
                    yield part
                raise DeliberateCut(f"truncated on purpose after {sent} bytes")
            sent += len(chunk)
            yield chunk
    finally:
        sim.count("bytes_sent", sent)


def _authorized(config: SimulatorConfig, request: Request) -> bool:
    if config.username is None and config.api_key is None:
        return True
    if config.api_key is not None:
        given = request.headers.get(config.api_key_header)
        if given is not None and hmac.compare_digest(given.encode(), config.api_key.encode()):
            return True
    if config.username is not None and config.password is not None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return bool(sep) and (
                hmac.compare_digest(user.encode(), config.username.encode())
                & hmac.compare_digest(password.encode(), config.password.encode())
            )
    return False


def _unauthorized(config: SimulatorConfig) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="supplier feeds", charset="UTF-8"'} if config.username else {}
    return PlainTextResponse("401 Unauthorized: this feed needs credentials\n", status_code=401, headers=headers)


def _not_modified(request: Request, etag: str, last_modified: int) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; If-Modified-Since only without it."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        # Weak comparison: W/"x" matches "x" (§8.8.3.2).
        return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False  # an unparsable date is ignored, as the RFC says
        return last_modified <= since
    return False
