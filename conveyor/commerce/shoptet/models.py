"""Pydantic models of the Shoptet API answers the sync pipelines use, derived from the official OpenAPI file.

Field names are Python's (``creation_time``); aliases are Shoptet's (``creationTime``), so
``model_dump(by_alias=True, mode="json")`` gives back the Shoptet-shaped dict the importers consume:
money and amounts as the same fixed-point strings (``"21.00"``, ``"1.000"``), datetimes as
``2024-03-01T10:00:00+0100``.

Choices, and why:

* **Decimals from strings.** Shoptet sends money as ``"-12.50"`` (2 places), amounts and stock as
  ``"1.000"`` (3 places), exchange rates with 8. A ``Decimal`` keeps the exponent, so the string comes
  back unchanged; floats are refused because they would already have lost that precision.
* **Aware datetimes.** Shoptet's offsets have no colon (``+0100``); they parse to aware datetimes and are
  written back in the same form. A datetime without an offset is refused: it would be ambiguous.
* **Unknown attributes are kept** (``extra="allow"``): the spec says new attributes may appear at any
  time, and sections the importers do not read yet (images, surcharge parameters…) should still reach
  them in the dumped dict.
* **What an import cannot do without is required; the rest is lenient.** A detail without its identity,
  an order without ``items``/``price``/``status``, a product without ``variants``, a customer without
  ``billingAddress`` (or any of them without ``creationTime``/``changeTime``, which may be null but must
  be there) is a :class:`~conveyor.commerce.shoptet.errors.MalformedResponse`: importing it would
  silently lose data. The many other attributes the spec marks as required default to ``None``, so
  that one shop's missing module does not stop a sync. ``to_shoptet()`` dumps only what was received,
  for an exact round trip.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError
from pydantic.alias_generators import to_camel

SHOPTET_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def parse_shoptet_datetime(value: str) -> datetime:
    """``"2017-12-12T22:08:01+0100"`` → an aware datetime (an offset is required)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"datetime {value!r} has no UTC offset")
    return parsed


def format_shoptet_datetime(value: datetime) -> str:
    """An aware datetime → ``"2017-12-12T22:08:01+0100"``, the form Shoptet sends and accepts in filters."""
    if value.tzinfo is None:
        raise ValueError(f"datetime {value.isoformat()} has no UTC offset; Shoptet needs one")
    return value.strftime(SHOPTET_DATETIME_FORMAT)


def schema_errors(exc: ValidationError) -> str:
    """A validation error in one line: the first three problems (``items: Field required``), and how many more."""
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]]
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _datetime_in(value: object) -> object:
    return parse_shoptet_datetime(value) if isinstance(value, str) else value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime has no UTC offset")
    return value


def _decimal_in(value: object) -> object:
    # Shoptet sends numbers-with-places as strings; a float here means someone already rounded them.
    if isinstance(value, float):
        raise ValueError(f"expected a decimal string such as '21.00', got the float {value!r}")
    return value


ShoptetDateTime = Annotated[
    datetime,
    BeforeValidator(_datetime_in),
    AfterValidator(_aware),
    PlainSerializer(format_shoptet_datetime, return_type=str, when_used="json"),
]
"""An aware datetime read from and written as Shoptet's ``YYYY-MM-DDTHH:MM:SS+hhmm``."""

ShoptetDecimal = Annotated[Decimal, BeforeValidator(_decimal_in)]
"""Money (``"21.00"``), amounts (``"1.000"``), rates: a Decimal that dumps back to the same string."""


class ShoptetModel(BaseModel):
    """Base of every model: camelCase aliases, unknown attributes kept, construction by either name."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_shoptet(self) -> dict[str, Any]:
        """The Shoptet-shaped dict with exactly the attributes that were received (and any set since)."""
        return self.model_dump(by_alias=True, mode="json", exclude_unset=True)


# ---------------------------------------------------------------------------------------------- envelope
class ApiError(ShoptetModel):
    """One entry of the envelope's ``errors``: ``{errorCode, message, instance}``."""

    error_code: str
    message: str = ""
    instance: str | None = None


class Metadata(ShoptetModel):
    """The envelope's ``metadata``: the request id to quote to Shoptet's support."""

    request_id: str | None = None


DataT = TypeVar("DataT")


class Envelope(ShoptetModel, Generic[DataT]):
    """Every JSON answer: ``{data, errors, metadata}``; a missing section is ``null``."""

    data: DataT | None = None
    errors: list[ApiError] | None = None
    metadata: Metadata | None = None


