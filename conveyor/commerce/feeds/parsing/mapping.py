"""Which feed column means what, and the value rules that turn a supplier's text into numbers.

A :class:`FeedMapping` names the feed's columns (CSV header names, or XML child tags such as ``g:gtin``) for
``sku``, ``ean``, ``stock_quantity``, ``delivery_days``, ``purchase_price`` and optionally ``name`` and
``manufacturer_code``; at least one of ``sku`` and ``ean`` is required, since a row must be linkable.
It is validated once (pydantic); rows are then mapped by plain code (:func:`map_row`), because a feed has
a million of them. :func:`check_columns` runs before the first row and refuses a mapping that names a
column the feed does not have, listing the feed's columns.

Every value is stripped of surrounding whitespace first; an empty value means "not given" (``None``).
Text is looked up case-insensitively with runs of whitespace collapsed (``"Na  Skladě"`` = ``"na skladě"``).

Stock quantity → ``quantity`` (``int | None``, None = unknown), ``in_stock`` (``bool | None``), ``at_least``
    - a whole number: that quantity; ``in_stock`` is ``quantity > 0``. Thousands spaces are allowed
      (``"1 234"``); a unit after the number is ignored (``"5 ks"``, ``"5 pcs"``, ``"5 szt."``); a decimal
      (``"2,5"``) is rounded down, so a shop never promises more than the supplier has.
    - a lower bound (``">5"``, ``"> 5"``, ``">=5"``, ``"≥5"``, ``"5+"``, ``"více než 5"``, ``"over 5"``,
      ``"powyżej 5"``): quantity 5 with ``at_least=True`` — the bucket's floor, never more.
    - a known text, from the mapping's ``stock_values`` merged over :data:`DEFAULT_STOCK_VALUES` (unless
      ``default_values`` is False). A rule is a number (that quantity), ``"in_stock"`` (quantity unknown,
      in stock: ``"skladem"``, ``"in stock"``, ``"dostępny"``), ``"out_of_stock"`` (quantity 0, not in stock:
      ``"na dotaz"``, ``"on request"``, ``"vyprodáno"``, ``"preorder"``) or ``"unknown"``.
    - anything else, a negative number, or more than :data:`MAX_QUANTITY` is a :class:`RowError` that says
      how to fix it (for a text: the rule to add).

Delivery days → ``delivery_days`` (``int | None``, 0 = ships now)
    - a whole number of days (``"3"``, ``"3 dny"``, ``"3 days"``, ``"3 dni"``); weeks are 7 days
      (``"2 týdny"``, ``"1 week"``); hours round up to days (``"48 h"`` = 2); a decimal rounds up;
      a range takes its upper end (``"2-3 dny"`` = 3): never promise sooner than the supplier does.
    - a date, ``2026-12-03`` (a time after it is ignored), ``3.12.2026`` or ``20261203``: days from today
      (the caller's clock, see :func:`map_row`); a past date is 0.
    - a known text from ``delivery_values`` merged over :data:`DEFAULT_DELIVERY_VALUES` (``"skladem"`` → 0,
      ``"na dotaz"`` → unknown); anything else, a negative number, or more than :data:`MAX_DELIVERY_DAYS`
      is a :class:`RowError`.

Purchase price → ``Decimal | None``
    - a currency sign or code before or after the number is ignored (``"123,50 Kč"``, ``"€ 12.50"``,
      ``"12,-"``); spaces and apostrophes are thousands separators (``"1 234,50"``, ``"1'234.50"``).
    - with both ``.`` and ``,``, the last one is the decimal separator (``"1.234,50"``, ``"1,234.50"``); a
      single ``,`` or ``.`` is the decimal separator (Czech and Polish feeds write ``"123,50"``); the same
      separator repeated is a thousands separator (``"1.234.567"``).
    - a negative price or text that is not a number is a :class:`RowError`.

EAN → the canonical 14-digit GTIN (:func:`conveyor.commerce.gtin.normalize_gtin`)
    - all zeros (a placeholder some exports write) counts as no EAN.
    - an invalid EAN (bad check digit, wrong length, not digits) on a row that has a SKU only drops the EAN:
      the row still imports (it links by SKU) and carries the problem in ``warnings``, to be stored as a
      row error next to the imported row. Without a SKU the row has nothing else to link by: RowError.

SKU, name, manufacturer code: stripped text, empty → None. A row with neither SKU nor EAN is a RowError.
A row error lists every problem of the row at once, so one round of fixes is enough.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError, model_validator

from conveyor.commerce.feeds.errors import FeedMappingError, RowError
from conveyor.commerce.gtin import normalize_gtin

StockRule = Literal["in_stock", "out_of_stock", "unknown"] | NonNegativeInt
"""What a known stock text means: a quantity, or in stock / out of stock / unknown without a number."""

_IN: Literal["in_stock"] = "in_stock"
_OUT: Literal["out_of_stock"] = "out_of_stock"
DEFAULT_STOCK_VALUES: dict[str, StockRule] = {
    # Czech / Slovak
    "skladem": _IN, "na skladě": _IN, "na sklade": _IN, "skladom": _IN, "ano": _IN, "dostupné": _IN,
    "dostupne": _IN, "ihned": _IN, "ihned k odeslání": _IN, "poslední kusy": _IN, "posledni kusy": _IN,
    "na dotaz": _OUT, "není skladem": _OUT, "neni skladem": _OUT, "nie je skladom": _OUT, "vyprodáno": _OUT,
    "vyprodano": _OUT, "vypredané": _OUT, "na objednávku": _OUT, "na objednavku": _OUT, "u dodavatele": _OUT,
    "nedostupné": _OUT, "nedostupne": _OUT, "ne": _OUT,
    # Polish
    "dostępny": _IN, "dostepny": _IN, "w magazynie": _IN, "na stanie": _IN, "tak": _IN, "na wyczerpaniu": _IN,
    "niedostępny": _OUT, "niedostepny": _OUT, "na zamówienie": _OUT, "na zamowienie": _OUT, "brak": _OUT,
    "nie": _OUT,
    # English, and Google Merchant's g:availability
    "in stock": _IN, "in_stock": _IN, "instock": _IN, "available": _IN, "yes": _IN, "true": _IN,
    "limited availability": _IN,
    "out of stock": _OUT, "out_of_stock": _OUT, "outofstock": _OUT, "on request": _OUT, "sold out": _OUT,
    "preorder": _OUT, "pre-order": _OUT, "backorder": _OUT, "available for order": _OUT, "no": _OUT,
    "false": _OUT,
}  # fmt: skip
"""Stock texts every mapping knows unless it sets ``default_values=False``; its own rules override these."""

DEFAULT_DELIVERY_VALUES: dict[str, int | None] = {
    "skladem": 0, "na skladě": 0, "na sklade": 0, "skladom": 0, "ihned": 0, "ihned k odeslání": 0,
    "dostępny": 0, "dostepny": 0, "od ręki": 0, "od reki": 0, "in stock": 0, "in_stock": 0,
    "immediately": 0, "now": 0,
    "na dotaz": None, "na objednávku": None, "na objednavku": None, "na zamówienie": None,
    "na zamowienie": None, "on request": None, "unknown": None,
}  # fmt: skip
"""Delivery texts every mapping knows unless ``default_values=False``: days, or None for unknown."""

MAX_QUANTITY = 999_999_999
"""The largest stock quantity accepted (9 digits): more is a mangled value, and would not fit the database."""
MAX_DELIVERY_DAYS = 3650
"""The furthest delivery accepted, in days (ten years): more is a mangled value, such as a date without dashes."""

MAPPED_FIELDS = ("sku", "ean", "stock_quantity", "delivery_days", "purchase_price", "name", "manufacturer_code")


def normalize_text(text: str) -> str:
    """The lookup key of a value rule: casefolded, whitespace runs collapsed, stripped."""
    return " ".join(text.split()).casefold()


class FeedMapping(BaseModel):
    """Which column holds what (``None``: the feed does not have it), plus the value rules for real feeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: str | None = Field(None, description="column with the supplier's code of the item (SKU)")
    ean: str | None = Field(None, description="column with the EAN/GTIN barcode")
    stock_quantity: str | None = Field(None, description="column with the quantity the supplier has")
    delivery_days: str | None = Field(None, description="column with days until dispatch (or a date)")
    purchase_price: str | None = Field(None, description="column with the price we pay the supplier")
    name: str | None = Field(None, description="column with the item's name")
    manufacturer_code: str | None = Field(None, description="column with the manufacturer's part number")
    stock_values: dict[str, StockRule] = Field(default_factory=dict, description="extra stock texts and meaning")
    delivery_values: dict[str, NonNegativeInt | None] = Field(default_factory=dict, description="extra delivery texts")
    default_values: bool = Field(True, description="also know DEFAULT_STOCK_VALUES and DEFAULT_DELIVERY_VALUES")

    @model_validator(mode="after")
    def _needs_an_identifier(self) -> FeedMapping:
        for field in MAPPED_FIELDS:
            value = getattr(self, field)
            if value is not None and not value.strip():
                raise ValueError(f"the column for {field} is empty: give the column's name or leave it out")
        if self.sku is None and self.ean is None:
            raise ValueError("map a column to sku or to ean (or both): rows are linked to the catalogue by them")
        for key in [*self.stock_values, *self.delivery_values]:
            if not key.strip():
                raise ValueError("a value rule has an empty text: empty values already mean 'not given'")
        return self

    @cached_property
    def mapper(self) -> RowMapper:
        """This mapping compiled for speed (built on first use, then kept): what :func:`map_row` runs."""
        return RowMapper(self)

    def columns(self) -> dict[str, str]:
        """``{field: column}`` of the fields this mapping maps."""
        return {f: c for f in MAPPED_FIELDS if (c := getattr(self, f)) is not None}


