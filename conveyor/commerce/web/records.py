"""The imported data, read-only: ``GET /api/commerce/orders|customers|products`` (and one order with its
items) and the dashboard's Orders, Customers and Products pages, so an operator can check a sync by eye.

Both read through :mod:`conveyor.commerce.store.queries` on a read-only transaction, so a page and its
endpoint list the same rows. Parameters: ``shop_id`` (404 when there is no such shop), ``q`` (search; 400
with a NUL character), ``cursor`` (the previous page's ``next_cursor``; 400 when this server did not hand it
out), ``limit`` (API only, 1-500).

=============================================  ==============================================================
``GET /api/commerce/orders``                   ``{"orders": [...], "next_cursor"}``, newest first
``GET /api/commerce/orders/{id}``              one order with its ``items`` (404 ``order_not_found``)
``GET /api/commerce/customers``                ``{"customers": [...], "next_cursor"}``, with order counts
``GET /api/commerce/products``                 ``{"products": [...], "next_cursor"}``, with variants
``/orders``, ``/customers``, ``/products``     the dashboard pages (search box, shop filter, Next link)
``/orders/{id}``                               one order's page
=============================================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from conveyor import Conveyor
from conveyor.commerce import store
from conveyor.commerce.store import ShopNotFoundError, queries
from conveyor.commerce.store.queries import InvalidQueryError, OrderNotFoundError, Page
from conveyor.web.extensions import error_response, not_found_page, render

api = APIRouter(tags=["commerce data"])
pages = APIRouter(include_in_schema=False)

#: Rows per page on the dashboard pages (the API's default too).
PAGE = 50

#: The lists, by URL segment: (query function, JSON key, page title, what the search box searches).
LISTS: dict[str, tuple[Callable[..., Page], str, str]] = {
    "orders": (queries.list_orders, "Orders", "Order code, customer name, e-mail or company"),
    "customers": (queries.list_customers, "Customers", "Name, e-mail, phone or company"),
    "products": (queries.list_products, "Products", "Product name, variant code or EAN"),
}


def add_error_handlers(app: FastAPI) -> None:
    """Bad list parameters are 400 naming the field (``invalid_cursor``, ``invalid_search``,
    ``invalid_limit``); an unknown order is 404 ``order_not_found``."""

    def bad_query(_r: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidQueryError)
        code = {"cursor": "invalid_cursor", "q": "invalid_search"}.get(exc.field, f"invalid_{exc.field}")
        return error_response(400, code, str(exc), exc.field)

    def no_order(_r: Request, exc: Exception) -> Response:
        return error_response(404, "order_not_found", str(exc))

    app.add_exception_handler(InvalidQueryError, bad_query)
    app.add_exception_handler(OrderNotFoundError, no_order)


def _app(request: Request) -> Conveyor:
    conveyor: Conveyor = request.app.state.conveyor
    return conveyor


def _list(app: Conveyor, kind: str, shop_id: int | None, q: str | None, cursor: str | None, limit: int) -> Page:
    query = LISTS[kind][0]
    with app.read_transaction() as conn:
        return query(conn, shop_id=shop_id, q=q or None, cursor=cursor or None, limit=limit)


# ---------------------------------------------------------------------------------------------- API
def _api_list(kind: str) -> Callable[..., dict[str, Any]]:
    def endpoint(
        request: Request,
        shop_id: int | None = None,
        q: str | None = None,
        cursor: str | None = None,
        limit: int = Query(PAGE, ge=1, le=queries.MAX_LIMIT),
    ) -> dict[str, Any]:
        return _list(_app(request), kind, shop_id, q, cursor, limit).as_json(kind)

    endpoint.__name__ = f"list_{kind}"
    endpoint.__doc__ = f"{LISTS[kind][1]} newest first; search ``q``: {LISTS[kind][2].lower()}."
    return endpoint


for _kind in LISTS:
    api.add_api_route(f"/api/commerce/{_kind}", _api_list(_kind), methods=["GET"])


@api.get("/api/commerce/orders/{order_id}")
def get_order(request: Request, order_id: int) -> dict[str, Any]:
    """One stored order with its items (products, shipping, payment, discounts) in the platform's order."""
    with _app(request).read_transaction() as conn:
        return queries.order_detail(conn, order_id)


# ---------------------------------------------------------------------------------------------- pages
def _shops(app: Conveyor) -> list[dict[str, Any]]:
    with app.read_transaction() as conn:
        return [{"id": s.id, "name": s.name} for s in store.list_shops(conn)]


def _list_page(request: Request, kind: str, shop_id: int | None, q: str | None, cursor: str | None) -> Response:
    app = _app(request)
    title, hint = LISTS[kind][1], LISTS[kind][2]
    problem, status = None, 200
    try:
        page = _list(app, kind, shop_id, q, cursor, PAGE)
    except ShopNotFoundError:
        return not_found_page(request, f"There is no shop #{shop_id}: it may have been removed.")
    except InvalidQueryError as exc:
        # A stale link or a search that cannot run: say so above an unfiltered first page.
        problem, status = str(exc), 400
        keep_q = q if exc.field != "q" else None
        page = _list(app, kind, shop_id, keep_q, None, PAGE)
        q = keep_q
        cursor = None
    base = f"{str(request.scope.get('root_path') or '').rstrip('/')}/{kind}"

    def url(**params: Any) -> str:
        query = urlencode({k: v for k, v in {"shop_id": shop_id, "q": q, **params}.items() if v})
        return base + (f"?{query}" if query else "")

    return render(
        request,
        f"commerce/{kind}.html",
        None,
        active=kind,
        title=title,
        status_code=status,
        kind=kind,
        rows=page.rows,
        shops=_shops(app),
        shop_id=shop_id,
        q=q or "",
        hint=hint,
        problem=problem,
        is_first=not cursor,
        next_url=url(cursor=page.next_cursor) if page.next_cursor else None,
        first_url=url(),
    )


def _page_route(kind: str) -> Callable[..., Response]:
    def page(request: Request, shop_id: str | None = None, q: str | None = None, cursor: str | None = None) -> Response:
        # The filter form sends ``shop_id=`` for "all shops": an empty value is no filter, not a bad request.
        if shop_id and not shop_id.isdecimal():
            return not_found_page(request, f"There is no shop {shop_id!r}.")
        return _list_page(request, kind, int(shop_id) if shop_id else None, q, cursor)

    page.__name__ = f"{kind}_page"
    return page


for _kind in LISTS:
    pages.add_api_route(f"/{_kind}", _page_route(_kind), methods=["GET"], response_class=HTMLResponse)


@pages.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, order_id: int) -> Response:
    """One order: its customer, totals and every line (discounts show with their negative prices)."""
    try:
        with _app(request).read_transaction() as conn:
            order = queries.order_detail(conn, order_id)
    except OrderNotFoundError:
        return not_found_page(request, f"There is no order #{order_id}: it may not be imported yet.")
    return render(request, "commerce/order.html", None, active="orders", title=f"Order {order['code']}", order=order)


def extend(app: FastAPI) -> None:
    """Add the data API and pages to ``app`` (called by :func:`conveyor.commerce.web.extend`)."""
    from conveyor.web.extensions import add_nav_item

    add_error_handlers(app)
    app.include_router(api)
    app.include_router(pages)
    for kind, (_, title, _) in LISTS.items():
        add_nav_item(kind, title, f"/{kind}")
