"""Open a downloaded feed file as a stream of bytes, decompressing gzip and zip transparently.

Compression is recognised by the file's first bytes, never by its name: suppliers serve ``feed.csv`` that is
gzip, ``feed.gz`` that is plain text, and a download is stored under a name of our choosing anyway. A zip
archive is read from its first data member (directories and macOS ``__MACOSX/`` metadata skipped); which
member was read is reported, because an archive of several files is worth a look by the user.

Damaged archives raise :class:`~conveyor.commerce.feeds.errors.FeedFormatError` that says what happened in
a user's words (a gzip stream that ends early is a download cut short), wherever in the stream the damage is.
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from conveyor.commerce.feeds.errors import FeedDownloadError, FeedFormatError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_BUFFER = 1 << 16

DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile)
"""What the standard library raises, mid-stream, from damaged gzip or zip data."""


@dataclass(frozen=True)
class Compression:
    """How the file was stored: ``kind`` is ``"gzip"``, ``"zip"`` or ``None``; ``member`` the zip member read."""

    kind: str | None
    member: str | None = None

    def describe(self) -> str:
        """A short phrase for messages: ``"gzip"``, ``"zip member 'feed.csv'"`` or ``"uncompressed"``."""
        if self.kind == "zip":
            return f"zip member {self.member!r}"
        return self.kind or "uncompressed"


def decompression_error(compression: Compression, exc: BaseException) -> FeedFormatError:
    """The user-facing error for damaged compressed data (``exc`` is one of :data:`DECOMPRESSION_ERRORS`)."""
    if compression.kind == "gzip":
        if isinstance(exc, EOFError):
            return FeedFormatError("the gzip stream ends early: the download was cut short?")
        return FeedFormatError(f"the gzip data is damaged ({exc}): download the feed again")
    if compression.kind == "zip":
        return FeedFormatError(f"the zip archive is damaged ({exc}): the download was cut short?")
    return FeedFormatError(f"cannot read the feed: {exc}")


def _zip_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    for info in archive.infolist():
        if info.is_dir() or info.filename.startswith("__MACOSX/") or info.filename.rsplit("/", 1)[-1].startswith("."):
            continue
        return info
    raise FeedFormatError("the zip archive holds no file: the supplier sent an empty archive")


def sniff_compression(path: Path) -> bytes:
    """The first bytes of the file (enough to recognise gzip and zip); a missing file is a download error."""
    try:
        with path.open("rb") as raw:
            return raw.read(4)
    except FileNotFoundError as exc:
        raise FeedDownloadError(f"the feed file {str(path)!r} does not exist") from exc
    except IsADirectoryError as exc:
        raise FeedDownloadError(f"the feed path {str(path)!r} is a directory, not a file") from exc


@contextmanager
def open_decompressed(path: str | os.PathLike[str]) -> Iterator[tuple[BinaryIO, Compression]]:
    """The file's content as a buffered binary stream (``readline`` is fast), and how it was compressed.

    Errors of damaged data while reading are the caller's to translate with :func:`decompression_error`,
    since they surface from ``read``/``readline`` anywhere in the stream."""
    path = Path(path)
    magic = sniff_compression(path)
    if magic.startswith(GZIP_MAGIC):
        compression = Compression("gzip")
        with gzip.open(path, "rb") as stream, io.BufferedReader(cast(Any, stream), _BUFFER) as buffered:
            yield cast(BinaryIO, buffered), compression
    elif magic.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise FeedFormatError(
                f"the zip archive is damaged ({exc}): the download was cut short, or it is not a zip file"
            ) from exc
        with archive:
            info = _zip_member(archive)
            compression = Compression("zip", info.filename)
            try:
                member = archive.open(info)
            except (NotImplementedError, RuntimeError) as exc:  # encrypted or an unsupported compression method
                raise FeedFormatError(f"cannot read {compression.describe()} of the zip archive: {exc}") from exc
            except DECOMPRESSION_ERRORS as exc:
                raise decompression_error(compression, exc) from exc
            with member, io.BufferedReader(cast(Any, member), _BUFFER) as buffered:
                yield cast(BinaryIO, buffered), compression
    else:
        with path.open("rb", buffering=_BUFFER) as raw:
            yield raw, Compression(None)


def read_head(path: str | os.PathLike[str], size: int) -> tuple[bytes, Compression]:
    """The first ``size`` decompressed bytes (fewer if the content is shorter), for sniffing."""
    with open_decompressed(path) as (stream, compression):
        chunks: list[bytes] = []
        remaining = size
        try:
            while remaining > 0:
                chunk = stream.read(remaining)
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        except DECOMPRESSION_ERRORS as exc:
            raise decompression_error(compression, exc) from exc
        return b"".join(chunks), compression


def verify_compressed(path: str | os.PathLike[str]) -> None:
    """Decompress the whole file once when it is gzip or zip, raising the damage before any row is read.

    A truncated archive is the common case of a download cut short; finding it here (one pass of
    decompression, hundreds of MB/s, no memory) means not a single row of a broken feed is imported."""
    with open_decompressed(path) as (stream, compression):
        if compression.kind is None:
            return
        try:
            while stream.read(_BUFFER * 16):
                pass
        except DECOMPRESSION_ERRORS as exc:
            raise decompression_error(compression, exc) from exc
