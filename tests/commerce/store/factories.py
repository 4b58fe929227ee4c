"""Shoptet-shaped records for the store's tests, as the detail endpoints and snapshot lines carry them.

Every field the OpenAPI file marks required is present (``test_factories.py`` checks it),
with the formats of research notes §1.5: ``2024-03-01T10:00:00+0100``, money ``"12.30"``, amounts
``"1.000"``. Totals are computed from the items, so an order is consistent with itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _price(unit_gross: Decimal, amount: Decimal, vat_rate: Decimal) -> tuple[dict[str, Any], dict[str, Any]]:
    gross = (unit_gross * amount).quantize(CENT)
    net = (gross / (1 + vat_rate / 100)).quantize(CENT)
    unit_net = (unit_gross / (1 + vat_rate / 100)).quantize(CENT)
    rate = str(vat_rate.quantize(CENT))
    unit = {"withVat": _money(unit_gross), "withoutVat": _money(unit_net), "vat": _money(unit_gross - unit_net)}
    total = {"withVat": _money(gross), "withoutVat": _money(net), "vat": _money(gross - net)}
    return {**total, "vatRate": rate}, {**unit, "vatRate": rate}


def item(
    item_id: int,
    code: str | None = "SKU-1",
    *,
    amount: str = "1.000",
    unit_price: str = "121.00",
    vat_rate: str = "21.00",
    item_type: str = "product",
    name: str | None = None,
) -> dict[str, Any]:
    """One ``items[]`` entry of an order."""
    item_price, unit = _price(Decimal(unit_price), Decimal(amount), Decimal(vat_rate))
    return {
        "productGuid": f"0f1e2d3c-0000-11ee-9b1f-{item_id:012d}" if item_type == "product" else None,
        "code": code,
        "ean": f"859{item_id:010d}" if item_type == "product" else None,
        "itemType": item_type,
        "productType": "product" if item_type == "product" else None,
        "name": name or (f"Product {code}" if code else item_type.title()),
        "variantName": "Size: M" if item_type == "product" else None,
        "brand": "Acme" if item_type == "product" else None,
        "remark": None,
        "weight": "0.250",
        "additionalField": None,
        "amount": amount,
        "amountUnit": "ks",
        "priceRatio": "1.0000",
        "status": {"id": -1, "name": "Nevyřízená"},
        "itemPrice": item_price,
        "unitPrice": unit,
        "displayPrices": [item_price],
        "purchasePrice": None,
        "recyclingFee": None,
        "itemId": item_id,
        "warrantyDescription": None,
        "amountCompleted": "0.000",
    }


def order(
    code: str = "2024000001",
    *,
    items: list[dict[str, Any]] | None = None,
    status: tuple[int, str] = (-1, "Nevyřízená"),
    customer_guid: str | None = "5a9c6b0e-73c4-11ee-9b1f-0800200c9a66",
    email: str = "Jana.Novakova@example.cz",
    full_name: str = "Jana Nováková",
    creation_time: str = "2024-03-01T10:00:00+0100",
    change_time: str = "2024-03-01T10:00:00+0100",
    paid: bool | None = False,
    currency: str = "CZK",
) -> dict[str, Any]:
    """A Shoptet ``data.order`` with a product line, shipping and payment (items are lines too)."""
    if items is None:
        items = [
            item(1001, "SKU-1", amount="2.000", unit_price="121.00"),
            item(1002, None, item_type="shipping", unit_price="99.00", name="PPL"),
            item(1003, None, item_type="billing", unit_price="0.00", name="Card"),
        ]
    gross = sum((Decimal(i["itemPrice"]["withVat"]) for i in items), Decimal(0))
    net = sum((Decimal(i["itemPrice"]["withoutVat"]) for i in items), Decimal(0))
    address = {
        "company": None,
        "fullName": full_name,
        "street": "Dlouhá",
        "houseNumber": "12",
        "city": "Praha",
        "district": None,
        "additional": None,
        "zip": "11000",
        "countryCode": "CZ",
        "regionName": None,
        "regionShortcut": None,
    }
    return {
        "code": code,
        "guid": f"9b2f4c1a-0000-11ee-9b1f-{int(''.join(c for c in code if c.isdigit()) or 0) % 10**12:012d}",
        "externalCode": None,
        "creationTime": creation_time,
        "changeTime": change_time,
        "email": email,
        "phone": "+420777123456",
        "birthDate": None,
        "clientIPAddress": "192.0.2.10",
        "customerGuid": customer_guid,
        "cashDeskOrder": False,
        "stockId": 1,
        "addressesEqual": True,
        "vatPayer": True,
        "vatMode": "Normal",
        "billingMethod": {"id": 4, "name": "Card"},
        "paymentMethod": {"guid": "6f2c1d0e-73c4-11ee-9b1f-0800200c9a66", "name": "Card online"},
        "shipping": {"guid": "7a3d2e1f-73c4-11ee-9b1f-0800200c9a66", "name": "PPL"},
        "adminUrl": f"https://acme.myshoptet.com/admin/objednavky-detail/?code={code}",
        "status": {"id": status[0], "name": status[1]},
        "source": {"id": 1, "name": "E-shop"},
        "price": {
            "vat": _money(gross - net),
            "toPay": _money(gross),
            "currencyCode": currency,
            "withoutVat": _money(net),
            "withVat": _money(gross),
            "exchangeRate": "1.00000000",
            "invoicingExchangeRate": "1.00000000",
            "partialPaymentAmount": None,
            "partialPaymentType": "percent",
        },
        "paid": paid,
        "billingAddress": {**address, "companyId": None, "vatId": None, "taxId": None},
        "deliveryAddress": None,
        "onlinePaymentLink": None,
        "language": "cs",
        "referer": None,
        "items": items,
    }


def variant(
    code: str, *, stock: str | None = "10.000", price: str = "121.00", ean: str | None = None
) -> dict[str, Any]:
    """One ``variants[]`` entry of a product."""
    return {
        "code": code,
        "ean": ean,
        "stock": stock,
        "unit": "ks",
        "weight": "0.250",
        "width": "10.0",
        "height": "5.0",
        "depth": "2.0",
        "visible": True,
        "price": price,
        "commonPrice": None,
        "manufacturerCode": None,
        "pluCode": None,
        "isbn": None,
        "serialNo": None,
        "mpn": None,
        "includingVat": True,
        "vatRate": "21.00",
        "currencyCode": "CZK",
        "minStockSupply": None,
        "actionPrice": None,
        "amountDecimalPlaces": 0,
        "negativeStockAllowed": "no-global",
    }


def product(
    guid: str = "0f1e2d3c-0000-11ee-9b1f-000000000001",
    *,
    variants: list[dict[str, Any]] | None = None,
    name: str = "T-shirt",
    change_time: str = "2024-03-01T10:00:00+0100",
) -> dict[str, Any]:
    """A Shoptet product detail ``data`` (not wrapped, unlike orders and customers)."""
    return {
        "guid": guid,
        "type": "product",
        "name": name,
        "brand": {"code": "acme", "name": "Acme"},
        "supplier": None,
        "visibility": "visible",
        "creationTime": "2024-01-01T09:00:00+0100",
        "changeTime": change_time,
        "shortDescription": None,
        "description": None,
        "metaDescription": None,
        "url": f"https://acme.myshoptet.com/{guid[-4:]}/",
        "internalNote": None,
        "hsCode": None,
        "defaultCategory": {"guid": None, "name": None, "visible": None},
        "variants": variants if variants is not None else [variant("TS-M"), variant("TS-L", stock="0.000")],
    }


def customer(
    guid: str = "5a9c6b0e-73c4-11ee-9b1f-0800200c9a66",
    *,
    email: str = "jana.novakova@example.cz",
    full_name: str = "Jana Nováková",
    group: str | None = "Retail",
) -> dict[str, Any]:
    """A Shoptet ``data.customer``."""
    return {
        "guid": guid,
        "billingAddress": {
            "company": None,
            "fullName": full_name,
            "street": "Dlouhá",
            "houseNumber": "12",
            "city": "Praha",
            "district": None,
            "additional": None,
            "zip": "11000",
            "countryCode": "CZ",
            "regionName": None,
            "regionShortcut": None,
            "companyId": None,
            "vatId": None,
            "taxId": None,
        },
        "deliveryAddress": [],
        "creationTime": "2023-06-01T08:00:00+0200",
        "changeTime": "2024-02-01T08:00:00+0100",
        "customerGroup": {"id": 1, "name": group} if group else None,
        "priceList": None,
        "remark": None,
        "priceRatio": "1.0000",
        "birthDate": None,
        "accounts": [
            {
                "guid": "1b2c3d4e-73c4-11ee-9b1f-0800200c9a66",
                "fullName": full_name,
                "email": email,
                "phone": "+420777123456",
                "mainAccount": True,
                "authorized": True,
                "emailVerified": True,
            }
        ],
        "disabledOrders": False,
        "remarks": [],
        "adminUrl": f"https://acme.myshoptet.com/admin/zakaznici-detail/?guid={guid}",
    }
