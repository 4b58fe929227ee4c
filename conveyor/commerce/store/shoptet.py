"""Shoptet records → the store's rows: validation, normalisation and content hashes, no database.

The input is what Shoptet's detail endpoints return inside ``data`` (``data.order``, the product object,
``data.customer``), which is also one line of a snapshot file. Formats (Shoptet OpenAPI and research notes
§1.5): datetimes ``2017-12-12T22:08:01+0100``; money strings with 2 decimals (``"12.30"``); amounts and stock
with 3 (``"1.000"``); exchange rates with 8. Values become :class:`~decimal.Decimal` of exactly the column's
scale, and a value the column cannot hold (more decimals, too many digits, a code longer than the column)
is a :class:`RecordError` here, so a bad record never aborts a bulk insert in the database.

Only the fields the importers need are required; everything else may be missing or null, as the spec
allows, and new attributes Shoptet adds are ignored (they stay in ``source``). This is the one validation a
record gets on its way from Shoptet's JSON to a row, whether it came from the API or a snapshot (the sync
pipelines check beforehand only that the fields Shoptet's schema requires are present:
``conveyor.commerce.shoptet.models.missing_field``).

Each row carries ``content_hash``: a digest of exactly the stored values (not of the raw record), so a
record fetched with different ``include`` sections, or with keys in another order, is still "unchanged".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from hashlib import blake2b
from typing import Any

from conveyor.commerce.store.errors import RecordError
from conveyor.commerce.store.schema import CODE_LENGTH

#: Item types whose ``code`` names a stocked variant: these are what the inventory step re-reads after an
#: order changes. Shipping, billing, discounts, gift certificates and deposits have no stock; a product set
#: is stocked through its set items, not itself.
STOCK_ITEM_TYPES = frozenset({"product", "bazar", "gift", "product-set-item"})


@dataclass(frozen=True, slots=True)
class _Digits:
    """What ``Numeric(precision, scale)`` holds."""

    precision: int
    scale: int
    exponent: int
    quantum: Decimal
    limit: Decimal

    @classmethod
    def of(cls, precision: int, scale: int) -> _Digits:
        return cls(precision, scale, -scale, Decimal(1).scaleb(-scale), Decimal(10) ** (precision - scale))


_MONEY = _Digits.of(14, 2)
_AMOUNT = _Digits.of(14, 3)
_RATE = _Digits.of(5, 2)
_EXCHANGE_RATE = _Digits.of(18, 8)


def content_hash(values: Iterable[object]) -> str:
    """A 128-bit digest of stored values (their ``repr``: exact for Decimal, str, int, float, bool, None)."""
    return blake2b(repr(tuple(values)).encode("utf-8"), digest_size=16).hexdigest()


def source_json(record: Mapping[str, Any]) -> str:
    """The record as compact JSON for the ``source`` column (``default=str`` for Decimals and datetimes)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


