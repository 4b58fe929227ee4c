"""CSV feeds as a stream of rows: bounded lines, decoded one line at a time, split by the csv module.

Lines are read as bytes with a length limit (a 10 MB line costs at most the limit in memory before it is
refused) and decoded one by one, so a byte that does not decode is reported with its line number. The csv
module then splits them, asking for more lines when a quoted value spans several; the line number of a row
is the physical line it starts on (1 is the header).

Headers are the first non-empty row (after an Excel ``sep=;`` line, which names the delimiter), stripped;
an empty name becomes ``column_N`` and a repeated one ``NAME_2``, so every column can be mapped. A row with
more values than headers is refused as a :class:`RowError` unless the extra values are empty (a trailing
delimiter); a row with fewer is refused too (a line cut short must not import half its values). Text after
a closing quote (``"a"b``) is a RowError too, and reading goes on; a quote never closed fails the feed (it
swallowed the rows after it), as does a NUL byte (a damaged file). Empty lines are skipped.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Generator, Iterator
from typing import BinaryIO

from conveyor.commerce.feeds.errors import FeedEncodingError, FeedFormatError, RowError
from conveyor.commerce.feeds.parsing.sniff import Dialect, EncodingGuess
from conveyor.commerce.feeds.parsing.source import DECOMPRESSION_ERRORS, decompression_error, open_decompressed

_FIELD_LIMIT_FLOOR = 128 * 1024


def raise_field_size_limit(limit: int) -> None:
    """Let one value of a multi-line quoted field be as long as a line may be (the csv module's limit is global).

    Only ever raised, never lowered, since other code in the process may rely on a larger limit; it bounds
    the memory an unterminated quote can take before the csv module refuses the field."""
    if csv.field_size_limit() < limit:
        csv.field_size_limit(max(limit, _FIELD_LIMIT_FLOOR))


def decode_error(line: int, raw: bytes, exc: UnicodeDecodeError, guess: EncodingGuess) -> FeedEncodingError:
    """The message for a line that does not decode: where, which byte, and what to do about it."""
    byte = raw[exc.start : exc.start + 1]
    shown = f"byte 0x{byte[0]:02X} at column {exc.start + 1}" if byte else f"column {exc.start + 1}"
    if guess.declared:
        advice = "the declared encoding is wrong: declare the feed's real one (cp1250? iso-8859-2?) or leave it empty"
    else:
        advice = "the feed mixes encodings: declare the encoding of the import task (cp1250? iso-8859-2?)"
    return FeedEncodingError(f"line {line}: the bytes do not decode as {guess.describe()}: {shown}; {advice}")


class CsvReader:
    """One pass over a CSV feed's rows; see the module docstring for the rules."""

    def __init__(self, dialect: Dialect, guess: EncodingGuess, max_line_bytes: int) -> None:
        self.dialect = dialect
        self.guess = guess
        self.max_line_bytes = max_line_bytes
        self.record_bytes = 0  # of the record being read: bounds a quoted value that spans lines

    def _lines(self, stream: BinaryIO) -> Iterator[str]:
        """Decoded physical lines, each (and each record) at most ``max_line_bytes`` long."""
        readline = stream.readline
        limit = self.max_line_bytes
        guess = self.guess
        encoding = guess.encoding
        number = start = 0
        while True:
            raw = readline(limit + 1)
            if not raw:
                return
            number += 1
            if not self.record_bytes:
                start = number
            self.record_bytes += len(raw)
            if self.record_bytes > limit:
                if len(raw) > limit and not raw.endswith(b"\n"):
                    raise FeedFormatError(
                        f"line {number} is longer than {limit:,} bytes: not a CSV feed, or a value broke the "
                        "quoting (the limit is max_line_bytes)"
                    )
                raise FeedFormatError(
                    f"line {start}: a quoted value runs on past line {number}, more than {limit:,} bytes: a quote "
                    "that is never closed? (the limit is max_line_bytes)"
                )
            if b"\x00" in raw:
                raise FeedFormatError(f"line {number} contains NUL bytes: the file is damaged or not a CSV feed")
            if number == 1 and guess.bom and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if guess.provisional and not raw.isascii():
                encoding = guess.settle(raw)
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise decode_error(number, raw, exc, guess) from None

    def records(self, path: str | os.PathLike[str]) -> Generator[tuple[int, list[str] | RowError], None, None]:
        """``(line the record starts on, its values)`` for every non-empty record, header included.

        A record the csv module refuses (``"a"b``: text after a closing quote) is a :class:`RowError` and
        reading goes on with the next line; a quoted value still open at the end of the file is a
        FeedFormatError, because the rows after its opening quote were swallowed into it."""
        with open_decompressed(path) as (stream, compression):
            reader = csv.reader(
                self._lines(stream), delimiter=self.dialect.delimiter, quotechar=self.dialect.quotechar, strict=True
            )
            start = 1
            try:
                while True:
                    self.record_bytes = 0
                    try:
                        values = next(reader)
                    except StopIteration:
                        return
                    except csv.Error as exc:
                        line, start = start, reader.line_num + 1
                        if str(exc) == "unexpected end of data":
                            raise FeedFormatError(
                                f"line {line}: a quoted value is never closed (the file ends inside it): the rows "
                                "after its opening quote were swallowed, or the download was cut short"
                            ) from exc
                        yield line, RowError(line, f"the CSV cannot be read here ({exc}): fix the quoting")
                        continue
                    line, start = start, reader.line_num + 1
                    if values:
                        yield line, values
            except DECOMPRESSION_ERRORS as exc:
                raise decompression_error(compression, exc) from exc


def clean_headers(values: list[str]) -> list[str]:
    """Header names stripped, empty ones named ``column_N``, repeats suffixed ``_2``, ``_3``…"""
    headers: list[str] = []
    seen: set[str] = set()
    for index, value in enumerate(values, 1):
        name = value.strip().lstrip("\ufeff").strip() or f"column_{index}"
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        headers.append(candidate)
    return headers


def csv_rows(
    records: Iterator[tuple[int, list[str] | RowError]], headers: list[str], delimiter: str
) -> Iterator[tuple[int, dict[str, str] | RowError]]:
    """The data records as ``{header: value}``, or a :class:`RowError` when a record's width is wrong."""
    width = len(headers)
    shown = {"\t": "tab"}.get(delimiter, repr(delimiter))
    for line, values in records:
        if isinstance(values, RowError):
            yield line, values
            continue
        count = len(values)
        if count != width:
            if count > width and not any(v.strip() for v in values[width:]):
                values = values[:width]
            elif count > width:
                yield (
                    line,
                    RowError(
                        line,
                        f"{count} values but the header has {width} columns: a value containing the delimiter "
                        f"{shown} without quotes?",
                    ),
                )
                continue
            else:
                yield line, RowError(line, f"only {count} of the header's {width} values: the line is cut short?")
                continue
        yield line, dict(zip(headers, values, strict=True))
