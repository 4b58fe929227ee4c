"""The commerce pack in the web app: the Shops JSON API, Shoptet's webhook endpoint and the Shops pages.

Added to an application with :meth:`conveyor.Conveyor.add_web_extension` (the Shoptet pipelines' ``install``
does it), so ``conveyor web``/``conveyor up`` serve it with the rest of the dashboard:

=============================================  ==============================================================
``GET /api/shops``                             every shop: cursors, last run of each pipeline, newest runs
``GET /api/shops/{id}``                        one shop and the first page of its pipeline log
``GET /api/shops/{id}/executions?cursor=``     the pipeline log, keyset-paginated (``next_cursor``)
``GET /api/executions/{id}``                   one run: counts, error, record errors, job progress, file
``POST /api/shops/{id}/snapshots/{kind}``      full snapshot of orders/products/customers → 202
``POST /api/shops/{id}/run/{pipeline}``        run a pipeline now → 202 with the job id
``POST /api/executions/{id}/retry``            retry a failed snapshot from its stored file → 202 (else 409)
``POST /webhooks/shoptet``                     signed Shoptet notifications (401 when the signature is bad)
``GET /api/commerce/{kind}``                   imported orders/customers/products, searchable, keyset-paged
``GET /api/commerce/orders/{id}``              one stored order with its items
``/shops``, ``/shops/{id}``                    the dashboard pages (with ``?fragment=1``)
=============================================  ==============================================================

Importing this package imports neither FastAPI routes nor the pipelines: :func:`extend` does, when the web
app is built, so the pipelines module can import :func:`extend` without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def extend(fastapi_app: FastAPI) -> None:
    """Add the commerce API, the webhook endpoint and the Shops pages to ``fastapi_app`` (the signature
    :meth:`conveyor.Conveyor.add_web_extension` expects), and "Shops" to the dashboard's navigation."""
    from conveyor.commerce.web import api, pages, records
    from conveyor.web.extensions import add_nav_item

    api.add_error_handlers(fastapi_app)
    fastapi_app.include_router(api.router)
    fastapi_app.include_router(api.webhooks)
    pages.add_templates()
    fastapi_app.include_router(pages.router)
    add_nav_item("shops", "Shops", "/shops")
    records.extend(fastapi_app)  # Orders, Customers, Products: the imported data, read-only


__all__ = ["extend"]