class _Reader:
    """Reads fields of one record and turns every problem into a RecordError naming the record and field.

    Each method takes the object, the key and ``at``, the path of the object in the record (``"items[2]."``);
    the field's full path is only built for an error message, as this runs ~30 times per order.
    """

    __slots__ = ("code", "kind")

    def __init__(self, kind: str, code: str | None) -> None:
        self.kind, self.code = kind, code

    def error(self, reason: str) -> RecordError:
        return RecordError(self.code, reason, kind=self.kind)

    def obj(self, data: Mapping[str, Any], key: str, at: str = "", *, required: bool = False) -> Mapping[str, Any]:
        """A nested object; an empty one for a missing/null optional object."""
        value = data.get(key)
        if value is None:
            if required:
                raise self.error(f"missing field '{at}{key}'")
            return {}
        if not isinstance(value, Mapping):
            raise self.error(f"field '{at}{key}' is not an object")
        return value

    def array(self, data: Mapping[str, Any], key: str, at: str = "", *, required: bool = False) -> list[Any]:
        value = data.get(key)
        if value is None:
            if required:
                raise self.error(f"missing field '{at}{key}'")
            return []
        if not isinstance(value, list):
            raise self.error(f"field '{at}{key}' is not a list")
        return value

    def text(
        self, data: Mapping[str, Any], key: str, at: str = "", *, required: bool = False, max_len: int | None = None
    ) -> str | None:
        value = data.get(key)
        if value is None or value == "":
            if required:
                raise self.error(f"missing field '{at}{key}'")
            return None
        if type(value) is not str:
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise self.error(f"field '{at}{key}' is not a string")
            value = str(value)
        if max_len is not None and len(value) > max_len:
            raise self.error(f"field '{at}{key}' is longer than {max_len} characters")
        return value

    def integer(self, data: Mapping[str, Any], key: str, at: str = "", *, required: bool = False) -> int | None:
        value = data.get(key)
        if value is None:
            if required:
                raise self.error(f"missing field '{at}{key}'")
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.error(f"field '{at}{key}' is not an integer")
        try:
            number = int(value)
        except ValueError:
            raise self.error(f"field '{at}{key}': {value!r} is not an integer") from None
        if not -(2**63) <= number < 2**63:
            raise self.error(f"field '{at}{key}': {value!r} is out of range")
        return number

    def boolean(self, data: Mapping[str, Any], key: str, at: str = "") -> bool | None:
        value = data.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.error(f"field '{at}{key}' is not true, false or null")

    def decimal(self, data: Mapping[str, Any], key: str, at: str, digits: _Digits) -> Decimal | None:
        """A decimal that fits ``Numeric(precision, scale)`` exactly (no rounding: money must not move)."""
        value = data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, float):
            # Shoptet sends numbers-with-places as strings; a float means someone already rounded them.
            raise self.error(f"field '{at}{key}': expected a decimal string such as '21.00', got the float {value!r}")
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self.error(f"field '{at}{key}' is not a number")
        try:
            number = Decimal(value if type(value) is str else str(value))
        except InvalidOperation:
            raise self.error(f"field '{at}{key}': {value!r} is not a number") from None
        # Shoptet sends exactly the column's scale ("12.30"), so the exponent check is the common exit.
        if number.as_tuple().exponent != digits.exponent:
            if not number.is_finite():
                raise self.error(f"field '{at}{key}': {value!r} is not a finite number")
            quantized = number.quantize(digits.quantum)
            if quantized != number:
                raise self.error(f"field '{at}{key}': {value!r} has more than {digits.scale} decimal places")
            number = quantized
        if not -digits.limit < number < digits.limit:
            raise self.error(f"field '{at}{key}': {value!r} is too large for {digits.precision} digits")
        return number

    def time(self, data: Mapping[str, Any], key: str, at: str = "") -> float | None:
        """Epoch seconds from ``2017-12-12T22:08:01+0100`` (an offset is required: local time is ambiguous)."""
        value = data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise self.error(f"field '{at}{key}': {value!r} is not a date and time") from None
        else:
            raise self.error(f"field '{at}{key}' is not a date and time")
        if moment.tzinfo is None:
            raise self.error(f"field '{at}{key}': {value!r} has no UTC offset")
        return moment.timestamp()

    def email(self, data: Mapping[str, Any], key: str, at: str = "") -> str | None:
        email = self.text(data, key, at, max_len=255)
        if email is None:
            return None
        return email.strip().lower() or None


# ---------------------------------------------------------------------------------------------- orders
@dataclass(slots=True)
class OrderRecord:
    """One order as the store's rows: ``row`` for ``commerce_orders`` (without ids and times we set),
    ``items`` for ``commerce_order_items`` (without ``order_id``), and the minimal customer to create when
    the order names a customer guid we have not seen."""

    code: str
    customer_guid: str | None
    row: dict[str, Any]
    items: list[dict[str, Any]]
    customer: dict[str, Any] | None
    stock_codes: frozenset[str]
    #: The record as received, for ``source``: serialised only when the record is written.
    data: Mapping[str, Any]


_ORDER_HASHED = (
    "code",
    "guid",
    "status_id",
    "status_name",
    "paid",
    "payment_method",
    "shipping_method",
    "currency",
    "exchange_rate",
    "total_net",
    "total_gross",
    "total_vat",
    "customer_guid",
    "email",
    "phone",
    "full_name",
    "company",
    "country_code",
    "creation_time",
    "change_time",
)
_ITEM_HASHED = (
    "item_id",
    "position",
    "item_type",
    "code",
    "product_guid",
    "ean",
    "name",
    "variant_name",
    "quantity",
    "unit",
    "unit_price_net",
    "unit_price_gross",
    "total_net",
    "total_gross",
    "total_vat",
    "vat_rate",
)