class Paginator(ShoptetModel):
    """``data.paginator`` of list endpoints. Pages are 1-based."""

    total_count: int
    page: int
    page_count: int
    items_on_page: int
    items_per_page: int


# ---------------------------------------------------------------------------------------------- shared parts
class IdName(ShoptetModel):
    """``{id, name}``: order status, order source, availability, billing method."""

    id: int
    name: str | None = None


class GuidName(ShoptetModel):
    """``{guid, name}``: shipping and payment methods, suppliers."""

    guid: str | None = None
    name: str | None = None


class CodeName(ShoptetModel):
    """``{code, name}``: brands."""

    code: str | None = None
    name: str | None = None


class OrderPrice(ShoptetModel):
    """``price`` of an order: totals in the order's currency and its exchange rate to the shop's."""

    vat: ShoptetDecimal | None = None
    to_pay: ShoptetDecimal | None = None
    currency_code: str
    without_vat: ShoptetDecimal | None = None
    with_vat: ShoptetDecimal | None = None
    exchange_rate: ShoptetDecimal | None = None
    invoicing_exchange_rate: ShoptetDecimal | None = None
    partial_payment_amount: ShoptetDecimal | None = None
    partial_payment_type: str | None = None


class ItemPrice(ShoptetModel):
    """``itemPrice`` (the line), ``unitPrice`` (one piece), ``displayPrices[]``, ``purchasePrice``."""

    with_vat: ShoptetDecimal | None = None
    without_vat: ShoptetDecimal | None = None
    vat: ShoptetDecimal | None = None
    vat_rate: ShoptetDecimal | None = None


class Address(ShoptetModel):
    """A postal address as orders and customers carry it (``countryCode`` is ISO 3166 alpha-2)."""

    company: str | None = None
    full_name: str | None = None
    street: str | None = None
    house_number: str | None = None
    city: str | None = None
    district: str | None = None
    additional: str | None = None
    zip: str | None = None
    country_code: str | None = None
    region_name: str | None = None
    region_shortcut: str | None = None


class BillingAddress(Address):
    """A billing address: an address plus the company's identifiers."""

    company_id: str | None = None
    vat_id: str | None = None
    vat_id_validation_status: str | None = None
    tax_id: str | None = None


# ---------------------------------------------------------------------------------------------- orders
class OrderListItem(ShoptetModel):
    """One order of ``GET /api/orders`` (no items, no addresses: fetch the detail for those)."""

    code: str
    guid: str | None = None
    creation_time: ShoptetDateTime | None = None
    change_time: ShoptetDateTime | None = None
    full_name: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    remark: str | None = None
    customer_guid: str | None = None
    cash_desk_order: bool | None = None
    admin_url: str | None = None
    status: IdName | None = None
    source: IdName | None = None
    shipping: GuidName | None = None
    payment_method: GuidName | None = None
    price: OrderPrice | None = None
    paid: bool | None = None
    sales_channel_guid: str | None = None


class OrderItem(ShoptetModel):
    """One line of an order. Shipping and payment are lines too (``itemType`` shipping / billing).

    ``code`` is the variant's code at order time and may be null or point at nothing today; name,
    variant name and weight are copies taken when the order was placed."""

    item_id: int | None = None
    product_guid: str | None = None
    code: str | None = None
    ean: str | None = None
    item_type: str
    product_type: str | None = None
    name: str | None = None
    variant_name: str | None = None
    brand: str | None = None
    remark: str | None = None
    weight: ShoptetDecimal | None = None
    additional_field: str | None = None
    amount: ShoptetDecimal | None = None
    amount_unit: str | None = None
    price_ratio: ShoptetDecimal | None = None
    status: IdName | None = None
    item_price: ItemPrice | None = None
    unit_price: ItemPrice | None = None
    display_prices: list[ItemPrice] | None = None
    purchase_price: ItemPrice | None = None
    stock_location: str | None = None
    supplier_name: str | None = None
    warranty_description: str | None = None
    amount_completed: ShoptetDecimal | None = None


class OrderNotes(ShoptetModel):
    """``notes`` (only with ``include=notes``)."""

    customer_remark: str | None = None
    eshop_remark: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    additional_fields: list[dict[str, Any]] | None = None


