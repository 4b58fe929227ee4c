"""Deterministic shop data for the Shoptet simulator: products, customers and orders derived from a seed.

Why it is shaped like this: the simulator must serve shops with 100,000 orders without a long start or a large
heap. So only the fields that list filters need (creation time, change time, status, customer of each order) are
kept, in compact ``array`` columns filled from one random stream at start. Everything else (items, addresses,
prices) is rebuilt on demand from ``random.Random(key(seed, kind, index))``, so the same seed always gives the
same shop, on any machine and in any process. Changes made while the simulator runs (new orders, status changes)
are the only other state.

Formats follow Shoptet's OpenAPI file: datetimes ``2017-12-12T22:08:01+0100`` (Europe/Prague offset, no colon),
money strings with two decimals (``"123.00"``), amounts with three (``"1.000"``), exchange rates with eight.
"""

from __future__ import annotations

import functools
import random
import threading
import time
import unicodedata
import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "ORDER_STATUSES",
    "PAYMENT_METHODS",
    "SHIPPING_METHODS",
    "CustomerRecord",
    "ProductRecord",
    "ShopData",
    "VariantRecord",
    "format_time",
    "money",
    "parse_time",
]

PRAGUE = ZoneInfo("Europe/Prague")
DAY = 86_400.0
ORDER_HISTORY_DAYS = 90
PRODUCT_HISTORY_DAYS = 365
CUSTOMER_HISTORY_DAYS = 540
EUR_RATE_CENTS = 2_432  # CZK per EUR × 100, the rate stamped on EUR orders ("24.32000000")

# Random-stream kinds: distinct integers so every entity and purpose draws from its own stream.
_K_COLUMNS, _K_PRODUCT, _K_CUSTOMER, _K_ORDER, _K_MALFORMED, _K_ADVANCE, _K_GUID = range(1, 8)
# Later additions get their own kinds, so adding them left every earlier stream (and so every order) unchanged.
_K_DISCOUNT = 8

#: Share of orders with a discount-coupon line, and of orders over ``VOLUME_DISCOUNT_FROM`` (hundredths, CZK)
#: with a volume-discount line. Both lines have negative prices, as Shoptet's do.
COUPON_SHARE = 0.15
VOLUME_DISCOUNT_SHARE = 0.5
VOLUME_DISCOUNT_FROM = 500_000
COUPONS = (("JARO10", 10), ("VIP15", 15), ("VITEJTE", 0))  # (code, percent; 0: a fixed 100 CZK off)


def _key(seed: int, kind: int, index: int) -> int:
    """Seed for one entity's stream; ints (unlike str) hash the same in every process."""
    return ((seed & 0xFFFF_FFFF) << 40) | (kind << 32) | (index & 0xFFFF_FFFF)


def _rng(seed: int, kind: int, index: int) -> random.Random:
    return random.Random(_key(seed, kind, index))


def unit_hash(seed: int, kind: int, index: int) -> float:
    """A uniform value in [0, 1) fixed by (seed, kind, index): cheap, stateless decisions such as 'is malformed'."""
    x = (_key(seed, kind, index) * 0x9E3779B97F4A7C15) & 0xFFFF_FFFF_FFFF_FFFF
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & 0xFFFF_FFFF_FFFF_FFFF
    x ^= x >> 29
    return (x >> 11) / float(1 << 53)


def _guid(seed: int, kind: int, index: int) -> str:
    """A uuid-shaped identifier whose last group encodes the index, so a guid maps back to its entity."""
    head = random.Random(_key(seed, _K_GUID, kind * 10_000_000 + index)).getrandbits(80)
    return str(uuid.UUID(int=(head << 48) | index))


def guid_index(guid: str) -> int | None:
    """The index a simulator guid encodes, or None if the text is not guid-shaped."""
    try:
        return uuid.UUID(guid).int & 0xFFFF_FFFF_FFFF
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------------------
# Formats


def format_time(ts: float) -> str:
    """Shoptet's datetime format: local Prague time with a colon-less offset, e.g. ``2017-12-12T22:08:01+0100``."""
    return datetime.fromtimestamp(int(ts), PRAGUE).strftime("%Y-%m-%dT%H:%M:%S%z")


def parse_time(text: str) -> float:
    """Parse a datetime query value; a ``+`` sent unencoded arrives as a space, which Shoptet rejects too.

    Raises ValueError with a message fit for a 400 response.
    """
    if " " in text.strip():
        raise ValueError(
            f'"{text}" is not a valid datetime: a "+" in the offset must be sent URL-encoded as %2B '
            '(expected e.g. "2017-12-12T22:08:01+0100")'
        )
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f'"{text}" is not a valid datetime (expected e.g. "2017-12-12T22:08:01+0100")') from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PRAGUE)
    return parsed.timestamp()


def money(cents: int) -> str:
    """Integer hundredths to Shoptet's money string: -1234 → ``"-12.34"``."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def amount(thousandths: int) -> str:
    """Integer thousandths to Shoptet's amount string: 1500 → ``"1.500"``."""
    sign = "-" if thousandths < 0 else ""
    whole, part = divmod(abs(thousandths), 1000)
    return f"{sign}{whole}.{part:03d}"


def _without_vat(with_vat: int, rate: int) -> int:
    """Price without VAT in hundredths, rounded half up, as Shoptet computes it from a VAT-inclusive price."""
    return (with_vat * 100 * 2 + (100 + rate)) // (2 * (100 + rate))


@functools.lru_cache(maxsize=65_536)
def _price_block(with_vat: int, rate: int) -> dict[str, str]:
    """A ``{withVat, withoutVat, vat, vatRate}`` block. Cached, as catalog prices repeat across orders: treat
    the returned dict as read-only (it is shared)."""
    base = _without_vat(with_vat, rate)
    return {
        "withVat": money(with_vat),
        "withoutVat": money(base),
        "vat": money(with_vat - base),
        "vatRate": f"{rate}.00",
    }


def _ean13(rng: random.Random) -> str:
    digits = [8, 5, 9] + [rng.randrange(10) for _ in range(9)]  # 859: the GS1 Czech prefix
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


# ---------------------------------------------------------------------------------------------------------------
# Code lists: the e-shop's configuration, the same for every seed


@dataclass(frozen=True)
class Shipping:
    guid: str
    name: str
    company_code: str | None
    price: int  # CZK hundredths, VAT included
    pickup_point: bool