def _stock_rule(rule: StockRule) -> tuple[int | None, bool | None]:
    if rule == "in_stock":
        return None, True
    if rule == "out_of_stock":
        return 0, False
    if rule == "unknown":
        return None, None
    assert isinstance(rule, int)
    return rule, rule > 0


def load_mapping(data: Mapping[str, Any]) -> FeedMapping:
    """A :class:`FeedMapping` from stored or submitted data; what is wrong becomes one FeedMappingError."""
    try:
        return FeedMapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'mapping'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise FeedMappingError(f"the feed mapping is not valid: {problems}") from exc


def check_columns(mapping: FeedMapping, headers: Iterable[str]) -> None:
    """Raise :class:`FeedMappingError` if the mapping names columns the feed lacks, listing the feed's columns.

    Names are compared exactly; a name that differs only in case or spacing is suggested."""
    headers = list(headers)
    present = set(headers)
    if mapping.sku is None and mapping.ean is None:
        raise FeedMappingError("the feed mapping maps neither sku nor ean: rows could not be linked")
    missing = [(field, column) for field, column in mapping.columns().items() if column not in present]
    if not missing:
        return
    by_key = {normalize_text(h): h for h in headers}
    parts = []
    for field, column in missing:
        guess = by_key.get(normalize_text(column)) or next(iter(difflib.get_close_matches(column, headers, 1)), None)
        parts.append(f"{column!r} (for {field})" + (f" — did you mean {guess!r}?" if guess else ""))
    shown = ", ".join(repr(h) for h in headers[:60]) + (f", … ({len(headers)} in all)" if len(headers) > 60 else "")
    noun = "column" if len(missing) == 1 else "columns"
    raise FeedMappingError(f"the feed has no {noun} {', '.join(parts)}; the feed's columns are: {shown or '(none)'}")


