"""The feed formats the simulator serves, each rendered as a stream of byte chunks (never a whole feed in memory).

=====================  ==============================================================================================
``stock.csv``          cp1250, ``;``-separated, decimal comma, CRLF line ends, a header row (``CSV_COLUMNS``, with
                       diacritics), the name always quoted (``""`` inside), the rest bare — as Czech ERPs export
``heureka.xml``        UTF-8, Heureka-style ``<SHOP><SHOPITEM>…`` with ``ITEM_ID`` (SKU), ``PRODUCTNAME``,
                       ``MANUFACTURER``, ``EAN``, ``PRICE`` (purchase price without VAT, decimal point),
                       ``STOCK_QUANTITY`` (number or text as the CSV), ``DELIVERY_DATE`` (days)
``google.xml``         UTF-8 Google Merchant RSS 2.0 with the ``g:`` namespace: ``g:id``, ``title``, ``g:brand``,
                       ``g:gtin``, ``g:availability`` (``in_stock``/``out_of_stock``/``backorder``), ``g:quantity``
                       (only when the stock is a number, as Google's feeds), ``g:max_handling_time`` (days),
                       ``g:cost_of_goods_sold`` (``311.89 CZK``)
``….gz``               the same bytes, gzip-compressed (served as ``application/gzip``, no Content-Encoding:
                       a file, as suppliers publish them)
=====================  ==============================================================================================
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape

from conveyor.commerce.feeds.simulator.data import PRODUCTS, TEXT_STOCK_VALUES, FeedView, RawRow

__all__ = ["CSV_COLUMNS", "FORMATS", "FeedFormat", "gzipped", "render"]

#: The CSV feed's header row, in order.
CSV_COLUMNS = ("kód", "ean", "název", "výrobce", "skladem", "dodací_lhůta", "nákupní_cena")

_CSV_FRAGMENTS = [f'"{name.replace(chr(34), chr(34) * 2)}";{maker};' for _, name, maker, _ in PRODUCTS]
_HEUREKA_FRAGMENTS = [
    f"<PRODUCTNAME>{escape(name)}</PRODUCTNAME><MANUFACTURER>{escape(maker)}</MANUFACTURER>"
    for _, name, maker, _ in PRODUCTS
]
_GOOGLE_FRAGMENTS = [
    f"<title>{escape(name)}</title><g:brand>{escape(maker)}</g:brand>" for _, name, maker, _ in PRODUCTS
]
_TEXT_STOCK = frozenset(TEXT_STOCK_VALUES)
# SKUs, EANs and numbers never need escaping; of the stock texts only ">5" and ">10" do.
_XML_STOCK = {value: escape(value) for value in TEXT_STOCK_VALUES}


def _csv_chunk(rows: list[RawRow]) -> str:
    frag = _CSV_FRAGMENTS
    return "".join(
        [
            f"{sku};{ean};{frag[p]}{stock};{days};{price // 100},{price % 100:02d}\r\n"
            for sku, ean, p, stock, days, price in rows
        ]
    )


def _heureka_chunk(rows: list[RawRow]) -> str:
    frag, xml_stock = _HEUREKA_FRAGMENTS, _XML_STOCK
    return "".join(
        [
            f"<SHOPITEM><ITEM_ID>{sku}</ITEM_ID>{frag[p]}<EAN>{ean}</EAN>"
            f"<PRICE>{price // 100}.{price % 100:02d}</PRICE>"
            f"<STOCK_QUANTITY>{xml_stock.get(stock, stock)}</STOCK_QUANTITY>"
            f"<DELIVERY_DATE>{days}</DELIVERY_DATE></SHOPITEM>\n"
            for sku, ean, p, stock, days, price in rows
        ]
    )


def _availability(stock: str) -> str:
    if stock == "0":
        return "out_of_stock"
    return "backorder" if stock == "na dotaz" else "in_stock"


def _google_chunk(rows: list[RawRow]) -> str:
    frag, text = _GOOGLE_FRAGMENTS, _TEXT_STOCK
    return "".join(
        [
            f"<item><g:id>{sku}</g:id>{frag[p]}<g:gtin>{ean}</g:gtin>"
            f"<g:availability>{_availability(stock)}</g:availability>"
            + ("" if stock in text else f"<g:quantity>{stock}</g:quantity>")
            + f"<g:max_handling_time>{days}</g:max_handling_time>"
            f"<g:cost_of_goods_sold>{price // 100}.{price % 100:02d} CZK</g:cost_of_goods_sold></item>\n"
            for sku, ean, p, stock, days, price in rows
        ]
    )


@dataclass(frozen=True)
class FeedFormat:
    """How one feed file is rendered: text pieces around the rows, the encoding, and whether it is gzipped."""

    name: str
    content_type: str
    encoding: str
    head: Callable[[FeedView], str]
    chunk: Callable[[list[RawRow]], str]
    tail: str
    gzip: bool = False


def _csv_head(view: FeedView) -> str:
    return ";".join(CSV_COLUMNS) + "\r\n"


def _heureka_head(view: FeedView) -> str:
    return '<?xml version="1.0" encoding="utf-8"?>\n<SHOP>\n'


def _google_head(view: FeedView) -> str:
    supplier = escape(view.supplier)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">\n'
        f"<channel><title>{supplier}</title><link>https://{supplier}.example.com/</link>"
        f"<description>Produkty dodavatele {supplier}</description>\n"
    )


_CSV = FeedFormat("stock.csv", "text/csv; charset=windows-1250", "cp1250", _csv_head, _csv_chunk, "")
_HEUREKA = FeedFormat(
    "heureka.xml", "application/xml; charset=utf-8", "utf-8", _heureka_head, _heureka_chunk, "</SHOP>\n"
)
_GOOGLE = FeedFormat(
    "google.xml", "application/rss+xml; charset=utf-8", "utf-8", _google_head, _google_chunk, "</channel>\n</rss>\n"
)

#: Every feed file a supplier serves, by its name in ``/feeds/{supplier}/{name}``.
FORMATS: dict[str, FeedFormat] = {}
for _format in (_CSV, _HEUREKA, _GOOGLE):
    FORMATS[_format.name] = _format
    FORMATS[f"{_format.name}.gz"] = FeedFormat(
        f"{_format.name}.gz",
        "application/gzip",
        _format.encoding,
        _format.head,
        _format.chunk,
        _format.tail,
        gzip=True,
    )


def render(view: FeedView, feed_format: FeedFormat, rows_per_chunk: int = 2_000) -> Iterator[bytes]:
    """The feed's bytes in chunks of ``rows_per_chunk`` rows (gzipped when the format says so)."""
    chunks = _plain(view, feed_format, rows_per_chunk)
    return gzipped(chunks) if feed_format.gzip else chunks


def _plain(view: FeedView, feed_format: FeedFormat, rows_per_chunk: int) -> Iterator[bytes]:
    encoding = feed_format.encoding
    head = feed_format.head(view).encode(encoding)
    first = True
    for rows in view.chunks(rows_per_chunk):
        body = feed_format.chunk(rows).encode(encoding)
        if first:
            body, first = head + body, False
        yield body
    if first:
        yield head
    if feed_format.tail:
        yield feed_format.tail.encode(encoding)


def gzipped(chunks: Iterable[bytes], level: int = 1) -> Iterator[bytes]:
    """gzip a stream of chunks as it goes (level 1: a 1M-item CSV compresses in under a second)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 16+15: a gzip header and trailer
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()