@dataclass(frozen=True)
class Payment:
    guid: str
    name: str
    billing_id: int
    billing_name: str
    price: int


SHIPPING_METHODS = (
    Shipping("8a3c1d2e-5f60-11ec-a8f5-0cc47a6c9370", "Zásilkovna – výdejní místo", "zasilkovna", 7_900, True),
    Shipping("8a3c2f44-5f60-11ec-a8f5-0cc47a6c9370", "PPL – doručení na adresu", "ppl", 11_900, False),
    Shipping("8a3c3a1b-5f60-11ec-a8f5-0cc47a6c9370", "Česká pošta – Balík Do ruky", "ceskaPosta", 12_900, False),
    Shipping("8a3c44d7-5f60-11ec-a8f5-0cc47a6c9370", "DPD – doručení na adresu", "dpd", 10_900, False),
    Shipping("8a3c4f02-5f60-11ec-a8f5-0cc47a6c9370", "Osobní odběr – Praha", None, 0, False),
)
PAYMENT_METHODS = (
    Payment("6f2b0c1a-5f61-11ec-a8f5-0cc47a6c9370", "Dobírka", 1, "Dobírkou", 3_900),
    Payment("6f2b1d3c-5f61-11ec-a8f5-0cc47a6c9370", "Bankovním převodem", 2, "Převodem", 0),
    Payment("6f2b2e4d-5f61-11ec-a8f5-0cc47a6c9370", "Platba kartou online", 4, "Kartou", 0),
    Payment("6f2b3f5e-5f61-11ec-a8f5-0cc47a6c9370", "Hotově při převzetí", 3, "Hotově", 0),
)
# Shoptet's system statuses have negative ids.
ORDER_STATUSES: dict[int, str] = {-1: "Nevyřízena", -4: "Vyřizuje se", -2: "Vyřízena", -3: "Stornována"}
_NEXT_STATUS = {-1: -4, -4: -2, -2: -2, -3: -3}
ORDER_SOURCE = {"id": -1, "name": "E-shop"}

_MALE = ["Jan", "Petr", "Jiří", "Josef", "Pavel", "Martin", "Tomáš", "Jaroslav", "Miroslav", "Zdeněk", "Václav",
         "Michal", "František", "Jakub", "Lukáš", "David", "Ondřej", "Marek", "Filip", "Vojtěch"]  # fmt: skip
_FEMALE = ["Jana", "Marie", "Eva", "Hana", "Anna", "Lenka", "Kateřina", "Lucie", "Věra", "Alena", "Petra",
           "Veronika", "Martina", "Tereza", "Michaela", "Jitka", "Barbora", "Markéta", "Klára", "Zuzana"]  # fmt: skip
# (masculine, feminine) surname pairs
_SURNAMES = [("Novák", "Nováková"), ("Svoboda", "Svobodová"), ("Novotný", "Novotná"), ("Dvořák", "Dvořáková"),
             ("Černý", "Černá"), ("Procházka", "Procházková"), ("Kučera", "Kučerová"), ("Veselý", "Veselá"),
             ("Horák", "Horáková"), ("Němec", "Němcová"), ("Marek", "Marková"), ("Pospíšil", "Pospíšilová"),
             ("Pokorný", "Pokorná"), ("Hájek", "Hájková"), ("Král", "Králová"), ("Jelínek", "Jelínková"),
             ("Růžička", "Růžičková"), ("Beneš", "Benešová"), ("Fiala", "Fialová"), ("Sedláček", "Sedláčková"),
             ("Zeman", "Zemanová"), ("Kolář", "Kolářová"), ("Navrátil", "Navrátilová"), ("Čermák", "Čermáková"),
             ("Urban", "Urbanová"), ("Blažek", "Blažková"), ("Kříž", "Křížová"), ("Kovács", "Kovácsová"),
             ("Horváth", "Horváthová"), ("Varga", "Vargová")]  # fmt: skip
# (city, zip, region name, region shortcut)
_CZ_CITIES = [("Praha", "110 00", "Hlavní město Praha", "PHA"), ("Brno", "602 00", "Jihomoravský kraj", "JHM"),
              ("Ostrava", "702 00", "Moravskoslezský kraj", "MSK"), ("Plzeň", "301 00", "Plzeňský kraj", "PLK"),
              ("Liberec", "460 01", "Liberecký kraj", "LBK"), ("Olomouc", "779 00", "Olomoucký kraj", "OLK"),
              ("České Budějovice", "370 01", "Jihočeský kraj", "JHC"),
              ("Hradec Králové", "500 02", "Královéhradecký kraj", "HKK"),
              ("Pardubice", "530 02", "Pardubický kraj", "PAK"), ("Zlín", "760 01", "Zlínský kraj", "ZLK"),
              ("Jihlava", "586 01", "Kraj Vysočina", "VYS"), ("Ústí nad Labem", "400 01", "Ústecký kraj", "ULK"),
              ("Karlovy Vary", "360 01", "Karlovarský kraj", "KVK"), ("Kladno", "272 01", "Středočeský kraj", "STC"),
              ("Opava", "746 01", "Moravskoslezský kraj", "MSK"),
              ("Tábor", "390 01", "Jihočeský kraj", "JHC")]  # fmt: skip
_SK_CITIES = [("Bratislava", "811 01", "Bratislavský kraj", "BA"), ("Košice", "040 01", "Košický kraj", "KE"),
              ("Žilina", "010 01", "Žilinský kraj", "ZA"), ("Nitra", "949 01", "Nitriansky kraj", "NR"),
              ("Banská Bystrica", "974 01", "Banskobystrický kraj", "BB"), ("Trnava", "917 01", "Trnavský kraj", "TT"),
              ("Prešov", "080 01", "Prešovský kraj", "PO")]  # fmt: skip
_STREETS = ["Hlavní", "Nádražní", "Školní", "Husova", "Masarykova", "Palackého", "Komenského", "Jiráskova",
            "Tyršova", "Smetanova", "Zahradní", "Polní", "Krátká", "Lipová", "Sadová", "Dlouhá", "Na Výsluní",
            "Karlova", "Družstevní", "Lesní"]  # fmt: skip
_COMPANY_WORDS = ["Stavby", "Obchod", "Servis", "Technik", "Design", "Gastro", "Agro", "Elektro", "Trade", "Media"]
_CZ_MAIL = ["seznam.cz", "gmail.com", "email.cz", "centrum.cz", "post.cz", "volny.cz"]
_SK_MAIL = ["gmail.com", "azet.sk", "centrum.sk", "post.sk"]

