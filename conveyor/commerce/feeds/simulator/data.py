"""Deterministic supplier feed items: the same seed gives the same feed, on any machine, in any process.

Why it is shaped like this: the simulator must serve a 1,000,000-item feed (~80 MB of CSV) in a few seconds
without holding it in memory. So nothing per item is stored: every field is sliced from one 64-bit hash of
(seed, item index) — product type, line, variant, maker, base price — and the supplier's offer (stock, delivery
days, purchase price) from a hash of (item, supplier, version), where ``version`` is the last change generation
that touched the item. The only per-item state is that version, kept in a compact ``array`` once the feed has
changed at least once (4 bytes an item).

Values follow what real Czech/Polish supplier feeds contain: names with diacritics, SKUs like ``MIK-0000042``,
valid EAN-13 (Czech prefix 859, Polish 590, check digit computed), stock as a number or — for a configurable
share of items — text (``skladem``, ``>5``, ``5+``, ``na dotaz``), delivery days as a number, purchase prices
in hundredths (the format layer prints them with a decimal comma or point).
"""

from __future__ import annotations

import random
import zlib
from array import array
from collections.abc import Iterable, Iterator
from typing import NamedTuple

__all__ = [
    "MALFORMED_KINDS",
    "PRODUCTS",
    "TEXT_STOCK_VALUES",
    "FeedView",
    "RawRow",
    "Row",
    "advance_versions",
    "ean13_check_digit",
    "ean13_weighted_sum",
    "supplier_key",
]

_MASK = (1 << 64) - 1

#: Product types: (SKU prefix, name). Czech and Polish, as a Central European distributor's range is.
_TYPES_CZ = (("MIK", "Dětská mikina"), ("TRI", "Pánské tričko"), ("BUN", "Dámská bunda"),
             ("HRN", "Keramický hrnek"), ("HRA", "Dřevěná hračka"), ("NUZ", "Kuchyňský nůž"),
             ("POL", "Péřový polštář"), ("CEP", "Zimní čepice"), ("KON", "Skleněná konvice"),
             ("SVI", "Vonná svíčka"), ("BAT", "Školní batoh"), ("PUZ", "Puzzle pro děti"))  # fmt: skip
_TYPES_PL = (("KUB", "Kubek ceramiczny"), ("KOS", "Koszulka dziecięca"), ("PDU", "Poduszka puchowa"),
             ("ZAB", "Zabawka drewniana"), ("CZA", "Czapka zimowa"), ("NOZ", "Nóż kuchenny"),
             ("SWI", "Świeca zapachowa"), ("PLE", "Plecak szkolny"))  # fmt: skip
_LINES_CZ = ("Žluťoučká", "Křemílek", "Růžička", "Čtyřlístek", "Šťastný den", "Hvězdička", "Ořechová",
             "Třešňový květ", "Pohádka", "Ďáblík")  # fmt: skip
_LINES_PL = ("Zażółć", "Gęślą jaźń", "Łódź", "Źdźbło", "Świerszcz", "Żubr", "Pszczółka", "Wiśnia")
# One variant carries a double quote (12"), so CSV quoting and XML escaping are exercised by every feed.
_VARIANTS_CZ = ("vel. 98", "vel. 128", "S", "M", "L", "XL", "0,3 l", "28 cm", '12"', "modrá", "zelená")
_VARIANTS_PL = ("rozm. 104", "S", "M", "L", "0,5 l", "30 cm", "niebieski", "czerwony", "biały")
# One maker has an ampersand, for the same reason.
_MAKERS_CZ = ("Žluťoučký kůň s.r.o.", "Dřevo & Hračky s.r.o.", "Kovárna Příbram a.s.", "Textil Dvůr Králové s.r.o.",
              "Sklárny Šumava a.s.", "Česká keramika s.r.o.")  # fmt: skip
_MAKERS_PL = ("Zakłady Łódź Sp. z o.o.", "Ceramika Bolesławiec S.A.", "Tkaniny Żyrardów Sp. z o.o.")

#: Stock as text, as real feeds write it; a share of items (``text_stock_share``) carry one of these.
TEXT_STOCK_VALUES = ("skladem", ">5", "5+", "na dotaz", ">10", "10+")
#: What a malformed row (fault ``malformed``) gets wrong, one kind per row.
MALFORMED_KINDS = ("non-numeric stock", "negative stock", "bad EAN check digit", "missing SKU", "duplicate SKU")

# Salts, so each decision draws from its own hash.
_SALT_ITEM = 0x51A7_E0_17
_SALT_OFFER = 0x0FFE_12
_SALT_MALFORMED = 0xBAD_0
_SALT_CHANGE = 0xC4A_3E
_SALT_EAN = 0xEA_13


def _mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of an int, cheap in pure Python."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def supplier_key(supplier: str) -> int:
    """A stable number for a supplier's name (``hash()`` of a str differs between processes)."""
    return zlib.crc32(supplier.encode("utf-8"))


