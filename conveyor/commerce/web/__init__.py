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

The warehouse (:func:`extend_warehouse`: ``/api/warehouse/…``, Catalogue and Documents pages, see
:mod:`.warehouse`) and the supplier feeds (:func:`extend_feeds`: ``/api/feeds/…``, Integrations and Links
pages, see :mod:`.feeds`) are separate extensions, added by their own ``install``.

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


def extend_warehouse(fastapi_app: FastAPI) -> None:
    """Add the warehouse's API and pages (catalogue, stock, documents) to ``fastapi_app``, and "Catalogue" and
    "Documents" to the navigation (for :meth:`conveyor.Conveyor.add_web_extension`)."""
    from conveyor.commerce.web import pages, warehouse
    from conveyor.web.extensions import add_nav_item

    pages.add_templates()
    warehouse.extend(fastapi_app)
    add_nav_item("catalog", "Catalogue", "/catalog")
    add_nav_item("documents", "Documents", "/documents")


def extend_feeds(fastapi_app: FastAPI) -> None:
    """Add the supplier feeds' API and pages (integrations, runs, mapping editor, links review) to
    ``fastapi_app``, and "Integrations" and "Links" to the navigation."""
    from conveyor.commerce.web import feeds, pages
    from conveyor.web.extensions import add_nav_item

    pages.add_templates()
    feeds.extend(fastapi_app)
    add_nav_item("integrations", "Integrations", "/integrations")
    add_nav_item("links", "Links", "/links")


__all__ = ["extend", "extend_feeds", "extend_warehouse"]