# (category name, VAT rate, nouns, unit)
_CATEGORIES = [("Oblečení", 21, ["Tričko", "Mikina", "Bunda", "Kalhoty", "Svetr", "Čepice"], "ks"),
               ("Elektronika", 21, ["Sluchátka", "Powerbanka", "Nabíječka", "Reproduktor", "Kabel USB-C", "Myš"], "ks"),
               ("Domácnost", 21, ["Hrnek", "Konvice", "Pánev", "Prostírání", "Lampa", "Polštář"], "ks"),
               ("Kosmetika", 21, ["Krém", "Šampon", "Sprchový gel", "Parfém", "Balzám na rty"], "ks"),
               ("Potraviny", 12, ["Káva zrnková", "Čaj sypaný", "Med lesní", "Čokoláda hořká", "Sirup"], "ks"),
               ("Knihy", 0, ["Kniha", "Kuchařka", "Atlas", "Průvodce", "Komiks"], "ks"),
               ("Hračky", 21, ["Stavebnice", "Plyšák", "Puzzle", "Autíčko", "Hra"], "ks"),
               ("Zahrada", 21, ["Hnojivo", "Konev", "Rukavice", "Semínka", "Květináč"], "ks")]  # fmt: skip
_ADJECTIVES = ["Classic", "Premium", "Eco", "Mini", "Max", "Comfort", "Sport", "Retro", "Basic", "Deluxe"]
_BRANDS = [("tescoma", "Tescoma"), ("bata", "Baťa"), ("koh-i-noor", "Koh-i-noor"), ("sencor", "Sencor"),
           ("ryor", "Ryor"), ("albi", "Albi"), ("mattoni", "Mattoni"), ("moser", "Moser")]  # fmt: skip
_SUPPLIERS = [("0b7e1a44-6a01-11ec-a8f5-0cc47a6c9370", "Velkoobchod Morava s.r.o."),
              ("0b7e2c55-6a01-11ec-a8f5-0cc47a6c9370", "Distribuce Praha a.s."),
              ("0b7e3d66-6a01-11ec-a8f5-0cc47a6c9370", "Import Brno s.r.o.")]  # fmt: skip
_COLORS = [("CER", "Černá"), ("BIL", "Bílá"), ("MOD", "Modrá"), ("CRV", "Červená"), ("ZEL", "Zelená")]
_SIZES = ["S", "M", "L", "XL"]
_AVAILABILITY_IN = {"id": 1, "name": "Skladem"}
_AVAILABILITY_OUT = {"id": 3, "name": "Momentálně nedostupné"}


def _category_guid(index: int) -> str:
    return f"5c7a{index:04x}-6b02-11ec-a8f5-0cc47a6c9370"


# ---------------------------------------------------------------------------------------------------------------
# Records built on demand


@dataclass(frozen=True)
class Address:
    full_name: str
    company: str | None
    street: str
    house_number: str
    city: str
    zip: str
    country: str
    region_name: str
    region_shortcut: str
    company_id: str | None
    vat_id: str | None

    def billing(self) -> dict[str, Any]:
        return {
            "company": self.company,
            "fullName": self.full_name,
            "street": self.street,
            "houseNumber": self.house_number,
            "city": self.city,
            "district": None,
            "additional": None,
            "zip": self.zip,
            "countryCode": self.country,
            "regionName": self.region_name,
            "regionShortcut": self.region_shortcut,
            "companyId": self.company_id,
            "vatId": self.vat_id,
            "vatIdValidationStatus": "verified" if self.vat_id else None,
            "taxId": None,
        }

    def delivery(self) -> dict[str, Any]:
        return {
            "company": self.company,
            "fullName": self.full_name,
            "street": self.street,
            "houseNumber": self.house_number,
            "city": self.city,
            "district": None,
            "additional": None,
            "zip": self.zip,
            "countryCode": self.country,
            "regionName": self.region_name,
            "regionShortcut": self.region_shortcut,
        }


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    email: str
    phone: str
    address: Address
    birth_date: str | None

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"


def _person(rng: random.Random, slovak: bool) -> Person:
    female = rng.random() < 0.5
    first = rng.choice(_FEMALE if female else _MALE)
    last = rng.choice(_SURNAMES)[1 if female else 0]
    city, zip_code, region, region_short = rng.choice(_SK_CITIES if slovak else _CZ_CITIES)
    company = company_id = vat_id = None
    if rng.random() < 0.15:
        company = f"{last} {rng.choice(_COMPANY_WORDS)} s.r.o."
        company_id = f"{rng.randrange(10_000_000, 99_999_999)}"
        vat_id = ("SK20" if slovak else "CZ") + company_id
    mail_user = f"{_ascii(first)}.{_ascii(last)}{rng.choice(['', str(rng.randrange(1, 99))])}"
    email = f"{mail_user}@{rng.choice(_SK_MAIL if slovak else _CZ_MAIL)}"
    if slovak:
        phone = f"+4219{rng.randrange(10, 99)}{rng.randrange(100_000, 999_999)}"
    else:
        phone = f"+420{rng.choice('67')}{rng.randrange(10_000_000, 99_999_999)}"
    birth = None
    if rng.random() < 0.3:
        birth = f"{rng.randrange(1950, 2005)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    address = Address(
        full_name=f"{first} {last}",
        company=company,
        street=rng.choice(_STREETS),
        house_number=f"{rng.randrange(1, 2500)}" + (f"/{rng.randrange(1, 60)}" if rng.random() < 0.4 else ""),
        city=city,
        zip=zip_code,
        country="SK" if slovak else "CZ",
        region_name=region,
        region_shortcut=region_short,
        company_id=company_id,
        vat_id=vat_id,
    )
    return Person(first, last, email, phone, address, birth)


@dataclass(frozen=True)
class VariantRecord:
    code: str
    ean: str
    name: str | None  # "Barva: Modrá, Velikost: L" or None for a product without variants
    params: tuple[tuple[str, str, str], ...]  # (parameter name, value index, value)
    price: int  # CZK hundredths, VAT included
    purchase_price: int
    vat_rate: int
    stock: int  # thousandths
    weight: int  # grams
    unit: str


