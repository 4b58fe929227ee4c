"""Read supplier feeds: CSV or XML, gzip/zip, any of the usual encodings, in bounded memory; map their rows.

The modules, in the order a file goes through them:

- :mod:`.source` opens the file, decompressing gzip or zip (recognised by magic bytes);
- :mod:`.sniff` decides from the first 64 KB: HTML page or binary (refused), XML or CSV, encoding, dialect;
- :mod:`.csvfeed` and :mod:`.xmlfeed` stream rows (expat, entity declarations refused);
- :mod:`.feed` ties them together: :func:`open_feed` → :class:`Feed` with ``headers`` and ``rows()``;
- :mod:`.mapping` turns a row into a :class:`MappedRow` by a :class:`FeedMapping` and its value rules.

Typical use by an import run::

    with open_feed(path, format=task.format, encoding=task.encoding) as feed:
        check_columns(mapping, feed.headers)          # FeedMappingError before any row
        for result in map_rows(mapping, feed.rows(), today=run_date):
            ...                                       # a MappedRow, or a RowError to store

A :class:`~conveyor.commerce.feeds.errors.FeedError` raised by ``open_feed`` or during the iteration fails the
whole run; a :class:`~conveyor.commerce.feeds.errors.RowError` is one row.
"""

from conveyor.commerce.feeds.parsing.feed import (
    DEFAULT_MAX_LINE_BYTES,
    Feed,
    FeedFormat,
    Preview,
    Row,
    open_feed,
    preview,
)
from conveyor.commerce.feeds.parsing.mapping import (
    DEFAULT_DELIVERY_VALUES,
    DEFAULT_STOCK_VALUES,
    FeedMapping,
    MappedRow,
    check_columns,
    load_mapping,
    map_row,
    map_rows,
    parse_delivery_days,
    parse_price,
    parse_quantity,
)
from conveyor.commerce.feeds.parsing.sniff import Dialect

__all__ = [
    "DEFAULT_DELIVERY_VALUES",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_STOCK_VALUES",
    "Dialect",
    "Feed",
    "FeedFormat",
    "FeedMapping",
    "MappedRow",
    "Preview",
    "Row",
    "check_columns",
    "load_mapping",
    "map_row",
    "map_rows",
    "open_feed",
    "parse_delivery_days",
    "parse_price",
    "parse_quantity",
    "preview",
]
