"""What several resources' routes share: change logs, detail answers, the snapshot prerequisite."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from conveyor.commerce.shoptet.simulator.data import format_time
from conveyor.commerce.shoptet.simulator.responses import (
    ApiError,
    ShoptetJSON,
    dumps,
    envelope,
    page_params,
    paginate,
    rid_of,
    time_param,
    truncated,
)
from conveyor.commerce.shoptet.simulator.state import Simulator


def detail_response(
    request: Request, sim: Simulator, kind: str, index: int, data: dict[str, Any], wrap: str | None
) -> Response:
    """A detail envelope, malformed if the seed says this record is."""
    rendered = sim.render(kind, index, data)
    if rendered is None:
        body = {"data": {wrap: data} if wrap else data, "errors": None, "metadata": {"requestId": rid_of(request)}}
        return ShoptetJSON(truncated(dumps(body)))
    return envelope(request, {wrap: rendered} if wrap else rendered)


def changes_page(request: Request, sim: Simulator, kind: str, key: str, default: int, maximum: int) -> Response:
    raw_from = request.query_params.get("from")
    if not raw_from:
        raise ApiError(400, "missing-parameter", 'Missing value for parameter "from".', "from")
    since = time_param(request, "from")
    assert since is not None
    change_type = request.query_params.get("changeType")
    if change_type not in (None, "", "edit", "delete"):
        raise ApiError(
            400, "invalid-parameter", 'Invalid "changeType" parameter. Use "edit" or "delete".', "changeType"
        )
    page, per_page = page_params(request, default, maximum)
    changes = [] if change_type == "delete" else sim.data.changes(kind, since, sim.clock())
    window, paginator = paginate(len(changes), page, per_page)
    items = [
        {key: c.key, "changeTime": format_time(c.change_time), "changeType": c.change_type} for c in changes[window]
    ]
    return envelope(request, {"changes": items, "paginator": paginator})


def require_job_webhook(sim: Simulator) -> None:
    if not sim.has_webhook("job:finished"):
        raise ApiError(
            403,
            "job-finished-webhook-missing",
            "Asynchronous requests require a registered job:finished webhook. Register it with POST /api/webhooks.",
            "job:finished",
        )
