"""``/api/orders``: the list, change log, statuses, snapshot and detail of orders."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from conveyor.commerce.shoptet.simulator.data import ORDER_STATUSES, SHIPPING_METHODS, ShopData
from conveyor.commerce.shoptet.simulator.responses import (
    ApiError,
    envelope,
    include_param,
    int_param,
    list_param,
    page_params,
    paginate,
    time_param,
)
from conveyor.commerce.shoptet.simulator.routes.common import changes_page, detail_response, require_job_webhook
from conveyor.commerce.shoptet.simulator.state import Simulator

ORDER_INCLUDES = frozenset(
    {
        "notes",
        "images",
        "shippingDetails",
        "stockLocation",
        "surchargeParameters",
        "paymentTransactions",
        "productFlags",
    }
)


def _order_filters(request: Request, sim: Simulator) -> list[int]:
    """Indices of orders matching the list/snapshot filters, oldest first."""
    data = sim.data
    codes = list_param(request, "orderCodes")
    if codes is not None:  # "No additional filters take effect."
        found = (data.order_index(code) for code in codes)
        return sorted({i for i in found if i is not None})
    customer_index = None
    customer_guid = request.query_params.get("customerGuid")
    if customer_guid:
        customer_index = data.customer_index(customer_guid)
        if customer_index is None:
            return []
    code_from = request.query_params.get("codeFrom")
    code_to = request.query_params.get("codeTo")
    source_id = int_param(request, "sourceId")
    if source_id is not None and source_id != -1:
        return []
    indices = data.order_indices(
        status_id=int_param(request, "statusId"),
        creation_from=time_param(request, "creationTimeFrom"),
        creation_to=time_param(request, "creationTimeTo"),
        change_from=time_param(request, "changeTimeFrom"),
        change_to=time_param(request, "changeTimeTo"),
        customer_index=customer_index,
        code_from=_code_bound(data, code_from, upper=False),
        code_to=_code_bound(data, code_to, upper=True),
    )
    # Filters on fields only the full record has: correct but slow on big shops (one detail build per order).
    email = (request.query_params.get("email") or "").strip().lower()
    phone = (request.query_params.get("phone") or "").strip()
    product_code = request.query_params.get("productCode")
    shipping_guid = request.query_params.get("shippingGuid")
    payment_guid = request.query_params.get("paymentMethodGuid")
    company_code = request.query_params.get("shippingCompanyCode")
    if not (email or phone or product_code or shipping_guid or payment_guid or company_code):
        return indices
    shipping_by_guid = {s.guid: s for s in SHIPPING_METHODS}

    def matches(index: int) -> bool:
        order = data.order_detail(index)
        if email and (order["email"] or "").lower() != email:
            return False
        if phone and order["phone"] != phone:
            return False
        if product_code and not any(item["code"] == product_code for item in order["items"]):
            return False
        if shipping_guid and order["shipping"]["guid"] != shipping_guid:
            return False
        if payment_guid and order["paymentMethod"]["guid"] != payment_guid:
            return False
        shipping = shipping_by_guid.get(order["shipping"]["guid"])
        return not (company_code and (shipping is None or shipping.company_code != company_code))

    return [i for i in indices if matches(i)]


def _code_bound(data: ShopData, code: str | None, *, upper: bool) -> int | None:
    if not code:
        return None
    if not code.isdigit():
        raise ApiError(400, "invalid-parameter", f'Invalid "{"codeTo" if upper else "codeFrom"}" parameter.', code)
    return int(code) - data.order_code_base - 1


def add_routes(app: FastAPI, sim: Simulator) -> None:
    """Orders. List-like handlers are plain ``def``: FastAPI runs them in its thread pool, so filtering 100,000
    orders does not stall the event loop (and with it every other connection)."""
    data = sim.data

    @app.get("/api/orders")
    def list_orders(request: Request) -> Response:
        page, per_page = page_params(request, 50, 50)
        indices = _order_filters(request, sim)
        indices.reverse()  # newest first
        window, paginator = paginate(len(indices), page, per_page)
        orders = [data.order_list_item(i) for i in indices[window]]
        return envelope(request, {"orders": orders, "paginator": paginator})

    @app.get("/api/orders/changes")
    def order_changes(request: Request) -> Response:
        return changes_page(request, sim, "orders", "code", 20, 1000)

    @app.get("/api/orders/statuses")
    async def order_statuses(request: Request) -> Response:
        statuses = [
            {
                "id": status_id,
                "name": name,
                "system": True,
                "order": position,
                "markAsPaid": status_id == -2,
                "color": None,
                "backgroundColor": None,
                "changeOrderItems": status_id != -3,
                "stockClaimResolved": status_id in (-2, -3),
                "documents": {
                    "generateProformaInvoice": False,
                    "generateInvoice": status_id == -2,
                    "generateDeliveryNote": False,
                    "generateProofPayment": False,
                },
            }
            for position, (status_id, name) in enumerate(ORDER_STATUSES.items(), start=1)
        ]
        return envelope(request, {"defaultStatus": -1, "statuses": statuses})

    @app.get("/api/orders/snapshot")
    def orders_snapshot(request: Request) -> Response:
        require_job_webhook(sim)
        include = include_param(request, ORDER_INCLUDES)
        indices = _order_filters(request, sim)
        job = sim.submit_job(
            "orders", "/api/orders/snapshot", {"indices": indices, "include": include}, str(request.base_url)
        )
        return envelope(request, {"jobId": job.job_id}, status=202)

    @app.get("/api/orders/{code}")
    async def order_detail(code: str, request: Request) -> Response:
        index = data.order_index(code)
        if index is None:
            raise ApiError(404, "order-not-found", f'Order "{code}" not found.', code)
        order = data.order_detail(index, include_param(request, ORDER_INCLUDES))
        return detail_response(request, sim, "orders", index, order, "order")