class OrderDetail(ShoptetModel):
    """``data.order`` of ``GET /api/orders/{code}``, and one line of an orders snapshot."""

    code: str
    guid: str | None = None
    external_code: str | None = None
    creation_time: ShoptetDateTime | None
    change_time: ShoptetDateTime | None
    email: str | None = None
    phone: str | None = None
    birth_date: str | None = None
    client_ip_address: str | None = Field(default=None, alias="clientIPAddress")
    customer_guid: str | None = None
    cash_desk_order: bool | None = None
    stock_id: int | None = None
    addresses_equal: bool | None = None
    vat_payer: bool | None = None
    vat_mode: str | None = None
    billing_method: IdName | None = None
    payment_method: GuidName | None = None
    shipping: GuidName | None = None
    admin_url: str | None = None
    status: IdName | None
    source: IdName | None = None
    sales_channel_guid: str | None = None
    price: OrderPrice
    paid: bool | None = None
    billing_address: BillingAddress | None = None
    delivery_address: Address | None = None
    online_payment_link: str | None = None
    language: str | None = None
    referer: str | None = None
    items: list[OrderItem]
    notes: OrderNotes | None = None


class OrderChange(ShoptetModel):
    """One entry of ``GET /api/orders/changes``: only the last change of each order is kept (30 days)."""

    code: str
    change_time: ShoptetDateTime | None = None
    change_type: str


# ---------------------------------------------------------------------------------------------- products
class DefaultCategory(ShoptetModel):
    """``defaultCategory`` of a product."""

    guid: str | None = None
    name: str | None = None
    visible: bool | None = None


class Category(ShoptetModel):
    """One of ``categories[]`` of a product detail."""

    guid: str | None = None
    name: str | None = None
    parent_guid: str | None = None


class ProductListItem(ShoptetModel):
    """One product of ``GET /api/products``. There is no stock and no price in the list."""

    guid: str
    name: str | None = None
    type: str | None = None
    url: str | None = None
    visibility: str | None = None
    creation_time: ShoptetDateTime | None = None
    change_time: ShoptetDateTime | None = None
    brand: CodeName | None = None
    supplier: GuidName | None = None
    default_category: DefaultCategory | None = None
    vote_average_score: ShoptetDecimal | None = None
    vote_count: int | None = None


class ActionPrice(ShoptetModel):
    """A time-limited special price of a variant."""

    price: ShoptetDecimal
    from_date: date | None = None
    to_date: date | None = None


class PerStockAmount(ShoptetModel):
    """Stock of a variant in one warehouse (``include=perStockAmounts``, needs the stock module)."""

    stock_id: int
    amount: ShoptetDecimal | None = None
    claim: ShoptetDecimal | None = None
    location: str | None = None
    last_amount_update: ShoptetDateTime | None = None


class ProductVariant(ShoptetModel):
    """One of ``variants[]``: a product without variants still has exactly one. ``code`` is its id.

    ``stock`` is the amount available for ordering (``"1.000"``) or null when stock is not tracked."""

    code: str
    ean: str | None = None
    name: str | None = None
    stock: ShoptetDecimal | None = None
    unit: str | None = None
    weight: ShoptetDecimal | None = None
    width: ShoptetDecimal | None = None
    height: ShoptetDecimal | None = None
    depth: ShoptetDecimal | None = None
    visible: bool | None = None
    price: ShoptetDecimal | None = None
    common_price: ShoptetDecimal | None = None
    including_vat: bool | None = None
    vat_rate: ShoptetDecimal | None = None
    currency_code: str | None = None
    manufacturer_code: str | None = None
    plu_code: str | None = None
    isbn: str | None = None
    serial_no: str | None = None
    mpn: str | None = None
    min_stock_supply: ShoptetDecimal | None = None
    action_price: ActionPrice | None = None
    amount_decimal_places: int | None = None
    availability: IdName | None = None
    availability_when_sold_out: IdName | None = None
    negative_stock_allowed: str | None = None
    per_stock_amounts: list[PerStockAmount] | None = None


class ProductDetail(ShoptetModel):
    """``GET /api/products/{guid}`` (whose ``data`` is the product itself), one line of a products snapshot."""

    guid: str
    type: str | None = None
    name: str | None = None
    brand: CodeName | None = None
    supplier: GuidName | None = None
    visibility: str | None = None
    creation_time: ShoptetDateTime | None = None
    change_time: ShoptetDateTime | None
    short_description: str | None = None
    description: str | None = None
    url: str | None = None
    default_category: DefaultCategory | None = None
    categories: list[Category] | None = None
    is_variant: bool | None = None
    variants: list[ProductVariant]