def parse_order(data: Mapping[str, Any]) -> OrderRecord:
    """Validate and normalise one Shoptet order (``data.order``); :class:`RecordError` if it is malformed."""
    if not isinstance(data, Mapping):
        raise RecordError(None, "not a JSON object", kind="order")
    r = _Reader("order", None)
    code = r.text(data, "code", required=True, max_len=CODE_LENGTH)
    assert code is not None
    r.code = code
    price = r.obj(data, "price", required=True)
    billing = r.obj(data, "billingAddress")
    status = r.obj(data, "status")
    customer_guid = r.text(data, "customerGuid", max_len=CODE_LENGTH)
    row: dict[str, Any] = {
        "code": code,
        "guid": r.text(data, "guid", max_len=CODE_LENGTH),
        "status_id": r.integer(status, "id", "status."),
        "status_name": r.text(status, "name", "status."),
        "paid": r.boolean(data, "paid"),
        "payment_method": r.text(r.obj(data, "paymentMethod"), "name", "paymentMethod."),
        "shipping_method": r.text(r.obj(data, "shipping"), "name", "shipping."),
        "currency": _currency(r, price, "currencyCode", "price.", required=True),
        "exchange_rate": r.decimal(price, "exchangeRate", "price.", _EXCHANGE_RATE),
        "total_net": r.decimal(price, "withoutVat", "price.", _MONEY),
        "total_gross": r.decimal(price, "withVat", "price.", _MONEY),
        "total_vat": r.decimal(price, "vat", "price.", _MONEY),
        "customer_guid": customer_guid,
        "email": r.email(data, "email"),
        "phone": r.text(data, "phone", max_len=CODE_LENGTH),
        "full_name": r.text(billing, "fullName", "billingAddress."),
        "company": r.text(billing, "company", "billingAddress."),
        "country_code": r.text(billing, "countryCode", "billingAddress.", max_len=2),
        "creation_time": r.time(data, "creationTime"),
        "change_time": r.time(data, "changeTime"),
    }
    items: list[dict[str, Any]] = []
    seen: set[int] = set()
    stock_codes: set[str] = set()
    for position, raw in enumerate(r.array(data, "items", required=True)):
        item = _parse_item(r, raw, position)
        if item["item_id"] in seen:
            raise r.error(f"items[{position}]: itemId {item['item_id']} appears twice")
        seen.add(item["item_id"])
        if item["code"] is not None and item["item_type"] in STOCK_ITEM_TYPES:
            stock_codes.add(item["code"])
        items.append(item)
    row["content_hash"] = content_hash([*(row[k] for k in _ORDER_HASHED), *(i["content_hash"] for i in items)])
    customer = None
    if customer_guid is not None:
        customer = {
            "guid": customer_guid,
            "origin": "order",
            "email": row["email"],
            "phone": row["phone"],
            "full_name": row["full_name"],
            "company": row["company"],
            "billing_address": _json(dict(billing)) if billing else None,
            "delivery_addresses": None,
            "customer_group": None,
            "creation_time": None,
            "change_time": None,
            # Never equal to a real record's hash: the customer's own import always completes it.
            "content_hash": "",
            "source": None,
        }
    return OrderRecord(code, customer_guid, row, items, customer, frozenset(stock_codes), data)