class MappedRow(NamedTuple):
    """One feed row in our terms. ``warnings`` are problems that did not stop the row (an EAN dropped).

    Immutable; a named tuple rather than a frozen dataclass because a feed makes a million of them and this
    is the cheapest immutable record Python has (``_asdict()`` gives the JSON for a chunk job)."""

    line: int
    sku: str | None
    ean: str | None
    quantity: int | None
    in_stock: bool | None
    at_least: bool
    delivery_days: int | None
    purchase_price: Decimal | None
    name: str | None = None
    manufacturer_code: str | None = None
    warnings: tuple[RowError, ...] = ()


# --- value rules (patterns compiled once; see the module docstring) -----------------------------------------

_UNIT = r"(?:ks\.?|kus[yů]?|kusů|pcs\.?|pc\.?|szt\.?|sztuk[ai]?|units?)"
_LOWER_BOUND = r"(?:>=|≥|>|více než|vice nez|víc než|nad|over|more than|powyżej|powyzej|ponad|min\.?|od)"
_QUANTITY = re.compile(
    rf"^(?P<op>{_LOWER_BOUND})?\s*(?P<num>[-−]?\d[\d \u00a0\u202f]*(?:[.,]\d+)?)"
    rf"\s*(?P<plus>\+)?\s*{_UNIT}?\s*(?P<plus2>\+)?$"
)
_NUMBER_WITH_UNIT = re.compile(
    r"^(?:do\s+|up to\s+|within\s+|max\.?\s+)?(?P<num>[-−]?\d+(?:[.,]\d+)?)"
    r"(?:\s*(?:-|–|až|az|to|do)\s*(?P<upper>\d+(?:[.,]\d+)?))?\s*(?P<unit>[^\d\s].*)?$"
)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ t].*)?$")
_DOTTED_DATE = re.compile(r"^(\d{1,2})\.\s*(\d{1,2})\.\s*(\d{4})(?:\s.*)?$")
_DAY_UNITS = frozenset(
    {"d", "d.", "den", "dny", "dní", "dni", "dnů", "dnu", "dnia", "day", "days", "dzień", "dzien", "pracovní dny",
     "pracovních dní", "pracovnich dni", "pracovní dni", "pracovné dni", "working days", "working day",
     "business days", "dni robocze", "dni roboczych"}
)  # fmt: skip
_WEEK_UNITS = frozenset(
    {"týden", "týdny", "týdnů", "tyden", "tydny", "tydnu", "week", "weeks", "tydzień", "tydzien", "tygodnie",
     "tygodni", "tyg", "tyg.", "týž.", "tyz."}
)  # fmt: skip
_HOUR_UNITS = frozenset(
    {"h", "h.", "hod", "hod.", "hodin", "hodiny", "hour", "hours", "hrs", "godz", "godz.", "godzin", "godziny"}
)
_PRICE_EDGES = re.compile(r"^[^\d\-−]*(?P<body>[-−]?\d.*?\d|[-−]?\d)[^\d]*$")
_PRICE_BODY = re.compile(r"^\d+(?:\.\d+)?$")
_PRICE_SPACES = str.maketrans("", "", " \u00a0\u202f'’")


