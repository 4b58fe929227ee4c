"""Writing feed files for the parsing tests: plain, gzip, zip, in any encoding."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from typing import Any

from conveyor.commerce.feeds.errors import RowError
from conveyor.commerce.feeds.parsing import Feed, Row, open_feed
from conveyor.commerce.gtin import gtin_check_digit

CZECH = "Žluťoučký kůň úpěl ďábelské ódy"
POLISH = "Zażółć gęślą jaźń"


def ean13(n: int) -> str:
    """A valid EAN-13 with body 859 + n."""
    body = f"859{n:09d}"
    return body + str(gtin_check_digit(body))


def write(path: Path, content: str | bytes, encoding: str = "utf-8", *, compress: str | None = None) -> Path:
    """Write ``content`` (encoded when text) to ``path``, gzip- or zip-compressed on request."""
    data = content.encode(encoding) if isinstance(content, str) else content
    if compress == "gzip":
        path.write_bytes(gzip.compress(data))
    elif compress == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export/", b"")
            archive.writestr("export/sklad.csv", data)
            archive.writestr("export/second.csv", b"ignored")
    else:
        path.write_bytes(data)
    return path


def read_all(path: Path, **options: Any) -> list[Row]:
    """Open a feed and read every row: for errors that may come from opening or from reading."""
    with open_feed(path, **options) as feed:
        return list(feed.rows())


def good_rows(feed: Feed) -> list[tuple[int, dict[str, str]]]:
    """The rows of a feed, asserting none of them is a RowError."""
    rows: list[Row] = list(feed.rows())
    out: list[tuple[int, dict[str, str]]] = []
    for line, row in rows:
        assert not isinstance(row, RowError), row
        out.append((line, row))
    return out