class ProductChange(ShoptetModel):
    """One entry of ``GET /api/products/changes``. Stock changes do not count as product changes."""

    guid: str
    change_time: ShoptetDateTime | None = None
    change_type: str


# ---------------------------------------------------------------------------------------------- customers
class CustomerListItem(ShoptetModel):
    """One customer of ``GET /api/customers``."""

    guid: str
    creation_time: ShoptetDateTime | None = None
    change_time: ShoptetDateTime | None = None
    bill_company: str | None = None
    bill_full_name: str | None = None
    admin_url: str | None = None


class DeliveryAddress(Address):
    """One of a customer's delivery addresses."""

    guid: str | None = None
    is_default: bool | None = None


class CustomerAccount(ShoptetModel):
    """A login of a customer; a company customer can have several, one of them the main account."""

    guid: str | None = None
    full_name: str | None = None
    email: str | None = None
    phone: str | None = None
    main_account: bool | None = None
    authorized: bool | None = None
    email_verified: bool | None = None


class CustomerDetail(ShoptetModel):
    """``data.customer`` of ``GET /api/customers/{guid}``, and one line of a customers snapshot.

    A customer has no e-mail of its own: e-mails belong to its accounts (see :attr:`email`)."""

    guid: str
    billing_address: BillingAddress | None
    delivery_address: list[DeliveryAddress] | None = None
    creation_time: ShoptetDateTime | None = None
    change_time: ShoptetDateTime | None
    customer_group: IdName | None = None
    price_list: IdName | None = None
    remark: str | None = None
    price_ratio: ShoptetDecimal | None = None
    birth_date: date | None = None
    accounts: list[CustomerAccount] = []
    disabled_orders: bool | None = None
    admin_url: str | None = None

    @property
    def main_account(self) -> CustomerAccount | None:
        """The main account, else the first one (older data may not mark any)."""
        for account in self.accounts:
            if account.main_account:
                return account
        return self.accounts[0] if self.accounts else None

    @property
    def email(self) -> str | None:
        """The main account's e-mail."""
        account = self.main_account
        return account.email if account else None


class CustomerChange(ShoptetModel):
    """One entry of ``GET /api/customers/changes``."""

    guid: str
    change_time: ShoptetDateTime | None = None
    change_type: str


# ---------------------------------------------------------------------------------------------- jobs
JOB_UNFINISHED_STATUSES = frozenset({"pending", "running"})
"""Statuses of a job that is still queued or working; any other status is final."""


class SnapshotAccepted(ShoptetModel):
    """``data`` of the 202 answer of a snapshot endpoint."""

    job_id: str


class SystemJob(ShoptetModel):
    """``data.job`` of ``GET /api/system/jobs/{jobId}``: the state of an asynchronous request.

    ``status`` is pending, running, completed, failed, expired or killed. A completed snapshot has a
    ``resultUrl`` valid until ``validUntil`` (24 h)."""

    job_id: str
    endpoint: str | None = None
    creation_time: ShoptetDateTime | None = None
    completion_time: ShoptetDateTime | None = None
    duration: str | float | None = None
    status: str
    result_url: str | None = None
    valid_until: ShoptetDateTime | None = None
    log: str | None = None
    language: str | None = None

    @property
    def finished(self) -> bool:
        """True once the job will not change any more (completed, failed, expired, killed…)."""
        return self.status not in JOB_UNFINISHED_STATUSES

    @property
    def succeeded(self) -> bool:
        """True when the job completed; a snapshot's file is then at ``result_url``."""
        return self.status == "completed"


# ---------------------------------------------------------------------------------------------- records
#: The top-level fields Shoptet's schema requires in a detail record (an order, a product, a customer), which
#: may be null but must be there, as the detail models above say. The sync pipelines check only these here;
#: every field they keep is checked once, where it becomes a row (``conveyor.commerce.store.shoptet``), so a
#: record is judged the same whether it came from the API or from a snapshot, and is validated once.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f.alias or name for name, f in model.model_fields.items() if f.is_required())
    for kind, model in (("order", OrderDetail), ("product", ProductDetail), ("customer", CustomerDetail))
}


def missing_field(kind: str, record: dict[str, Any]) -> str | None:
    """The first field Shoptet's schema requires in a ``kind`` record ("order", "product", "customer") that
    ``record`` lacks, or None. A presence check (about a microsecond a record)."""
    return next((name for name in REQUIRED_FIELDS[kind] if name not in record), None)