def parse_quantity(
    text: str, rules: Mapping[str, tuple[int | None, bool | None]]
) -> tuple[int | None, bool | None, bool]:
    """``(quantity, in_stock, at_least)`` of a stock value; raises ValueError with the reason."""
    value = text.strip()
    if not value:
        return None, None, False
    if value.isdigit() and value.isascii() and len(value) <= 9:
        quantity = int(value)
        return quantity, quantity > 0, False
    rule = rules.get(value) or rules.get(key := normalize_text(value))
    if rule is not None:
        return rule[0], rule[1], False
    match = _QUANTITY.match(key)
    if match is None:
        raise ValueError(
            f"stock quantity {value!r} is neither a number nor a known text: add it to the mapping's "
            f'stock_values (e.g. {{"{key}": "in_stock"}}, "out_of_stock", "unknown" or a number)'
        )
    number = match["num"].replace("−", "-").replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if number.startswith("-"):
        raise ValueError(f"stock quantity {value!r} is negative")
    whole = number.replace(",", ".").partition(".")[0]  # rounded down: never promise more than there is
    if len(whole) > 9:
        raise ValueError(f"stock quantity {value!r} is implausibly large (the most is {MAX_QUANTITY:,})")
    quantity = int(whole)
    at_least = bool(match["op"] or match["plus"] or match["plus2"])
    return quantity, quantity > 0, at_least