@dataclass(frozen=True)
class ProductRecord:
    index: int
    guid: str
    name: str
    slug: str
    category: int
    brand: tuple[str, str] | None
    supplier: tuple[str, str] | None
    visibility: str
    variants: tuple[VariantRecord, ...]
    hs_code: str | None


@dataclass(frozen=True)
class CustomerRecord:
    index: int
    guid: str
    account_guid: str
    person: Person
    delivery: tuple[tuple[str, Address], ...]  # (guid, address), the first one is default
    group: dict[str, Any] | None
    remark: str | None

    @property
    def slovak(self) -> bool:
        return self.person.address.country == "SK"


@dataclass(frozen=True)
class Change:
    """One entry of a changes log (orders, products or customers): the entity's code or guid and its last change."""

    key: str
    change_time: float
    change_type: str


# ---------------------------------------------------------------------------------------------------------------
# The shop


class ShopData:
    """One simulated e-shop: products, customers and orders derived from ``seed``.

    ``now`` pins the moment the generated history ends (default: construction time); pin it when two runs must
    produce byte-identical responses. Times of entities are spread over the 90 days (orders), 365 days (products)
    and 540 days (customers) before it. Everything is thread-safe: mutations and snapshot reads take ``lock``.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        orders: int = 1000,
        products: int = 200,
        customers: int = 500,
        now: float | None = None,
        eshop_domain: str = "sim-eshop.myshoptet.com",
    ) -> None:
        if products < 1:
            raise ValueError("a shop needs at least one product (orders refer to products)")
        if orders < 0 or customers < 0:
            raise ValueError("orders and customers must not be negative")
        self.seed = seed
        self.anchor = float(int(now if now is not None else time.time()))
        self.domain = eshop_domain
        self.lock = threading.Lock()
        self.n_products = products
        self.n_customers = customers
        self._product = functools.lru_cache(maxsize=min(products, 50_000))(self._build_product)
        self._customer = functools.lru_cache(maxsize=min(customers, 20_000) or 1)(self._build_customer)

        cols = _rng(seed, _K_COLUMNS, 0)
        self.product_created, self.product_changed = self._times(cols, products, PRODUCT_HISTORY_DAYS)
        self.customer_created, self.customer_changed = self._times(cols, customers, CUSTOMER_HISTORY_DAYS)
        self.order_created = array("d")
        self.order_changed = array("d")
        self.order_status = array("b")
        self.order_customer = array("i")  # -1: a guest order
        start = self.anchor - ORDER_HISTORY_DAYS * DAY
        step = ORDER_HISTORY_DAYS * DAY / max(orders, 1)
        rand = cols.random
        for i in range(orders):
            created = float(int(start + (i + rand()) * step))
            age = self.anchor - created
            changed = float(int(created + rand() * min(age, 5 * DAY)))
            self.order_created.append(created)
            self.order_changed.append(changed)
            self.order_status.append(self._initial_status(age, rand()))
            has_account = customers > 0 and rand() >= 0.2
            self.order_customer.append(int(rand() * customers) if has_account else -1)
        first_year = datetime.fromtimestamp(start, PRAGUE).year
        self.order_code_base = first_year * 1_000_000
        self._advances = 0

    def _times(self, rng: random.Random, count: int, days: int) -> tuple[array[float], array[float]]:
        """Creation times ascending over the ``days`` before the anchor, and a later change time for each."""
        created = array("d")
        changed = array("d")
        start = self.anchor - days * DAY
        step = days * DAY / max(count, 1)
        for i in range(count):
            ts = float(int(start + (i + rng.random()) * step))
            created.append(ts)
            changed.append(float(int(ts + rng.random() * (self.anchor - ts))))
        return created, changed

    @staticmethod
    def _initial_status(age: float, draw: float) -> int:
        if age < 2 * DAY:
            return -1 if draw < 0.6 else -4
        if age < 7 * DAY:
            return -4 if draw < 0.4 else (-3 if draw > 0.95 else -2)
        return -3 if draw < 0.07 else -2

    # --- identifiers -----------------------------------------------------------------------------------------

    def order_code(self, index: int) -> str:
        return str(self.order_code_base + index + 1)

    def order_index(self, code: str) -> int | None:
        """The index of an order code, or None for a code this shop never issued."""
        if not code.isdigit():
            return None
        index = int(code) - self.order_code_base - 1
        return index if 0 <= index < len(self.order_created) else None

    def product_guid(self, index: int) -> str:
        return _guid(self.seed, _K_PRODUCT, index)

    def product_index(self, guid: str) -> int | None:
        index = guid_index(guid)
        if index is None or not 0 <= index < self.n_products or self.product_guid(index) != guid.lower():
            return None
        return index

    def customer_guid(self, index: int) -> str:
        return _guid(self.seed, _K_CUSTOMER, index)

    def customer_index(self, guid: str) -> int | None:
        index = guid_index(guid)
        if index is None or not 0 <= index < self.n_customers or self.customer_guid(index) != guid.lower():
            return None
        return index

    @property
    def n_orders(self) -> int:
        return len(self.order_created)

    def admin_url(self, path: str) -> str:
        return f"https://{self.domain}/admin/{path}"

    # --- products --------------------------------------------------------------------------------------------

    def product(self, index: int) -> ProductRecord:
        return self._product(index)

    def _build_product(self, index: int) -> ProductRecord:
        rng = _rng(self.seed, _K_PRODUCT, index)
        category = rng.randrange(len(_CATEGORIES))
        cat_name, vat, nouns, unit = _CATEGORIES[category]
        brand = rng.choice(_BRANDS) if rng.random() < 0.7 else None
        name = f"{rng.choice(nouns)} {rng.choice(_ADJECTIVES)}" + (f" {brand[1]}" if brand else "") + f" {index + 1}"
        base_price = rng.choice([49, 99, 149, 199, 249, 299, 399, 499, 699, 899, 1290, 1990, 2990, 4990]) * 100
        variants: list[VariantRecord] = []
        code = f"{index + 1:05d}"
        if rng.random() < 0.6:
            combos: list[tuple[tuple[str, str, str], ...]] = [()]
        else:
            colors = rng.sample(_COLORS, rng.randrange(1, 4))
            sizes = rng.sample(_SIZES, rng.randrange(1, 3)) if cat_name == "Oblečení" else [""]
            combos = [((("Barva", c[0], c[1]),) + ((("Velikost", s, s),) if s else ())) for c in colors for s in sizes]
        for params in combos:
            suffix = "-".join(p[1] for p in params)
            price = base_price + (rng.choice([0, 0, 0, 5000]) if params else 0)
            variants.append(
                VariantRecord(
                    code=f"{code}/{suffix}" if suffix else code,
                    ean=_ean13(rng),
                    name=", ".join(f"{p[0]}: {p[2]}" for p in params) or None,
                    params=params,
                    price=price,
                    purchase_price=price * rng.randrange(45, 70) // 100,
                    vat_rate=vat,
                    stock=rng.choice([0, 1, 2, 5, 10, 25, 40, 100, 250]) * 1000,
                    weight=rng.randrange(50, 3000),
                    unit=unit,
                )
            )
        supplier = rng.choice(_SUPPLIERS) if rng.random() < 0.8 else None
        slug = "-".join(_ascii(name).split())
        visibility = "hidden" if rng.random() < 0.05 else "visible"
        hs_code = f"{rng.randrange(10_000_000, 99_999_999)}" if rng.random() < 0.3 else None
        return ProductRecord(
            index, self.product_guid(index), name, slug, category, brand, supplier, visibility, tuple(variants), hs_code
        )

    # --- customers -------------------------------------------------------------------------------------------

    def customer(self, index: int) -> CustomerRecord:
        return self._customer(index)

    def _build_customer(self, index: int) -> CustomerRecord:
        rng = _rng(self.seed, _K_CUSTOMER, index)
        slovak = rng.random() < 0.12
        person = _person(rng, slovak)
        delivery = [(str(uuid.UUID(int=rng.getrandbits(128), version=4)), person.address)]
        if rng.random() < 0.2:
            other = _person(rng, slovak).address
            delivery.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), other))
        group = {"id": 2, "name": "Velkoobchod"} if person.address.company and rng.random() < 0.5 else None
        remark = "VIP zákazník" if rng.random() < 0.03 else None
        account = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return CustomerRecord(index, self.customer_guid(index), account, person, tuple(delivery), group, remark)

    # --- orders: compact state -------------------------------------------------------------------------------

    def order_state(self, index: int) -> tuple[float, float, int, int]:
        """(creation time, change time, status id, customer index or -1), read under the lock."""
        with self.lock:
            return (
                self.order_created[index],
                self.order_changed[index],
                self.order_status[index],
                self.order_customer[index],
            )

    def add_orders(self, count: int, now: float) -> list[int]:
        """Create ``count`` new orders at ``now``; their contents derive from the seed like the initial ones."""
        created: list[int] = []
        with self.lock:
            self._advances += 1
            rng = _rng(self.seed, _K_ADVANCE, self._advances)
            # Creation times must stay ascending (lists bisect on them), even if ``now`` is before the anchor.
            stamp = max(float(int(now)), self.order_created[-1] if self.order_created else 0.0)
            for _ in range(count):
                self.order_created.append(stamp)
                self.order_changed.append(stamp)
                self.order_status.append(-1)
                has_account = self.n_customers > 0 and rng.random() >= 0.2
                self.order_customer.append(rng.randrange(self.n_customers) if has_account else -1)
                created.append(len(self.order_created) - 1)
        return created

    def change_orders(self, count: int, now: float) -> list[int]:
        """Move ``count`` open orders (pending first, then any) one status forward, stamping ``now``."""
        changed: list[int] = []
        with self.lock:
            self._advances += 1
            rng = _rng(self.seed, _K_ADVANCE, self._advances)
            total = len(self.order_created)
            if total == 0:
                return changed
            open_recent = [i for i in range(max(0, total - 5_000), total) if self.order_status[i] in (-1, -4)]
            rng.shuffle(open_recent)
            picks = open_recent[:count]
            while len(picks) < min(count, total):
                candidate = rng.randrange(total)
                if candidate not in picks:
                    picks.append(candidate)
            for i in picks:
                status = self.order_status[i]
                self.order_status[i] = -3 if status in (-1, -4) and rng.random() < 0.05 else _NEXT_STATUS[status]
                self.order_changed[i] = max(float(int(now)), self.order_created[i])
                changed.append(i)
        return changed

    def order_indices(
        self,
        *,
        status_id: int | None = None,
        creation_from: float | None = None,
        creation_to: float | None = None,
        change_from: float | None = None,
        change_to: float | None = None,
        customer_index: int | None = None,
        code_from: int | None = None,
        code_to: int | None = None,
    ) -> list[int]:
        """Indices of orders matching the compact-column filters, in code order (oldest first)."""
        with self.lock:
            total = len(self.order_created)
            lo = 0 if creation_from is None else bisect_left(self.order_created, creation_from)
            hi = total if creation_to is None else bisect_right(self.order_created, creation_to)
            if code_from is not None:
                lo = max(lo, code_from)
            if code_to is not None:
                hi = min(hi, code_to + 1)
            # One comprehension per filter: several times faster than one loop with all the tests in Python.
            result: list[int] | range = range(lo, hi)
            if change_from is not None or change_to is not None:
                changed = self.order_changed
                low = change_from if change_from is not None else float("-inf")
                high = change_to if change_to is not None else float("inf")
                result = [i for i in result if low <= changed[i] <= high]
            if status_id is not None:
                statuses = self.order_status
                result = [i for i in result if statuses[i] == status_id]
            if customer_index is not None:
                customers = self.order_customer
                result = [i for i in result if customers[i] == customer_index]
            return list(result)

    def changes(self, kind: str, since: float, now: float) -> list[Change]:
        """The changes log of ``kind`` ('orders', 'products', 'customers'): the last change of each entity since
        ``since`` (at most 30 days back, as Shoptet keeps), oldest first. Creation counts as 'edit'."""
        since = max(since, now - 30 * DAY)
        with self.lock:
            if kind == "orders":
                stamps = self.order_changed
                keys = self.order_code
            elif kind == "products":
                stamps = self.product_changed
                keys = self.product_guid
            else:
                stamps = self.customer_changed
                keys = self.customer_guid
            hits = sorted((stamps[i], i) for i in range(len(stamps)) if stamps[i] >= since)
        return [Change(keys(i), ts, "edit") for ts, i in hits]

    # --- orders: full records --------------------------------------------------------------------------------

    def order_detail(self, index: int, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The ``data.order`` object of ``GET /api/orders/{code}``, rebuilt from the seed and current state."""
        created, changed, status_id, customer_index = self.order_state(index)
        rng = _rng(self.seed, _K_ORDER, index)
        status = {"id": status_id, "name": ORDER_STATUSES[status_id]}
        customer = self.customer(customer_index) if customer_index >= 0 else None
        if customer is not None:
            person = customer.person
            slovak = customer.slovak
            delivery_address = customer.delivery[-1][1] if rng.random() < 0.3 else customer.delivery[0][1]
        else:
            slovak = rng.random() < 0.12
            person = _person(rng, slovak)
            delivery_address = person.address
        eur = slovak and rng.random() < 0.9
        shipping = rng.choice(SHIPPING_METHODS)
        payment = rng.choice(PAYMENT_METHODS[:3] if shipping.price else PAYMENT_METHODS)
        completed = status_id == -2
        item_status = status

        def convert(czk: int) -> int:
            return (czk * 100 + EUR_RATE_CENTS // 2) // EUR_RATE_CENTS if eur else czk

        items: list[dict[str, Any]] = []
        totals = [0, 0]  # with VAT, without VAT
        lines = min(10, 1 + int(rng.expovariate(0.6)))
        base_item_id = index * 16 + 1
        for k in range(lines):
            product = self.product(rng.randrange(self.n_products))
            variant = rng.choice(product.variants)
            qty = rng.choice([1, 1, 1, 1, 2, 2, 3, 5])
            unit_price = convert(variant.price)
            line_price = unit_price * qty
            totals[0] += line_price
            totals[1] += _without_vat(line_price, variant.vat_rate)
            item: dict[str, Any] = {
                "productGuid": product.guid,
                "code": variant.code,
                "ean": variant.ean,
                "itemType": "product",
                "productType": "product",
                "name": product.name,
                "variantName": variant.name,
                "brand": product.brand[1] if product.brand else None,
                "remark": None,
                "weight": amount(variant.weight),
                "additionalField": None,
                "amount": amount(qty * 1000),
                "amountUnit": variant.unit,
                "priceRatio": "1.0000",
                "status": item_status,
                "itemPrice": _price_block(line_price, variant.vat_rate),
                "unitPrice": _price_block(unit_price, variant.vat_rate),
                "purchasePrice": _price_block(convert(variant.purchase_price), variant.vat_rate),
                "recyclingFee": None,
                "itemId": base_item_id + k,
                "warrantyDescription": None,
                "amountCompleted": amount(qty * 1000 if completed else 0),
            }
            if "stockLocation" in include:
                item["stockLocation"] = f"R{product.index % 20 + 1}-P{product.index % 7 + 1}"
            if "images" in include:
                item["mainImage"] = _image(product, created)
            if "surchargeParameters" in include:
                item["surchargeParametersTexts"] = []
                item["surchargeParameters"] = []
            if "productFlags" in include:
                item["productFlags"] = []
            items.append(item)
        goods = totals[0]
        for kind, name, price, item_id in self._discounts(index, goods, convert, base_item_id):
            vat_rate = items[0]["unitPrice"]["vatRate"]  # one line across rates, as Shoptet's API lists it
            rate = int(vat_rate.split(".")[0])
            base = -_without_vat(-price, rate)  # rounded like a positive price, then negated
            totals[0] += price
            totals[1] += base
            negative = {
                "withVat": money(price),
                "withoutVat": money(base),
                "vat": money(price - base),
                "vatRate": vat_rate,
            }
            items.append(
                {
                    "productGuid": None,
                    "code": None,  # Shoptet: discounts carry no code (the coupon's is in the name)
                    "ean": None,
                    "itemType": kind,
                    "productType": None,
                    "name": name,
                    "variantName": None,
                    "brand": None,
                    "remark": None,
                    "weight": "0.000",
                    "additionalField": None,
                    "amount": "1.000",
                    "amountUnit": None,
                    "priceRatio": "1.0000",
                    "status": item_status,
                    "itemPrice": negative,
                    "unitPrice": negative,
                    "purchasePrice": None,
                    "recyclingFee": None,
                    "itemId": item_id,
                    "warrantyDescription": None,
                    "amountCompleted": "1.000" if completed else "0.000",
                }
            )
        for kind, name, price, item_id in (
            ("shipping", shipping.name, convert(shipping.price), base_item_id + 14),
            ("billing", payment.name, convert(payment.price), base_item_id + 15),
        ):
            totals[0] += price
            totals[1] += _without_vat(price, 21)
            items.append(
                {
                    "productGuid": None,
                    "code": None,
                    "ean": None,
                    "itemType": kind,
                    "productType": None,
                    "name": name,
                    "variantName": None,
                    "brand": None,
                    "remark": None,
                    "weight": "0.000",
                    "additionalField": None,
                    "amount": "1.000",
                    "amountUnit": None,
                    "priceRatio": "1.0000",
                    "status": item_status,
                    "itemPrice": _price_block(price, 21),
                    "unitPrice": _price_block(price, 21),
                    "purchasePrice": None,
                    "recyclingFee": None,
                    "itemId": item_id,
                    "warrantyDescription": None,
                    "amountCompleted": "1.000" if completed else "0.000",
                }
            )
        paid: bool | None = completed or (payment.billing_id == 4 and status_id != -3)
        if payment.billing_id == 1 and not completed:
            paid = False
        address = person.address
        ip_address = f"{rng.randrange(31, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        order: dict[str, Any] = {
            "code": self.order_code(index),
            "guid": _guid(self.seed, _K_ORDER, index),
            "externalCode": None,
            "creationTime": format_time(created),
            "changeTime": format_time(changed),
            "email": person.email,
            "phone": person.phone,
            "birthDate": None,
            "clientIPAddress": ip_address,
            "customerGuid": customer.guid if customer else None,
            "cashDeskOrder": False,
            "stockId": 1,
            "addressesEqual": delivery_address == address and not shipping.pickup_point,
            "vatPayer": address.vat_id is not None,
            "vatMode": "Normal",
            "billingMethod": {"id": payment.billing_id, "name": payment.billing_name},
            "paymentMethod": {"guid": payment.guid, "name": payment.name},
            "shipping": {"guid": shipping.guid, "name": shipping.name},
            "adminUrl": self.admin_url(f"objednavky-detail/?id={index + 1}"),
            "status": status,
            "source": ORDER_SOURCE,
            "price": _order_price(totals[0], totals[1], eur),
            "paid": paid,
            "billingAddress": address.billing(),
            "deliveryAddress": delivery_address.delivery(),
            "onlinePaymentLink": None,
            "language": "sk" if slovak else "cs",
            "referer": None,
            "items": items,
        }
        if "shippingDetails" in include:
            order["shippingDetails"] = _shipping_details(shipping, rng, delivery_address)
        if "notes" in include:
            order["notes"] = {
                "customerRemark": "Prosím nezvonit, děkuji." if rng.random() < 0.1 else None,
                "eshopRemark": None,
                "trackingNumber": f"Z{rng.randrange(10**9, 10**10)}" if status_id == -2 else None,
                "trackingUrl": None,
                "additionalFields": [],
            }
        if "paymentTransactions" in include:
            order["paymentTransactions"] = []
        return order

    def _discounts(
        self, index: int, goods: int, convert: Callable[[int], int], base_item_id: int
    ) -> list[tuple[str, str, int, int]]:
        """The order's discount lines as ``(itemType, name, negative price in hundredths, itemId)``.

        Decided by their own hashes (not the order's stream), so orders without a discount are the same as
        before discounts existed."""
        lines: list[tuple[str, str, int, int]] = []
        if unit_hash(self.seed, _K_DISCOUNT, index * 2) < COUPON_SHARE:
            code, percent = COUPONS[int(unit_hash(self.seed, _K_DISCOUNT, index * 2 + 1) * len(COUPONS))]
            off = goods * percent // 100 if percent else min(convert(10_000), goods // 2)
            if off > 0:
                lines.append(("discount-coupon", f"Slevový kupón {code}", -off, base_item_id + 12))
        if (
            goods >= convert(VOLUME_DISCOUNT_FROM)
            and unit_hash(self.seed, _K_DISCOUNT + 16, index) < VOLUME_DISCOUNT_SHARE
        ):
            lines.append(("volume-discount", "Množstevní sleva 5 %", -(goods * 5 // 100), base_item_id + 13))
        return lines

    def order_list_item(self, index: int) -> dict[str, Any]:
        """One ``data.orders[]`` entry of ``GET /api/orders``: the detail's summary fields."""
        detail = self.order_detail(index)
        billing = detail["billingAddress"]
        return {
            "code": detail["code"],
            "guid": detail["guid"],
            "creationTime": detail["creationTime"],
            "changeTime": detail["changeTime"],
            "fullName": billing["fullName"],
            "company": billing["company"],
            "email": detail["email"],
            "phone": detail["phone"],
            "remark": None,
            "customerGuid": detail["customerGuid"],
            "cashDeskOrder": False,
            "adminUrl": detail["adminUrl"],
            "status": detail["status"],
            "source": detail["source"],
            "shipping": detail["shipping"],
            "paymentMethod": detail["paymentMethod"],
            "price": detail["price"],
            "paid": detail["paid"],
        }

    # --- products and customers: full records ----------------------------------------------------------------

    def product_list_item(self, index: int, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        product = self.product(index)
        item: dict[str, Any] = {
            "guid": product.guid,
            "name": product.name,
            "type": "product",
            "url": f"https://{self.domain}/{product.slug}/",
            "visibility": product.visibility,
            "creationTime": format_time(self.product_created[index]),
            "changeTime": format_time(self.product_changed[index]),
            "brand": {"code": product.brand[0], "name": product.brand[1]} if product.brand else None,
            "supplier": {"guid": product.supplier[0], "name": product.supplier[1]} if product.supplier else None,
            "defaultCategory": _category(product.category),
        }
        if "images" in include:
            item["mainImage"] = _image(product, self.product_created[index])
        return item

    def product_detail(self, index: int, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The product object of ``GET /api/products/{guid}`` (Shoptet returns it as ``data`` itself)."""
        product = self.product(index)
        created = self.product_created[index]
        variants = []
        for variant in product.variants:
            v: dict[str, Any] = {
                "code": variant.code,
                "ean": variant.ean,
                "stock": amount(variant.stock),
                "unit": variant.unit,
                "weight": amount(variant.weight),
                "width": "0.0",
                "height": "0.0",
                "depth": "0.0",
                "visible": True,
                "price": money(variant.price),
                "commonPrice": None,
                "manufacturerCode": None,
                "pluCode": None,
                "isbn": None,
                "serialNo": None,
                "mpn": None,
                "includingVat": True,
                "vatRate": f"{variant.vat_rate}.00",
                "currencyCode": "CZK",
                "minStockSupply": None,
                "actionPrice": None,
                "name": variant.name,
                "amountDecimalPlaces": 0,
                "availability": _AVAILABILITY_IN if variant.stock > 0 else None,
                "availabilityWhenSoldOut": _AVAILABILITY_OUT,
                "negativeStockAllowed": "no-global",
            }
            if "variantParameters" in include:
                v["parameters"] = [
                    {
                        "paramName": name,
                        "paramIndex": _ascii(name),
                        "paramValue": value_index.lower(),
                        "displayName": value,
                        "rawValue": value,
                        "color": None,
                        "image": None,
                        "valuePriority": 0,
                    }
                    for name, value_index, value in variant.params
                ] or None
            if "perStockAmounts" in include:
                v["perStockAmounts"] = [
                    {
                        "stockId": 1,
                        "amount": amount(variant.stock),
                        "claim": "0.000",
                        "location": None,
                        "lastAmountUpdate": format_time(self.product_changed[index]),
                    }
                ]
            if "perPricelistPrices" in include:
                v["perPricelistPrices"] = [_pricelist_price(variant, pricelist) for pricelist in PRICELISTS]
            variants.append(v)
        item = self.product_list_item(index)
        category_name = _CATEGORIES[product.category][0]
        detail: dict[str, Any] = {
            "guid": product.guid,
            "type": "product",
            "name": product.name,
            "brand": item["brand"],
            "supplier": item["supplier"],
            "visibility": product.visibility,
            "creationTime": item["creationTime"],
            "changeTime": item["changeTime"],
            "shortDescription": f"<p>{product.name} – oblíbený produkt z kategorie {category_name}.</p>",
            "description": None,
            "metaDescription": None,
            "url": item["url"],
            "internalNote": None,
            "hsCode": product.hs_code,
            "defaultCategory": item["defaultCategory"],
            "isVariant": len(product.variants) > 1 or product.variants[0].name is not None,
            "variants": variants,
        }
        if "allCategories" in include:
            detail["categories"] = [{**_category(product.category), "parentGuid": None}]
            detail["categories"][0].pop("visible")
        if "images" in include:
            detail["images"] = [{**_image(product, created), "isMainImage": True, "gallery": "shop"}]
        if "flags" in include:
            detail["flags"] = []
        if "descriptiveParameters" in include:
            detail["descriptiveParameters"] = _descriptive_parameters(product)
        return detail

    def customer_list_item(self, index: int) -> dict[str, Any]:
        customer = self.customer(index)
        address = customer.person.address
        return {
            "guid": customer.guid,
            "creationTime": format_time(self.customer_created[index]),
            "changeTime": format_time(self.customer_changed[index]),
            "billCompany": address.company,
            "billFullName": address.full_name,
            "adminUrl": self.admin_url(f"zakaznici-detail/?id={index + 1}"),
        }

    def customer_detail(self, index: int) -> dict[str, Any]:
        """The ``data.customer`` object of ``GET /api/customers/{guid}``."""
        customer = self.customer(index)
        person = customer.person
        return {
            "guid": customer.guid,
            "billingAddress": person.address.billing(),
            "deliveryAddress": [
                {"guid": guid, **address.delivery(), "isDefault": n == 0}
                for n, (guid, address) in enumerate(customer.delivery)
            ],
            "creationTime": format_time(self.customer_created[index]),
            "changeTime": format_time(self.customer_changed[index]),
            "customerGroup": customer.group,
            "priceList": None,
            "remark": customer.remark,
            "priceRatio": "1.0000",
            "birthDate": person.birth_date,
            "disabledOrders": False,
            "accounts": [
                {
                    "guid": customer.account_guid,
                    "fullName": person.full_name,
                    "email": person.email,
                    "phone": person.phone,
                    "mainAccount": True,
                    "authorized": True,
                    "emailVerified": True,
                }
            ],
            "remarks": [],
            "adminUrl": self.admin_url(f"zakaznici-detail/?id={index + 1}"),
        }

    # --- fault injection -------------------------------------------------------------------------------------

    def malformation(self, kind: str, index: int, rate: float) -> str | None:
        """Whether entity ``index`` of ``kind`` is served malformed, and how: 'invalid-json' or 'missing-field'.

        Fixed by the seed, so the same records are broken in every run and both in details and snapshots.
        """
        if rate <= 0:
            return None
        kind_no = {"orders": 1, "products": 2, "customers": 3}[kind]
        if unit_hash(self.seed, _K_MALFORMED, kind_no * 100_000_000 + index) >= rate:
            return None
        how = unit_hash(self.seed, _K_MALFORMED + 16, kind_no * 100_000_000 + index)
        return "invalid-json" if how < 0.5 else "missing-field"


def _order_price(with_vat: int, without_vat: int, eur: bool) -> dict[str, Any]:
    return {
        "vat": money(with_vat - without_vat),
        "toPay": money(with_vat),
        "currencyCode": "EUR" if eur else "CZK",
        "withoutVat": money(without_vat),
        "withVat": money(with_vat),
        "exchangeRate": f"{EUR_RATE_CENTS // 100}.{EUR_RATE_CENTS % 100:02d}000000" if eur else "1.00000000",
    }


#: The shop's price lists: (id, name, percent off the retail price). 1 is Shoptet's default price list.
PRICELISTS = ((1, "Maloobchod", 0), (2, "Velkoobchod", 12))


def _pricelist_price(variant: VariantRecord, pricelist: tuple[int, str, int]) -> dict[str, Any]:
    """One ``perPricelistPrices[]`` entry of a variant (``include=perPricelistPrices``)."""
    pricelist_id, _name, percent = pricelist
    price = variant.price * (100 - percent) // 100
    return {
        "code": variant.code,
        "currencyCode": "CZK",
        "includingVat": True,
        "vatRate": f"{variant.vat_rate}.00",
        "price": {
            "price": money(price),
            "commonPrice": None,
            "buyPrice": money(variant.purchase_price),
            "priceRatio": "1.000",
            "actionPrice": None,
        },
        "sales": {
            "minPriceRatio": "0.000",
            "freeShipping": False,
            "freeBilling": False,
            "loyaltyDiscount": pricelist_id == 1,
            "volumeDiscount": pricelist_id == 1,
            "quantityDiscount": True,
            "discountCoupon": pricelist_id == 1,
        },
        "orderableAmount": {"minimumAmount": None if pricelist_id == 1 else "5.000", "maximumAmount": None},
        "pricelistId": pricelist_id,
    }


def _descriptive_parameters(product: ProductRecord) -> list[dict[str, Any]]:
    """The product's ``descriptiveParameters`` (``include=descriptiveParameters``): what the shop shows in the
    product's "parameters" table."""
    cat_name = _CATEGORIES[product.category][0]
    params: list[dict[str, Any]] = [
        {"name": "Kategorie", "value": cat_name, "description": None, "priority": 1},
        {"name": "Záruka", "value": "24 měsíců", "description": "Zákonná záruka pro spotřebitele", "priority": 2},
    ]
    if product.brand is not None:
        params.append({"name": "Výrobce", "value": product.brand[1], "description": None, "priority": 3})
    return params


def _category(index: int) -> dict[str, Any]:
    return {"guid": _category_guid(index), "name": _CATEGORIES[index][0], "visible": True}


def _image(product: ProductRecord, created: float) -> dict[str, Any]:
    name = f"{product.index + 1}_{product.slug[:40]}.jpg"
    return {
        "name": name,
        "seoName": name,
        "cdnName": f"{product.index + 1}.jpg",
        "signedCdnNames": None,
        "priority": 1,
        "description": None,
        "changeTime": format_time(created),
    }


def _shipping_details(shipping: Shipping, rng: random.Random, address: Address) -> dict[str, Any] | None:
    if not shipping.pickup_point:
        return None
    branch = rng.randrange(1000, 30000)
    return {
        "branchId": str(branch),
        "shippingCompanyCode": shipping.company_code,
        "name": f"Z-BOX {address.city} {branch % 97}",
        "note": None,
        "place": f"Z-BOX {address.city}",
        "street": f"{address.street} {address.house_number}",
        "city": address.city,
        "zipCode": address.zip,
        "countryCode": address.country,
        "link": f"https://www.zasilkovna.cz/pobocky/{branch}",
        "latitude": None,
        "longitude": None,
        "carrierId": None,
    }
