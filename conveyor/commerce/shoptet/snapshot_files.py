"""Snapshot files as Shoptet exports them: gzip-compressed JSON Lines, one record a line.

:func:`verify_snapshot` reads a downloaded file to its end once, so a truncated download is refused before a
single record is imported; :func:`iter_snapshot_lines` then streams its records one at a time, a line that
is not a JSON object coming out as a :class:`SnapshotLineError` while reading goes on. Downloading is the
client's (:meth:`~conveyor.commerce.shoptet.client.ShoptetClient.download_result`).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from conveyor.commerce.shoptet.errors import SnapshotCorruptError
from conveyor.commerce.shoptet.models import schema_errors


@dataclass(frozen=True)
class SnapshotLineError:
    """A line of a snapshot that could not be read; the rest of the file still is.

    ``code`` is the record's ``code`` or ``guid`` when it could be recovered from the broken line."""

    line_number: int
    code: str | None
    reason: str


_CODE_IN_LINE = re.compile(rb'"(?:code|guid)"\s*:\s*"([^"\\]{1,100})"')


def _code_in(line: bytes) -> str | None:
    match = _CODE_IN_LINE.search(line)
    return match.group(1).decode("utf-8", "replace") if match else None


def verify_snapshot(path: str | os.PathLike[str]) -> None:
    """Decompress the whole file once, raising :class:`SnapshotCorruptError` if it does not end cleanly.

    Costs one pass of gzip decompression (hundreds of MB/s) and no memory, and means a truncated
    download is refused before a single record is imported."""
    path = Path(path)
    if path.stat().st_size == 0:
        # Even a snapshot of zero records is a gzip stream with a header; nothing at all is a failed download.
        raise SnapshotCorruptError(f"snapshot {path.name} is empty (an interrupted download?)", path=path)
    with gzip.open(path, "rb") as stream:
        try:
            while stream.read(1 << 20):
                pass
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise SnapshotCorruptError(
                f"snapshot {path.name} is damaged (truncated download or bad gzip): {exc}", path=path
            ) from exc


def iter_snapshot_lines(
    path: str | os.PathLike[str], *, verify: bool = True, model: type[BaseModel] | None = None
) -> Iterator[dict[str, Any] | SnapshotLineError]:
    """The records of a snapshot file (gzip-compressed JSON Lines), one dict at a time.

    A line that is not a JSON object (or, with ``model``, does not validate against it) yields a
    :class:`SnapshotLineError` instead, and reading goes on: one bad record must not cost a full
    export. A damaged file is different — its end is lost — so it raises :class:`SnapshotCorruptError`;
    with ``verify`` (the default) that happens before the first record is yielded."""
    path = Path(path)
    if verify:
        verify_snapshot(path)
    line_number = 0
    with gzip.open(path, "rb") as stream:
        try:
            for line_number, line in enumerate(stream, 1):
                stripped = line.strip()
                if not stripped:
                    continue
                try:
                    record = json.loads(stripped)
                except ValueError as exc:
                    yield SnapshotLineError(line_number, _code_in(stripped), f"invalid JSON: {exc}")
                    continue
                if not isinstance(record, dict):
                    yield SnapshotLineError(line_number, None, f"expected a JSON object, got {type(record).__name__}")
                    continue
                if model is not None:
                    try:
                        model.model_validate(record)
                    except ValidationError as exc:
                        code = record.get("code") or record.get("guid")
                        yield SnapshotLineError(line_number, str(code) if code else None, schema_errors(exc))
                        continue
                yield record
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise SnapshotCorruptError(
                f"snapshot {path.name} is damaged after line {line_number}: {exc}", path=path
            ) from exc
