"""Answers in Shoptet's shape: the ``data``/``errors``/``metadata`` envelope, errors, request ids, and the
query parameters every list reads (paging, time windows, ``include``), refused the way Shoptet refuses them."""

from __future__ import annotations

import json
import math
import secrets
import time
import uuid
from typing import Any

from fastapi import Request, Response

from conveyor.commerce.shoptet.simulator.data import parse_time


class ApiError(Exception):
    """An error answered in Shoptet's envelope: ``{"data": null, "errors": [...], "metadata": {...}}``."""

    def __init__(
        self, status: int, code: str, message: str, instance: str = "unknown", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.instance = instance
        self.headers = headers or {}


def request_id() -> str:
    """A time-ordered UUIDv7, the shape of Shoptet's request ids (``019c8c34-64f3-7328-…``)."""
    ms = time.time_ns() // 1_000_000
    rand = secrets.randbits(74)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class ShoptetJSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else dumps(content)


def truncated(document: bytes) -> bytes:
    """A JSON document cut off two thirds of the way in: what a dropped connection or a buggy proxy delivers."""
    return document[: len(document) * 2 // 3]


def rid_of(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else request_id()


def envelope(request: Request, data: Any, status: int = 200, errors: list[dict[str, str]] | None = None) -> Response:
    return ShoptetJSON({"data": data, "errors": errors, "metadata": {"requestId": rid_of(request)}}, status_code=status)


def error_body(code: str, message: str, instance: str, rid: str) -> dict[str, Any]:
    return {
        "data": None,
        "errors": [{"errorCode": code, "message": message, "instance": instance}],
        "metadata": {"requestId": rid},
    }


def int_param(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400, "invalid-parameter", f'Invalid "{name}" parameter. Expected integer, got "{raw}".', name
        ) from None


def time_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise ApiError(400, "invalid-parameter", f'Invalid "{name}" parameter: {exc}.', name) from None


def list_param(request: Request, name: str, limit: int = 50) -> list[str] | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if not values:
        raise ApiError(400, "missing-parameter", f'Missing value for parameter "{name}".', name)
    if len(values) > limit:
        raise ApiError(
            400,
            "invalid-parameter",
            f'Invalid "{name}" parameter. Expected max. {limit} elements, but {len(values)} given.',
            name,
        )
    return values


def include_param(request: Request, known: frozenset[str]) -> frozenset[str]:
    """Requested ``include`` sections this simulator renders; others are accepted and ignored."""
    raw = request.query_params.get("include") or ""
    return frozenset(part.strip() for part in raw.split(",") if part.strip() in known)


def page_params(request: Request, default: int, maximum: int) -> tuple[int, int]:
    """(page, itemsPerPage); an itemsPerPage over ``maximum`` is clamped silently, as Shoptet does."""
    page = int_param(request, "page", 1)
    per_page = int_param(request, "itemsPerPage", default)
    assert page is not None and per_page is not None
    if page < 1:
        raise ApiError(
            400, "invalid-parameter", f'Invalid "page" parameter. Expected positive integer, got {page}.', "page"
        )
    if per_page < 1:
        raise ApiError(
            400,
            "invalid-parameter",
            f'Invalid "itemsPerPage" parameter. Expected positive integer, got {per_page}.',
            "itemsPerPage",
        )
    return page, min(per_page, maximum)


def within(value: float, low: float | None, high: float | None) -> bool:
    """``low <= value <= high``, an open bound when None (Shoptet's From/To filters are inclusive)."""
    return (low is None or value >= low) and (high is None or value <= high)


def paginate(total: int, page: int, per_page: int) -> tuple[slice, dict[str, int]]:
    start = (page - 1) * per_page
    on_page = max(0, min(per_page, total - start))
    paginator = {
        "totalCount": total,
        "page": page,
        "pageCount": math.ceil(total / per_page),
        "itemsOnPage": on_page,
        "itemsPerPage": per_page,
    }
    return slice(start, start + on_page), paginator