def parse_delivery_days(text: str, rules: Mapping[str, int | None], today: date | None) -> int | None:
    """Days until dispatch of a delivery value (``None`` = unknown); raises ValueError with the reason."""
    value = text.strip()
    if not value:
        return None
    if value.isdigit() and value.isascii():
        if len(value) == 8 and value.startswith(("19", "20")):  # a date written 20261203
            return _days_until((int(value[:4]), int(value[4:6]), int(value[6:])), value, today)
        return _check_days(int(value), value)
    key = normalize_text(value)
    if key in rules:
        return rules[key]
    match = _NUMBER_WITH_UNIT.match(key)
    if match is not None:
        number = match["num"].replace("−", "-")
        if number.startswith("-"):
            raise ValueError(f"delivery days {value!r} is negative")
        amount = float((match["upper"] or number).replace(",", "."))
        unit = (match["unit"] or "").strip()
        if not unit or unit in _DAY_UNITS:
            return _check_days(math.ceil(amount), value)
        if unit in _WEEK_UNITS:
            return _check_days(math.ceil(amount * 7), value)
        if unit in _HOUR_UNITS:
            return _check_days(math.ceil(amount / 24), value)
    found = _ISO_DATE.match(key)
    parts = (int(found[1]), int(found[2]), int(found[3])) if found else None
    if parts is None and (found := _DOTTED_DATE.match(key)):
        parts = (int(found[3]), int(found[2]), int(found[1]))
    if parts is not None:
        return _days_until(parts, value, today)
    raise ValueError(
        f"delivery days {value!r} is neither a number of days, a date nor a known text: add it to the "
        f'mapping\'s delivery_values (e.g. {{"{key}": 3}} or null for unknown)'
    )


def _days_until(parts: tuple[int, int, int], value: str, today: date | None) -> int:
    try:
        when = date(*parts)
    except ValueError:
        raise ValueError(f"delivery date {value!r} is not a valid date") from None
    return _check_days(max(0, (when - (today or date.today())).days), value)


def _check_days(days: int, value: str) -> int:
    if days > MAX_DELIVERY_DAYS:
        raise ValueError(f"delivery days {value!r} is implausibly far off (the most is {MAX_DELIVERY_DAYS:,} days)")
    return days


def parse_price(text: str) -> Decimal | None:
    """A purchase price as a Decimal (``None`` when empty); raises ValueError with the reason."""
    value = text.strip()
    if not value:
        return None
    plain = value.replace(",", ".", 1)
    if plain.isascii() and plain.replace(".", "", 1).isdigit():  # "123.50", "123,50": most prices
        return Decimal(plain)
    match = _PRICE_EDGES.match(value)
    if match is None:
        raise ValueError(f"purchase price {value!r} is not a number")
    body = match["body"]
    if body[0] in "-−":
        raise ValueError(f"purchase price {value!r} is negative")
    body = body.translate(_PRICE_SPACES)
    dot, comma = body.rfind("."), body.rfind(",")
    if dot >= 0 and comma >= 0:
        decimal_sep, thousands = (",", ".") if comma > dot else (".", ",")
    elif comma >= 0:
        decimal_sep, thousands = (",", "") if body.count(",") == 1 else ("", ",")
    else:
        decimal_sep, thousands = (".", "") if body.count(".") <= 1 else ("", ".")
    integer, _, fraction = body.rpartition(decimal_sep) if decimal_sep in body and decimal_sep else (body, "", "")
    groups = integer.split(thousands) if thousands else [integer]
    if any(len(group) != 3 for group in groups[1:]) or not all(g.isdigit() for g in groups):
        raise ValueError(f"purchase price {value!r} is not a number")
    body = "".join(groups) + ("." + fraction if fraction else "")
    if not _PRICE_BODY.match(body):
        raise ValueError(f"purchase price {value!r} is not a number")
    try:
        return Decimal(body)
    except InvalidOperation:  # pragma: no cover - the pattern above only lets numbers through
        raise ValueError(f"purchase price {value!r} is not a number") from None


def _ean(text: str) -> str | None:
    value = text.strip()
    if not value or value.strip("0 ") == "":
        return None
    return normalize_gtin(value)


