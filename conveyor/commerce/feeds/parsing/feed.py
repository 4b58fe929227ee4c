"""Open a downloaded feed file: decide what it is once, then stream its rows as often as needed.

:func:`open_feed` looks at the first 64 KB (after decompression) and refuses what is not a feed before a
single row is read: a damaged gzip/zip (the whole archive is decompressed once to find a truncation), an
HTML page, binary data, a declared encoding the bytes contradict, a declared format the content is not.
It then knows the format, encoding, CSV dialect or XML item path, and the headers (the CSV header row; the
union of the child tags of the first XML items), which is what the mapping editor shows and
:func:`~conveyor.commerce.feeds.parsing.mapping.check_columns` checks.

:meth:`Feed.rows` reads the file from its start each time it is called, one row at a time, in bounded
memory. Every row comes out as ``(line, {column: value})`` or ``(line, RowError)`` for a row that cannot
be read as a row (see :mod:`.csvfeed`); a problem of the whole feed found later (a byte that does not
decode, an XML document that ends early, a line over the limit) raises a
:class:`~conveyor.commerce.feeds.errors.FeedError` from the iteration, and then the run must fail.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Literal

from conveyor.commerce.feeds.errors import FeedFormatError, FeedMappingError, RowError
from conveyor.commerce.feeds.parsing.csvfeed import CsvReader, clean_headers, csv_rows, raise_field_size_limit
from conveyor.commerce.feeds.parsing.mapping import FeedMapping, MappedRow, check_columns, map_rows
from conveyor.commerce.feeds.parsing.sniff import (
    SAMPLE_BYTES,
    Dialect,
    EncodingGuess,
    guess_encoding,
    looks_like_xml,
    refuse_html_or_binary,
    sniff_dialect,
    xml_declared_encoding,
)
from conveyor.commerce.feeds.parsing.source import Compression, read_head, verify_compressed
from conveyor.commerce.feeds.parsing.xmlfeed import XmlReader

FeedFormat = Literal["csv", "xml"]
DEFAULT_MAX_LINE_BYTES = 1 << 20
"""The longest CSV line (or XML element text) accepted; longer means the file is not a feed."""
HEADER_ITEMS = 100
"""How many XML items are read to learn the feed's columns (tags that only appear later are still read)."""

Row = tuple[int, dict[str, str] | RowError]
_EXCEL_SEP = re.compile(r"sep=(.)")


