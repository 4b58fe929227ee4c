"""``/api/customers``: the list, change log, snapshot and detail of customers."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from conveyor.commerce.shoptet.simulator.responses import ApiError, envelope, page_params, paginate, time_param, within
from conveyor.commerce.shoptet.simulator.routes.common import changes_page, detail_response, require_job_webhook
from conveyor.commerce.shoptet.simulator.state import Simulator


def _customer_filters(request: Request, sim: Simulator, *, times: bool) -> list[int]:
    data = sim.data
    email = (request.query_params.get("email") or "").strip().lower()
    phone = (request.query_params.get("phone") or "").strip()
    bounds = [time_param(request, n) for n in ("creationTimeFrom", "creationTimeTo", "changeTimeFrom", "changeTimeTo")]
    result = []
    for i in range(data.n_customers):
        if times:
            created, changed = data.customer_created[i], data.customer_changed[i]
            if not (within(created, bounds[0], bounds[1]) and within(changed, bounds[2], bounds[3])):
                continue
        if email or phone:
            person = data.customer(i).person
            if (email and person.email.lower() != email) or (phone and person.phone != phone):
                continue
        result.append(i)
    return result


def add_routes(app: FastAPI, sim: Simulator) -> None:
    data = sim.data

    @app.get("/api/customers")
    def list_customers(request: Request) -> Response:
        page, per_page = page_params(request, 20, 1000)
        indices = _customer_filters(request, sim, times=False)
        indices.reverse()
        window, paginator = paginate(len(indices), page, per_page)
        customers = [data.customer_list_item(i) for i in indices[window]]
        return envelope(request, {"customers": customers, "paginator": paginator})

    @app.get("/api/customers/changes")
    def customer_changes(request: Request) -> Response:
        return changes_page(request, sim, "customers", "guid", 20, 20)

    @app.get("/api/customers/snapshot")
    def customers_snapshot(request: Request) -> Response:
        require_job_webhook(sim)
        indices = _customer_filters(request, sim, times=True)
        job = sim.submit_job("customers", "/api/customers/snapshot", {"indices": indices}, str(request.base_url))
        return envelope(request, {"jobId": job.job_id}, status=202)

    @app.get("/api/customers/{guid}")
    async def customer_detail(guid: str, request: Request) -> Response:
        index = data.customer_index(guid)
        if index is None:
            raise ApiError(404, "customer-not-found", f'Customer with guid "{guid}" not found.', guid)
        return detail_response(request, sim, "customers", index, data.customer_detail(index), "customer")
