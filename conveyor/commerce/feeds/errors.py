"""Every exception the supplier feeds raise, in one place.

They derive from :class:`conveyor.ConveyorError`, so the CLI reports them as one line. A :class:`FeedError`
fails a whole run (nothing is written: supplier stock stays as it was); a :class:`RowError` is one bad row,
stored with its line number and reason while the rest of the feed imports.

==========================  =====================================================================================
``FeedDownloadError``       the feed could not be fetched: unreachable host, timeout, HTTP 4xx/5xx (401/403 say
                            to check the credentials, 404 the URL), a body cut short, a missing local file
``FeedFormatError``         the content is not the declared/detected format: an HTML page served with 200,
                            binary garbage, truncated gzip/zip, XML that is not well-formed or declares
                            entities (expansion attacks are refused), a line longer than the limit
``FeedEncodingError``       the bytes do not decode in the declared (or detected) encoding; names the line
``FeedMappingError``        the mapping names a column the feed does not have (lists the feed's columns), or
                            lacks both sku and ean
``RowError``                one row: ``line`` (1-based, the data row's line in the file or the item's ordinal
                            in XML), ``code`` (sku/ean when known) and ``reason``
``FeedNotFoundError``       no feed integration / import task / run with that id (like ``ShopNotFoundError``)
==========================  =====================================================================================
"""

from __future__ import annotations

from conveyor import ConveyorError


class FeedError(ConveyorError):
    """The feed as a whole cannot be imported; the run fails and nothing is written."""


class FeedDownloadError(FeedError):
    """The feed could not be fetched. ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class FeedFormatError(FeedError):
    """The content is not a feed in the expected format (or is unsafe to parse)."""


class FeedEncodingError(FeedFormatError):
    """The bytes do not decode in the declared or detected encoding."""


class FeedMappingError(FeedError):
    """The mapping does not fit the feed's columns."""


class FeedNotFoundError(ConveyorError):
    """No feed integration, import task or run with that id."""


class RowError(ConveyorError):
    """One bad row of a feed: ``line`` says where, ``reason`` what is wrong; the rest of the feed imports."""

    def __init__(self, line: int, reason: str, *, code: str | None = None) -> None:
        self.line, self.reason, self.code = line, reason, code
        who = f"line {line}" + (f" ({code})" if code else "")
        super().__init__(f"{who}: {reason}")
