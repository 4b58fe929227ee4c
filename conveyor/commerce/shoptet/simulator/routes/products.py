"""``/api/products``: the list, change log, snapshot and detail (by guid or variant code) of products."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from conveyor.commerce.shoptet.simulator.responses import (
    ApiError,
    envelope,
    include_param,
    int_param,
    list_param,
    page_params,
    paginate,
    time_param,
    within,
)
from conveyor.commerce.shoptet.simulator.routes.common import changes_page, detail_response, require_job_webhook
from conveyor.commerce.shoptet.simulator.state import Simulator

PRODUCT_INCLUDES = frozenset(
    {
        "images",
        "variantParameters",
        "allCategories",
        "flags",
        "perStockAmounts",
        "descriptiveParameters",
        "perPricelistPrices",
    }
)


def _product_filters(request: Request, sim: Simulator) -> list[int]:
    data = sim.data
    codes = list_param(request, "productCodes")
    guids = list_param(request, "productGuids")
    if codes is not None and guids is not None:
        raise ApiError(
            400,
            "invalid-parameter",
            'Invalid "productCodes" parameter. You can use "productCodes" or "productGuids", but not both.',
            "productCodes",
        )
    if guids is not None:
        return sorted({i for i in (data.product_index(g) for g in guids) if i is not None})
    if codes is not None:
        wanted = set(codes)
        return [i for i in range(data.n_products) if any(v.code in wanted for v in data.product(i).variants)]
    q = request.query_params
    creation_from, creation_to = time_param(request, "creationTimeFrom"), time_param(request, "creationTimeTo")
    change_from, change_to = time_param(request, "changeTimeFrom"), time_param(request, "changeTimeTo")
    availability = int_param(request, "availabilityId")
    sold_out = int_param(request, "availabilityWhenSoldOutId")
    result = []
    for i in range(data.n_products):
        created, changed = data.product_created[i], data.product_changed[i]
        if not (within(created, creation_from, creation_to) and within(changed, change_from, change_to)):
            continue
        product = data.product(i)
        if q.get("visibility") and product.visibility != q["visibility"]:
            continue
        if q.get("type") and q["type"] != "product":
            continue
        if q.get("flag"):
            continue  # the simulated products carry no flags
        if q.get("brandCode") and (product.brand is None or product.brand[0] != q["brandCode"]):
            continue
        if q.get("brandName") and (product.brand is None or product.brand[1] != q["brandName"]):
            continue
        if q.get("supplierGuid") and (product.supplier is None or product.supplier[0] != q["supplierGuid"]):
            continue
        category_guid = q.get("defaultCategoryGuid") or q.get("categoryGuid")
        if category_guid and data.product_list_item(i)["defaultCategory"]["guid"] != category_guid:
            continue
        if availability is not None and not any((1 if v.stock > 0 else None) == availability for v in product.variants):
            continue
        if sold_out is not None and sold_out != 3:
            continue
        result.append(i)
    return result


def add_routes(app: FastAPI, sim: Simulator) -> None:
    data = sim.data

    @app.get("/api/products")
    def list_products(request: Request) -> Response:
        page, per_page = page_params(request, 20, 1000)
        include = include_param(request, frozenset({"images"}))
        indices = _product_filters(request, sim)
        indices.reverse()  # newest first
        window, paginator = paginate(len(indices), page, per_page)
        products = [data.product_list_item(i, include) for i in indices[window]]
        return envelope(request, {"products": products, "paginator": paginator})

    @app.get("/api/products/changes")
    def product_changes(request: Request) -> Response:
        return changes_page(request, sim, "products", "guid", 1000, 1000)

    @app.get("/api/products/snapshot")
    def products_snapshot(request: Request) -> Response:
        require_job_webhook(sim)
        include = include_param(request, PRODUCT_INCLUDES)
        indices = _product_filters(request, sim)
        job = sim.submit_job(
            "products", "/api/products/snapshot", {"indices": indices, "include": include}, str(request.base_url)
        )
        return envelope(request, {"jobId": job.job_id}, status=202)

    @app.get("/api/products/code/{code:path}")
    async def product_by_code(code: str, request: Request) -> Response:
        prefix = code.split("/", 1)[0]
        index = int(prefix) - 1 if prefix.isdigit() else -1
        if not 0 <= index < data.n_products or all(v.code != code for v in data.product(index).variants):
            raise ApiError(404, "product-not-found", f'Product with identificator "{code}" not found.', code)
        product = data.product_detail(index, include_param(request, PRODUCT_INCLUDES))
        return detail_response(request, sim, "products", index, product, None)

    @app.get("/api/products/{guid}")
    async def product_detail(guid: str, request: Request) -> Response:
        index = data.product_index(guid)
        if index is None:
            raise ApiError(404, "product-not-found", f'Product with identificator "{guid}" not found.', guid)
        product = data.product_detail(index, include_param(request, PRODUCT_INCLUDES))
        return detail_response(request, sim, "products", index, product, None)