def _parse_item(r: _Reader, raw: Any, position: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise r.error(f"items[{position}] is not an object")
    at = f"items[{position}]."
    at_item, at_unit = at + "itemPrice.", at + "unitPrice."
    item_price = r.obj(raw, "itemPrice", at)
    unit_price = r.obj(raw, "unitPrice", at)
    item: dict[str, Any] = {
        "item_id": r.integer(raw, "itemId", at, required=True),
        "position": position,
        "item_type": r.text(raw, "itemType", at, required=True, max_len=32),
        "code": r.text(raw, "code", at, max_len=CODE_LENGTH),
        "product_guid": r.text(raw, "productGuid", at, max_len=CODE_LENGTH),
        "ean": r.text(raw, "ean", at, max_len=CODE_LENGTH),
        "name": r.text(raw, "name", at) or "",
        "variant_name": r.text(raw, "variantName", at),
        "quantity": r.decimal(raw, "amount", at, _AMOUNT),
        "unit": r.text(raw, "amountUnit", at, max_len=32),
        "unit_price_net": r.decimal(unit_price, "withoutVat", at_unit, _MONEY),
        "unit_price_gross": r.decimal(unit_price, "withVat", at_unit, _MONEY),
        "total_net": r.decimal(item_price, "withoutVat", at_item, _MONEY),
        "total_gross": r.decimal(item_price, "withVat", at_item, _MONEY),
        "total_vat": r.decimal(item_price, "vat", at_item, _MONEY),
        "vat_rate": r.decimal(item_price, "vatRate", at_item, _RATE)
        or r.decimal(unit_price, "vatRate", at_unit, _RATE),
    }
    item["content_hash"] = content_hash(item[k] for k in _ITEM_HASHED)
    return item


def _currency(r: _Reader, data: Mapping[str, Any], key: str, at: str, *, required: bool = False) -> str | None:
    value = r.text(data, key, at, required=required)
    if value is None:
        return None
    if len(value) != 3 or not value.isalpha():
        raise r.error(f"field '{at}{key}': {value!r} is not a 3-letter currency code")
    return value.upper()


# -------------------------------------------------------------------------------------------- products
@dataclass(slots=True)
class ProductRecord:
    """One product: ``row`` for ``commerce_products``, ``variants`` for ``commerce_variants`` (without the
    product and shop ids)."""

    guid: str
    row: dict[str, Any]
    variants: list[dict[str, Any]]
    data: Mapping[str, Any]


_PRODUCT_HASHED = ("guid", "name", "type", "visibility", "brand", "url", "creation_time", "change_time")
_VARIANT_HASHED = (
    "code",
    "ean",
    "name",
    "stock",
    "unit",
    "price",
    "price_includes_vat",
    "vat_rate",
    "currency",
    "visible",
)


def parse_product(data: Mapping[str, Any]) -> ProductRecord:
    """Validate and normalise one Shoptet product (the detail's ``data``) with its variants."""
    if not isinstance(data, Mapping):
        raise RecordError(None, "not a JSON object", kind="product")
    r = _Reader("product", None)
    guid = r.text(data, "guid", required=True, max_len=CODE_LENGTH)
    assert guid is not None
    r.code = guid
    row: dict[str, Any] = {
        "guid": guid,
        "name": r.text(data, "name"),
        "type": r.text(data, "type", max_len=32),
        "visibility": r.text(data, "visibility", max_len=32),
        "brand": r.text(r.obj(data, "brand"), "name", "brand."),
        "url": r.text(data, "url"),
        "creation_time": r.time(data, "creationTime"),
        "change_time": r.time(data, "changeTime"),
    }
    variants: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, raw in enumerate(r.array(data, "variants", required=True)):
        at = f"variants[{n}]."
        if not isinstance(raw, Mapping):
            raise r.error(f"variants[{n}] is not an object")
        variant: dict[str, Any] = {
            "code": r.text(raw, "code", at, required=True, max_len=CODE_LENGTH),
            "ean": r.text(raw, "ean", at, max_len=CODE_LENGTH),
            "name": r.text(raw, "name", at),
            "stock": r.decimal(raw, "stock", at, _AMOUNT),
            "unit": r.text(raw, "unit", at, max_len=32),
            "price": r.decimal(raw, "price", at, _MONEY),
            "price_includes_vat": r.boolean(raw, "includingVat", at),
            "vat_rate": r.decimal(raw, "vatRate", at, _RATE),
            "currency": _currency(r, raw, "currencyCode", at),
            "visible": r.boolean(raw, "visible", at),
        }
        if variant["code"] in seen:
            raise r.error(f"variants[{n}]: variant code {variant['code']!r} appears twice")
        seen.add(variant["code"])
        variant["content_hash"] = content_hash(variant[k] for k in _VARIANT_HASHED)
        variants.append(variant)
    row["content_hash"] = content_hash([*(row[k] for k in _PRODUCT_HASHED), *(v["content_hash"] for v in variants)])
    return ProductRecord(guid, row, variants, data)


# ------------------------------------------------------------------------------------------- customers
@dataclass(slots=True)
class CustomerRecord:
    """One customer: ``row`` for ``commerce_customers`` (without ids and times we set)."""

    guid: str
    row: dict[str, Any]
    data: Mapping[str, Any]


_CUSTOMER_HASHED = (
    "guid",
    "email",
    "phone",
    "full_name",
    "company",
    "billing_address",
    "delivery_addresses",
    "customer_group",
    "creation_time",
    "change_time",
)


def parse_customer(data: Mapping[str, Any]) -> CustomerRecord:
    """Validate and normalise one Shoptet customer (``data.customer``).

    E-mail and phone come from the main account (the first account when none is marked main): Shoptet
    keeps them per login account, not on the customer.
    """
    if not isinstance(data, Mapping):
        raise RecordError(None, "not a JSON object", kind="customer")
    r = _Reader("customer", None)
    guid = r.text(data, "guid", required=True, max_len=CODE_LENGTH)
    assert guid is not None
    r.code = guid
    billing = r.obj(data, "billingAddress")
    accounts = r.array(data, "accounts")
    if not all(isinstance(a, Mapping) for a in accounts):
        raise r.error("field 'accounts' holds something other than objects")
    main = next((a for a in accounts if a.get("mainAccount")), accounts[0] if accounts else {})
    delivery = r.array(data, "deliveryAddress")
    row: dict[str, Any] = {
        "guid": guid,
        "origin": "customer",
        "email": r.email(main, "email", "accounts[main]."),
        "phone": r.text(main, "phone", "accounts[main].", max_len=CODE_LENGTH),
        "full_name": r.text(billing, "fullName", "billingAddress.") or r.text(main, "fullName", "accounts[main]."),
        "company": r.text(billing, "company", "billingAddress."),
        "billing_address": _json(dict(billing)) if billing else None,
        "delivery_addresses": _json(delivery) if delivery else None,
        "customer_group": r.text(r.obj(data, "customerGroup"), "name", "customerGroup."),
        "creation_time": r.time(data, "creationTime"),
        "change_time": r.time(data, "changeTime"),
    }
    row["content_hash"] = content_hash(row[k] for k in _CUSTOMER_HASHED)
    return CustomerRecord(guid, row, data)
