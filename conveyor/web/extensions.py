"""The web API for packs: what a pack built on Conveyor (the commerce pack, a PrestaShop or WooCommerce
connector, your own) may use to add API routes and dashboard pages.

A pack registers a callback with ``app.add_web_extension(extend)``; when ``conveyor web`` builds the FastAPI
application it calls ``extend(fastapi_app)``, and the callback adds routes with the helpers below. Everything
else under ``conveyor.web`` is private and may change between versions; these names are the contract.

```python
from conveyor.web.extensions import add_nav_item, add_template_dir, render

def extend(web: FastAPI) -> None:
    add_template_dir(Path(__file__).parent / "templates")
    add_nav_item("orders", "Orders", "/orders")

    @web.get("/orders")
    def orders(request: Request) -> Response:
        return render(request, "orders.html", None, active="orders", title="Orders", rows=...)
```
"""

from __future__ import annotations

from conveyor.web.app import error_response
from conveyor.web.backend import InvalidCursorError, decode_cursor, encode_cursor
from conveyor.web.dashboard.views import add_nav_item, add_template_dir, not_found_page, render, templates
from conveyor.web.monitor import progress_view

__all__ = [
    "InvalidCursorError",
    "add_nav_item",
    "add_template_dir",
    "decode_cursor",
    "encode_cursor",
    "error_response",
    "not_found_page",
    "progress_view",
    "render",
    "templates",
]