def ean13_weighted_sum(digits: str) -> int:
    """The GS1 weighted digit sum of the leading digits of an EAN-13: weights 1,3,1,3… from the left."""
    return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))


def ean13_check_digit(first12: str) -> int:
    """The GS1 check digit of the first 12 digits of an EAN-13."""
    return (10 - ean13_weighted_sum(first12) % 10) % 10


# Weighted digit sums of 3-digit groups, so the check digit of 1M EANs costs three table look-ups each.
# The 12 digits are a 3-digit prefix and a 9-digit body; body digits sit at positions 4–12 (1-based), whose
# weights are 3,1,3 | 1,3,1 | 3,1,3.
def _group_sums(w0: int, w1: int, w2: int) -> list[int]:
    return [(n // 100) * w0 + (n // 10 % 10) * w1 + (n % 10) * w2 for n in range(1000)]


_SUM_313 = _group_sums(3, 1, 3)
_SUM_131 = _group_sums(1, 3, 1)
_EAN_STRIDE = 387_420_489  # 3**18: coprime with 10**9, so i → body is one-to-one and EANs never collide


def _catalogue() -> list[tuple[str, str, str, str]]:
    """Every (SKU prefix, name, maker, EAN prefix) an item can have: items pick one by hash, so the per-item
    work is one look-up instead of building a name."""
    lines: list[tuple[str, str, str, str]] = []
    for types, product_lines, variants, makers, ean_prefix in (
        (_TYPES_CZ, _LINES_CZ, _VARIANTS_CZ, _MAKERS_CZ, "859"),
        (_TYPES_PL, _LINES_PL, _VARIANTS_PL, _MAKERS_PL, "590"),
    ):
        for code, kind in types:
            for line in product_lines:
                for variant in variants:
                    for maker in makers:
                        lines.append((f"{code}-", f"{kind} {line} {variant}", maker, ean_prefix))
    return lines


#: (SKU prefix, name, maker, EAN prefix) of every kind of item; ``RawRow``'s ``product`` indexes it. The format
#: layer builds its escaped fragments from it once, not per row.
PRODUCTS = _catalogue()
_PREFIX_SUM = {prefix: ean13_weighted_sum(prefix) for prefix in ("859", "590")}

#: One row as the generator makes it: (sku, ean, product index into PRODUCTS, stock, delivery days, price in
#: hundredths). A plain tuple, because a million NamedTuples cost a second.
RawRow = tuple[str, str, int, str, int, int]


class Row(NamedTuple):
    """One item as a supplier's feed lists it, with names resolved (for tests and tools; feeds use RawRow)."""

    sku: str
    ean: str
    name: str
    maker: str
    #: A number as text ("12", "0") or one of TEXT_STOCK_VALUES; malformed rows may hold "??" or "-3".
    stock: str
    delivery_days: int
    #: Purchase price without VAT, in hundredths (CZK haléře / PLN grosze).
    price_cents: int


class FeedView:
    """One supplier's feed of ``items`` items at one moment (``versions``), optionally with malformed rows.

    Iterating is cheap and stateless: ``chunks`` builds rows on the fly, so a feed of any size streams in
    constant memory. ``versions`` must not change while a response streams (the app replaces, never mutates,
    the array it hands out).
    """

    def __init__(
        self,
        seed: int,
        items: int,
        supplier: str,
        versions: array[int] | None = None,
        *,
        text_stock_share: float = 0.1,
        malformed_share: float = 0.0,
    ) -> None:
        self.seed, self.items, self.supplier = seed, items, supplier
        self.versions = versions
        self._seed_key = _mix(seed ^ _SALT_ITEM)
        self._supplier_key = _mix(supplier_key(supplier) ^ _SALT_OFFER)
        self._ean_offset = _mix(seed ^ _SALT_EAN) % 1_000_000_000
        self._text_threshold = round(text_stock_share * 1024)
        self._malformed_threshold = round(malformed_share * (1 << 20)) if malformed_share else -1
        self._malformed_key = _mix(seed ^ _SALT_MALFORMED)

    def chunks(self, rows_per_chunk: int = 2_000) -> Iterator[list[RawRow]]:
        """The feed's rows in order, ``rows_per_chunk`` at a time."""
        for start in range(0, self.items, rows_per_chunk):
            yield self.raw_rows(start, min(start + rows_per_chunk, self.items))

    def rows(self, start: int = 0, stop: int | None = None) -> list[Row]:
        """Rows ``start`` to ``stop - 1`` with names resolved (slow-ish: for tests and small feeds)."""
        out = []
        for sku, ean, product, stock, days, price in self.raw_rows(start, self.items if stop is None else stop):
            _, name, maker, _ = PRODUCTS[product]
            out.append(Row(sku, ean, name, maker, stock, days, price))
        return out

    def raw_rows(self, start: int, stop: int) -> list[RawRow]:
        """Rows ``start`` to ``stop - 1`` (0-based item indices) as RawRow tuples."""
        # This loop runs a million times for the benchmark feed, so the hashes are inlined and everything it
        # touches is a local: each saved attribute look-up or call is ~0.1 s per million rows.
        mask, seed_key, sup_key, ean_offset = _MASK, self._seed_key, self._supplier_key, self._ean_offset
        versions, text_threshold, products, n_products = self.versions, self._text_threshold, PRODUCTS, len(PRODUCTS)
        malformed_threshold, malformed_key = self._malformed_threshold, self._malformed_key
        sum313, sum131, text_values, prefix_sum = _SUM_313, _SUM_131, TEXT_STOCK_VALUES, _PREFIX_SUM
        out: list[RawRow] = []
        append = out.append
        previous_sku = self._sku(start - 1) if start > 0 else ""
        for i in range(start, stop):
            h = ((seed_key ^ i) * 0x9E3779B97F4A7C15) & mask
            h ^= h >> 29
            h = (h * 0xBF58476D1CE4E5B9) & mask
            h ^= h >> 32
            product = (h >> 8) % n_products
            sku_prefix, _, _, ean_prefix = products[product]
            sku = f"{sku_prefix}{i + 1:07d}"
            body = (i * _EAN_STRIDE + ean_offset) % 1_000_000_000
            weighted = prefix_sum[ean_prefix] + sum313[body // 1_000_000] + sum131[body // 1000 % 1000]
            check = (10 - (weighted + sum313[body % 1000]) % 10) % 10
            ean = f"{ean_prefix}{body:09d}{check}"

            version = versions[i] if versions is not None else 0
            o = ((h ^ sup_key ^ (version * 0x2545F4914F6CDD1D)) * 0xD6E8FEB86659FD93) & mask
            o ^= o >> 32
            roll = o & 0x3FF
            if roll < 154:  # ~15 % out of stock
                stock, days = "0", 5 + (o >> 24) % 16
            elif roll < 154 + text_threshold:
                stock = text_values[(o >> 12) % 6]
                days = 14 if stock == "na dotaz" else 1 + (o >> 24) % 3
            else:
                q = (o >> 12) & 0xFF
                stock = str(q % 40 + 1 if q < 224 else q * 3)  # mostly a few dozen, now and then hundreds
                days = 1 + (o >> 24) % 3
            price = (((h >> 40) % 200 + 1) * 500 - 10) * (95 + (o >> 40) % 11) // 100

            if malformed_threshold >= 0:
                m = ((malformed_key ^ i) * 0x9E3779B97F4A7C15) & mask
                m ^= m >> 29
                if (m & 0xFFFFF) < malformed_threshold:
                    broken = (m >> 20) % 5
                    if broken == 0:
                        stock = "??"
                    elif broken == 1:
                        stock = f"-{(m >> 24) % 9 + 1}"
                    elif broken == 2:
                        ean = f"{ean[:12]}{(check + 1) % 10}"
                    elif broken == 3:
                        previous_sku, sku = sku, ""
                        append((sku, ean, product, stock, days, price))
                        continue
                    elif previous_sku:
                        previous_sku, sku = sku, previous_sku
                        append((sku, ean, product, stock, days, price))
                        continue
            append((sku, ean, product, stock, days, price))
            previous_sku = sku
        return out

    def _sku(self, i: int) -> str:
        """Item ``i``'s SKU (as the first row of a later chunk needs its predecessor's, for duplicates)."""
        h = ((self._seed_key ^ i) * 0x9E3779B97F4A7C15) & _MASK
        h ^= h >> 29
        h = (h * 0xBF58476D1CE4E5B9) & _MASK
        h ^= h >> 32
        return f"{PRODUCTS[(h >> 8) % len(PRODUCTS)][0]}{i + 1:07d}"

    def malformed_kind(self, i: int) -> str | None:
        """Which way row ``i`` is malformed (one of MALFORMED_KINDS), or None; tests use it to know what to expect."""
        if self._malformed_threshold < 0:
            return None
        m = ((self._malformed_key ^ i) * 0x9E3779B97F4A7C15) & _MASK
        m ^= m >> 29
        if (m & 0xFFFFF) >= self._malformed_threshold:
            return None
        broken = (m >> 20) % 5
        if broken == 4 and i == 0:
            return None  # the first row has no earlier SKU to duplicate
        return MALFORMED_KINDS[broken]


def advance_versions(
    versions: array[int] | None, seed: int, items: int, generations: Iterable[int], share: float
) -> array[int]:
    """A new versions array in which, for each of ``generations`` in turn, a ``share`` of items (chosen by
    ``seed`` and the generation number) now carry that generation.

    The input is left untouched, so responses still streaming the previous generation stay consistent.
    """
    updated = array("I", versions) if versions is not None else array("I", [0]) * items
    count = round(share * items)
    for generation in generations:
        if count:
            rng = random.Random(_mix(seed ^ _SALT_CHANGE) ^ generation)
            for index in rng.sample(range(items), count):
                updated[index] = generation
    return updated