class RowMapper:
    """A :class:`FeedMapping` compiled once: columns as plain attributes, value rules as normalised dicts.

    Mapping a row is then a few dict lookups and string tests, no validation and no attribute magic; get one
    from :attr:`FeedMapping.mapper`."""

    __slots__ = ("delivery_days_column", "delivery_rules", "ean", "mfr", "name", "price", "sku", "stock", "stock_rules")

    def __init__(self, mapping: FeedMapping) -> None:
        self.sku, self.ean, self.stock = mapping.sku, mapping.ean, mapping.stock_quantity
        self.price, self.name, self.mfr = mapping.purchase_price, mapping.name, mapping.manufacturer_code
        self.delivery_days_column = mapping.delivery_days
        stock: dict[str, StockRule] = dict(DEFAULT_STOCK_VALUES) if mapping.default_values else {}
        stock.update({normalize_text(k): v for k, v in mapping.stock_values.items()})
        self.stock_rules = {normalize_text(k): _stock_rule(v) for k, v in stock.items()}
        delivery: dict[str, int | None] = dict(DEFAULT_DELIVERY_VALUES) if mapping.default_values else {}
        delivery.update({normalize_text(k): v for k, v in mapping.delivery_values.items()})
        self.delivery_rules = {normalize_text(k): v for k, v in delivery.items()}

    def map(self, line: int, row: Mapping[str, str], today: date | None = None) -> MappedRow:
        """See :func:`map_row`."""
        get = row.get
        sku = (get(self.sku, "").strip() or None) if self.sku is not None else None
        problems: list[str] = []
        warnings: tuple[RowError, ...] = ()
        ean: str | None = None
        raw_ean = ""
        if self.ean is not None:
            raw_ean = get(self.ean, "")
            try:
                ean = _ean(raw_ean)
            except ValueError as exc:
                if sku is not None:
                    warnings = (RowError(line, f"{exc}; the EAN is ignored, the row links by SKU", code=sku),)
                else:
                    problems.append(str(exc))
        quantity: int | None = None
        in_stock: bool | None = None
        at_least = False
        if self.stock is not None:
            try:
                quantity, in_stock, at_least = parse_quantity(get(self.stock, ""), self.stock_rules)
            except ValueError as exc:
                problems.append(str(exc))
        delivery: int | None = None
        if self.delivery_days_column is not None:
            try:
                delivery = parse_delivery_days(get(self.delivery_days_column, ""), self.delivery_rules, today)
            except ValueError as exc:
                problems.append(str(exc))
        price: Decimal | None = None
        if self.price is not None:
            try:
                price = parse_price(get(self.price, ""))
            except ValueError as exc:
                problems.append(str(exc))
        if sku is None and ean is None and not problems:
            problems.append("no SKU and no EAN: the row cannot be linked to the catalogue")
        if problems:
            raise RowError(line, "; ".join(problems), code=sku or raw_ean.strip() or None)
        return MappedRow(
            line,
            sku,
            ean,
            quantity,
            in_stock,
            at_least,
            delivery,
            price,
            (get(self.name, "").strip() or None) if self.name is not None else None,
            (get(self.mfr, "").strip() or None) if self.mfr is not None else None,
            warnings,
        )


def map_row(mapping: FeedMapping, line: int, row: Mapping[str, str], *, today: date | None = None) -> MappedRow:
    """One feed row mapped by the rules of the module docstring, or :class:`RowError` listing its problems.

    ``today`` is the caller's clock for delivery dates (the run's start, so a whole run agrees); without it
    :func:`datetime.date.today` is used, and only when a row holds a date. A column missing from the row
    (an XML item without that child) counts as empty."""
    return mapping.mapper.map(line, row, today)


def map_rows(
    mapping: FeedMapping, rows: Iterable[tuple[int, Mapping[str, str] | RowError]], *, today: date | None = None
) -> Iterator[MappedRow | RowError]:
    """Every row of :meth:`Feed.rows` mapped; a bad row comes out as its :class:`RowError`, in order."""
    mapper = mapping.mapper.map
    for line, row in rows:
        if isinstance(row, RowError):
            yield row
            continue
        try:
            yield mapper(line, row, today)
        except RowError as exc:
            yield exc
