"""An order from the API is validated once, where it becomes a row, exactly as a snapshot line is: the
pipelines check only that Shoptet's required fields are there, and the store checks every field it keeps."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from conveyor.commerce.shoptet import pipelines
from conveyor.commerce.store.schema import orders
from tests.commerce.shoptet.test_pipelines import SHOP, Rig, sqlite_rig

__all__ = ["sqlite_rig"]


def _serve_order_changed(rig: Rig, change: dict[str, Any]) -> str:
    """Serve the first order's detail with ``change`` applied; returns its code."""
    render = rig.sim.render

    def changed(kind: str, index: int, obj: dict[str, Any]) -> dict[str, Any] | None:
        served = render(kind, index, obj)
        if kind == "orders" and index == 0 and served is not None:
            served = {**served, **change}
        return served

    rig.sim.render = changed
    return str(rig.sim.data.order_code(0))


def test_an_order_detail_with_a_section_the_store_does_not_keep_in_another_shape_is_imported(
    sqlite_rig: Rig,
) -> None:
    # Shoptet's model says ``notes`` is an object; the store does not keep it, and a snapshot line with this
    # shape has always been imported. The same record from the API is now judged the same way.
    code = _serve_order_changed(sqlite_rig, {"notes": "call before delivery"})

    execution = sqlite_rig.run()

    assert (execution.counts.failed, execution.counts.created) == (0, SHOP["orders"])
    with sqlite_rig.app.driver.read() as conn:
        source = conn.execute(select(orders.c.source).where(orders.c.code == code)).scalar_one()
    assert json.loads(source)["notes"] == "call before delivery"  # kept as Shoptet sent it


def test_an_order_detail_with_money_as_a_float_is_reported_by_the_store_and_the_rest_imported(
    sqlite_rig: Rig,
) -> None:
    code = _serve_order_changed(sqlite_rig, {"price": {"currencyCode": "CZK", "withVat": 121.5}})

    execution = sqlite_rig.run()

    assert (execution.counts.failed, execution.counts.created) == (1, SHOP["orders"] - 1)
    [error] = pipelines.execution_errors(sqlite_rig.app, execution.id)
    assert (error.record_code, error.reason) == (
        code,
        "field 'price.withVat': expected a decimal string such as '21.00', got the float 121.5",
    )
