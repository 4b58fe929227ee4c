"""The records these tests import are shaped as Shoptet sends them (checked against its OpenAPI file)."""

from __future__ import annotations

from tests.commerce.shoptet.openapi import validate_schema
from tests.commerce.store import factories


def test_factory_records_match_shoptets_snapshot_schemas() -> None:
    validate_schema("orderSnapshot", factories.order())
    validate_schema("orderSnapshot", factories.order(customer_guid=None, paid=None, items=[factories.item(1, "A")]))
    validate_schema("productSnapshot", factories.product())
    validate_schema("customerSnapshot", factories.customer(group=None))
