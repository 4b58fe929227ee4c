"""The dashboard's Shops pages: every shop with its pipelines (``/shops``) and one shop's pipeline log
(``/shops/{id}``), drawn in the dashboard's layout with its macros and script.

Both read through :mod:`.data`, like the JSON API, and every button posts to that API. Both pages have the
``?fragment=1`` form the dashboard script re-fetches when a ``job`` event says a pipeline job was queued,
started or finished; running executions' progress bars are keyed by their job id, so ``progress`` events
move them without a fetch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader

from conveyor import Conveyor, ConveyorError
from conveyor.commerce.gtin import display_gtin
from conveyor.commerce.shoptet import actions
from conveyor.commerce.shoptet.pack import pack_of
from conveyor.commerce.store import ShopNotFoundError
from conveyor.commerce.web import data
from conveyor.web.extensions import InvalidCursorError, add_template_dir, not_found_page, render, templates

#: Our templates live under ``templates/commerce/``, so their names ("commerce/shops.html") can never
#: shadow the dashboard's own in the shared Jinja environment.
TEMPLATES_DIR = Path(__file__).parent / "templates"

router = APIRouter(include_in_schema=False)


def add_templates() -> None:
    """Let the dashboard's Jinja environment find our templates (searched after its own), once however
    many web apps this process builds: each build calls the extension again."""
    if str(TEMPLATES_DIR) not in _searched(templates.env.loader):
        add_template_dir(TEMPLATES_DIR)
    templates.env.filters.setdefault("gtin", _gtin)


def _gtin(value: str | None) -> str:
    """The ``gtin`` filter: a stored (14-digit) GTIN as people read it, e.g. an EAN-13; other text as is."""
    if not value:
        return ""
    try:
        return display_gtin(value)
    except ValueError:
        return value


def _searched(loader: BaseLoader | None) -> set[str]:
    """Every directory a (possibly nested) Jinja loader searches."""
    if isinstance(loader, FileSystemLoader):
        return {str(p) for p in loader.searchpath}
    if isinstance(loader, ChoiceLoader):
        return {path for inner in loader.loaders for path in _searched(inner)}
    return set()


def _app(request: Request) -> Conveyor:
    conveyor: Conveyor = request.app.state.conveyor
    return conveyor


def _base(request: Request) -> str:
    return str(request.scope.get("root_path") or "").rstrip("/")


@router.get("/shops", response_class=HTMLResponse)
def shops_page(request: Request) -> Response:
    """Every shop: its cursors, and each pipeline's last run (with its job's progress while it runs) next
    to the button that starts it."""
    app = _app(request)
    shops = data.shops(app)
    for shop in shops:
        data.with_jobs(app, [p["last_execution"] for p in shop["pipelines"] if p["last_execution"]])
        shop["health"] = sync_health(app, shop)
    return render(request, "commerce/shops.html", "commerce/_shops.html", active="shops", title="Shops", shops=shops)


#: Parked records shown per shop on the Shops page (the API and ``conveyor shoptet parked list`` page on).
PARKED_SHOWN = 20


def sync_health(app: Conveyor, shop: dict[str, Any]) -> dict[str, Any]:
    """What needs an operator's eye for one shop: stalled cursors with their reason, parked records, and
    whether webhooks are set up."""
    stalls = shop["stalls"]
    if shop["platform"] != "shoptet":
        return {"stalls": stalls, "parked": [], "webhooks": None}
    parked = actions.list_parked(app, shop["id"], limit=PARKED_SHOWN)
    try:
        webhooks = bool(pack_of(app).credentials(shop["id"]).get("signature_key"))
    except ConveyorError:  # no key for the credentials here: say nothing rather than fail the page
        webhooks = None
    return {"stalls": stalls, "parked": [r.as_dict() for r in parked], "webhooks": webhooks}


@router.get("/shops/{shop_id}", response_class=HTMLResponse)
def shop_page(request: Request, shop_id: int, cursor: str | None = None, pipeline: str | None = None) -> Response:
    """One shop's pipeline log: every run with status, trigger, times, counts and error, record errors
    expandable, a retry button on failed snapshots and live progress on running ones."""
    app = _app(request)
    try:
        shop = data.shop(app, shop_id)
    except ShopNotFoundError:
        return not_found_page(request, f"There is no shop #{shop_id}: it may have been removed.")
    bad_cursor = False
    try:
        page = data.executions(app, shop_id, cursor=cursor or None, pipeline=pipeline or None)
    except InvalidCursorError:
        # A stale or hand-edited link: show the newest runs and say so, rather than an error page.
        bad_cursor, cursor = True, None
        page = data.executions(app, shop_id, pipeline=pipeline or None)
    data.with_jobs(app, page["executions"])
    data.with_jobs(app, [p["last_execution"] for p in shop["pipelines"] if p["last_execution"]])
    data.record_errors(app, page["executions"])

    base = f"{_base(request)}/shops/{shop_id}"
    keep = {"pipeline": pipeline} if pipeline else {}

    def url(**params: str | None) -> str:
        query = urlencode({k: v for k, v in {**keep, **params}.items() if v})
        return base + (f"?{query}" if query else "")

    return render(
        request,
        "commerce/shop.html",
        "commerce/_shop.html",
        active="shops",
        title=shop["name"],
        status_code=400 if bad_cursor else 200,
        shop=shop,
        page=page,
        cursor=cursor,
        bad_cursor=bad_cursor,
        pipeline=pipeline,
        pipeline_urls={p["pipeline"]: url(pipeline=p["pipeline"]) for p in shop["pipelines"]},
        all_url=base,
        next_url=url(cursor=page["next_cursor"]) if page["next_cursor"] else None,
        first_url=url(),
        errors_shown=data.ERRORS_SHOWN,
    )