@dataclass(eq=False)
class Feed:
    """A feed file whose format is known; :meth:`rows` streams it. Use as a context manager (or not).

    ``headers`` are the columns a mapping can name; ``compression`` is ``"gzip"``, ``"zip"`` or None (with
    ``archive_member`` the zip member read); ``dialect`` (CSV) and ``item_path`` (XML) say how it is read."""

    path: Path
    format: FeedFormat
    headers: list[str]
    compression: str | None
    archive_member: str | None
    dialect: Dialect | None
    item_path: str | None
    guess: EncodingGuess
    max_line_bytes: int
    preamble: int = 0
    """Records before the header (an Excel ``sep=;`` line)."""
    _open: weakref.WeakSet[Generator[Row, None, None]] = field(default_factory=weakref.WeakSet, repr=False)

    @property
    def encoding(self) -> str:
        """The encoding rows are decoded with (``"utf-8"``, ``"cp1250"``, ``"iso8859-2"``, …)."""
        return self.guess.encoding

    @property
    def encoding_declared(self) -> bool:
        """Whether the encoding was declared by the import task rather than detected."""
        return self.guess.declared

    def describe(self) -> str:
        """One line for logs and the UI: ``"CSV, cp1250 (detected), ';' delimited, " quotes, gzip"``."""
        parts = [self.format.upper(), self.guess.describe()]
        if self.dialect is not None:
            parts.append(self.dialect.describe())
        if self.item_path is not None:
            parts.append(f"items at {self.item_path}")
        parts.append(Compression(self.compression, self.archive_member).describe())
        return ", ".join(parts)

    def rows(self, limit: int | None = None) -> Iterator[Row]:
        """``(line, row)`` for every data row (at most ``limit``), reading the file from its start.

        ``line`` is the physical line the CSV row starts on (the header is line 1) or the XML item's
        ordinal (1 for the first item); ``row`` is ``{column: value}`` or a :class:`RowError`."""
        rows = self._rows()
        self._open.add(rows)
        return rows if limit is None else islice(rows, limit)

    def _rows(self) -> Generator[Row, None, None]:
        if self.format == "csv":
            assert self.dialect is not None
            records = CsvReader(self.dialect, self.guess, self.max_line_bytes).records(self.path)
            try:
                for _ in range(self.preamble + 1):  # the header row, and a sep= line before it
                    next(records, None)
                yield from csv_rows(records, self.headers, self.dialect.delimiter)
            finally:
                records.close()
        else:
            assert self.item_path is not None
            items = XmlReader(self.guess, max_text_bytes=self.max_line_bytes).items(self.path, self.item_path)
            try:
                yield from items
            finally:
                items.close()

    def close(self) -> None:
        """Stop every :meth:`rows` iteration still open, closing its file."""
        for rows in list(self._open):
            rows.close()

    def __enter__(self) -> Feed:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_feed(
    path: str | os.PathLike[str],
    *,
    format: FeedFormat | Literal["auto"] = "auto",
    encoding: str | None = None,
    item_path: str | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    verify: bool = True,
) -> Feed:
    """Recognise a downloaded feed and learn its headers; raises a FeedError when it is not a usable feed.

    ``format`` and ``encoding`` are what the import task declares (``"auto"``/``None``: detect);
    ``item_path`` is the XML item path (``None``: known formats, then the repeating element). ``verify``
    decompresses a gzip/zip file once first, so a truncated download fails here rather than mid-import."""
    path = Path(path)
    if verify:
        verify_compressed(path)
    head, compression = read_head(path, SAMPLE_BYTES)
    complete = len(head) < SAMPLE_BYTES
    if not head.strip():
        raise FeedFormatError(
            f"the feed is empty ({compression.describe()}, {len(head)} bytes): the supplier's export failed?"
        )
    refuse_html_or_binary(head)
    is_xml = looks_like_xml(head)
    if format == "csv" and is_xml:
        raise FeedFormatError("the import task says CSV but the feed is XML: set the format to XML (or auto)")
    if format == "xml" and not is_xml:
        start = head.lstrip().split(b"\n", 1)[0][:40].decode("utf-8", "replace").strip()
        raise FeedFormatError(
            f"the import task says XML but the feed does not start with '<' (it starts {start!r}): "
            "set the format to CSV (or auto)"
        )
    if is_xml:
        guess = guess_encoding(head, encoding, complete=complete, xml_declared=xml_declared_encoding(head))
        reader = XmlReader(guess, max_text_bytes=max_line_bytes)
        found_path = item_path or reader.discover_item_path(path)
        headers: list[str] = []
        seen: set[str] = set()
        items = reader.items(path, found_path)
        try:
            for _, item in islice(items, HEADER_ITEMS):
                for tag in item:
                    if tag not in seen:
                        seen.add(tag)
                        headers.append(tag)
        finally:
            items.close()
        return Feed(path, "xml", headers, compression.kind, compression.member, None, found_path, guess, max_line_bytes)
    guess = guess_encoding(head, encoding, complete=complete)
    if b"\n" not in head and b"\r" in head:
        raise FeedFormatError(
            "the feed's lines end with a carriage return only (an old Mac format): ask the supplier for "
            "CRLF or LF line ends"
        )
    text = head if complete else head[: head.rfind(b"\n") + 1] or head
    if guess.bom:
        text = text[3:]
    lines = text.decode(guess.encoding, "replace").splitlines(keepends=True)[:51]
    # Excel writes "sep=;" as a first line to name the delimiter: honoured, and not taken for the header.
    declared_sep = _EXCEL_SEP.fullmatch(lines[0].strip()) if lines else None
    preamble = 1 if declared_sep else 0
    dialect = sniff_dialect(lines[preamble:])
    if declared_sep:
        dialect = Dialect(declared_sep[1], dialect.quotechar)
    raise_field_size_limit(max_line_bytes)
    records = CsvReader(dialect, guess, max_line_bytes).records(path)
    try:
        first = None
        for _ in range(preamble + 1):
            first = next(records, None)
    finally:
        records.close()
    header = first[1] if first is not None else []
    if isinstance(header, RowError):
        raise FeedFormatError(f"the header row cannot be read: {header.reason}")
    headers = clean_headers(header)
    return Feed(
        path, "csv", headers, compression.kind, compression.member, dialect, None, guess, max_line_bytes, preamble
    )


@dataclass(frozen=True)
class Preview:
    """The first rows of a feed for the mapping editor: as read and, with a mapping, as mapped.

    ``mapping_error`` is why the mapping does not fit the feed (columns it lacks), in which case ``mapped``
    is None: the editor still shows the feed's headers and rows, which is what the user needs to fix it."""

    description: str
    headers: list[str]
    rows: list[Row]
    mapped: list[MappedRow | RowError] | None
    mapping_error: str | None = None


def preview(
    path: str | os.PathLike[str],
    *,
    format: FeedFormat | Literal["auto"] = "auto",
    encoding: str | None = None,
    item_path: str | None = None,
    mapping: FeedMapping | None = None,
    n: int = 10,
    today: date | None = None,
) -> Preview:
    """The first ``n`` rows of a feed (and how ``mapping`` maps them), without reading the rest of the file.

    Does not verify a compressed file to its end, so it stays fast on a large feed. A feed that cannot be
    read raises its FeedError; a mapping that does not fit is reported in ``mapping_error``."""
    with open_feed(path, format=format, encoding=encoding, item_path=item_path, verify=False) as feed:
        rows = list(feed.rows(limit=n))
        mapped = None
        problem = None
        if mapping is not None:
            try:
                check_columns(mapping, feed.headers)
            except FeedMappingError as exc:
                problem = str(exc)
            else:
                mapped = list(map_rows(mapping, rows, today=today))
        return Preview(feed.describe(), feed.headers, rows, mapped, problem)
