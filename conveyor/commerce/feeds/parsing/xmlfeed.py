"""XML feeds as a stream of items, parsed with expat as the bytes arrive and never built into a tree.

Safety
    Any entity declaration (internal or external, general or parameter) is refused: feeds have no use for
    them, and they are how "billion laughs" expansion and external-entity reads (``file:///etc/passwd``)
    work. Parameter entities are never parsed and no external DTD is ever fetched.

Items
    An item is an element at the item path: ``SHOP/SHOPITEM`` (Heureka), ``rss/channel/item`` (Google
    Merchant RSS), ``feed/entry`` (Google Merchant Atom), ``item_list/item`` (Heureka availability),
    ``AVAILABILITIES/AVAILABILITY`` (Mall), or a configured path such as ``products/product``. A path matches
    the end of an element's path (``SHOPITEM`` matches ``SHOP/SHOPITEM``); a leading ``/`` anchors it at the
    root. Without a configured path, the known ones are tried, then the shallowest element that repeats and
    has child elements.

    An item becomes ``{tag: text}`` of its direct children, text stripped, namespace prefixes kept as
    written (``g:id``); a repeated child keeps its first value; grandchildren (``PARAM/VAL``, ``DELIVERY/…``)
    are not read. The item's own attributes are ``@name`` (``@id`` of the Heureka availability feed).
    Its "line" (for row errors) is its ordinal: 1 for the first item.

Errors
    Malformed XML names its line and column; XML that ends before its root element is closed is a download
    cut short (every item before the cut was already yielded, so the caller must fail the run); a document
    without a single item at the path says what its root holds.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Generator, Iterator
from typing import Any
from xml.parsers import expat

from conveyor.commerce.feeds.errors import FeedEncodingError, FeedFormatError
from conveyor.commerce.feeds.parsing.sniff import EncodingGuess
from conveyor.commerce.feeds.parsing.source import DECOMPRESSION_ERRORS, decompression_error, open_decompressed

KNOWN_ITEM_PATHS = ("SHOP/SHOPITEM", "rss/channel/item", "feed/entry", "item_list/item", "AVAILABILITIES/AVAILABILITY")
_CHUNK = 1 << 16
_DISCOVERY_BYTES = 4 << 20


class _Stop(Exception):
    """Ends a discovery parse early, once enough of the document was seen."""


def _refuse_entities(*_: Any) -> None:
    raise FeedFormatError("the XML declares entities; refused (entity expansion attack?)")


def _refuse_external(*_: Any) -> int:
    raise FeedFormatError("the XML refers to an external entity; refused (external entity attack?)")


def safe_parser() -> expat.XMLParserType:
    """An expat parser that refuses entity declarations and never reads external entities or DTDs."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse_entities
    parser.UnparsedEntityDeclHandler = _refuse_entities
    parser.ExternalEntityRefHandler = _refuse_external
    parser.buffer_text = True
    parser.buffer_size = _CHUNK
    return parser


def normalize_item_path(item_path: str) -> tuple[tuple[str, ...], bool]:
    """``(segments, anchored)`` of a configured item path such as ``/SHOP/SHOPITEM`` or ``products/product``."""
    anchored = item_path.strip().startswith("/")
    segments = tuple(s for s in item_path.strip().strip("/").split("/") if s)
    if not segments:
        raise FeedFormatError(f"the XML item path {item_path!r} names no element: use e.g. 'SHOP/SHOPITEM'")
    return segments, anchored


def _xml_error(exc: expat.ExpatError, final: bool, skipped_lines: int) -> FeedFormatError:
    where = f"line {exc.lineno + skipped_lines}, column {exc.offset + 1}"
    reason = expat.errors.messages[exc.code] if exc.code is not None else str(exc)
    if final:
        return FeedFormatError(
            f"the XML ends early ({reason} at {where}): the download was cut short? Nothing is imported "
            "from an incomplete feed"
        )
    return FeedFormatError(f"the XML is not well-formed: {reason} at {where}")


class XmlReader:
    """Passes over an XML feed: discovering its item path, and streaming its items."""

    def __init__(self, guess: EncodingGuess, *, max_text_bytes: int) -> None:
        self.guess = guess
        self.max_text_bytes = max_text_bytes
        self.skipped_lines = 0  # leading blank lines dropped before the parser saw the text

    def _texts(self, path: str | os.PathLike[str], limit: int | None = None) -> Iterator[str]:
        """The content decoded in chunks; a byte that does not decode is reported with its line."""
        guess = self.guess
        decoder = codecs.getincrementaldecoder(guess.encoding)()
        lines_before = 0
        read = 0
        with open_decompressed(path) as (stream, compression):
            first = True
            while True:
                try:
                    chunk = stream.read(_CHUNK)
                except DECOMPRESSION_ERRORS as exc:
                    raise decompression_error(compression, exc) from exc
                if first:
                    if guess.bom and chunk.startswith(codecs.BOM_UTF8):
                        chunk = chunk[3:]
                    # Whitespace before the XML declaration is an error to expat but common in feeds that
                    # a script prints; dropped, with its lines counted so error lines still match the file.
                    stripped = chunk.lstrip(b" \t\r\n")
                    if stripped and len(stripped) < len(chunk):
                        self.skipped_lines = chunk.count(b"\n", 0, len(chunk) - len(stripped))
                        lines_before += self.skipped_lines
                        chunk = stripped
                    first = False
                if guess.provisional and not chunk.isascii():
                    guess.settle(chunk, complete=False)
                    decoder = codecs.getincrementaldecoder(guess.encoding)()
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    line = lines_before + chunk.count(b"\n", 0, max(exc.start, 0)) + 1
                    advice = (
                        "the declared encoding is wrong: declare the feed's real one (cp1250? iso-8859-2?)"
                        if guess.declared
                        else "declare the encoding of the import task (cp1250? iso-8859-2?)"
                    )
                    raise FeedEncodingError(
                        f"line {line}: the bytes do not decode as {guess.describe()}: {advice}"
                    ) from None
                if not chunk:
                    return
                lines_before += chunk.count(b"\n")
                yield text
                read += len(chunk)
                if limit is not None and read >= limit:
                    return

    def discover_item_path(self, path: str | os.PathLike[str]) -> str:
        """The item path of a feed without a configured one (see the module docstring)."""
        counts: dict[tuple[str, ...], int] = {}
        parents: set[tuple[str, ...]] = set()
        stack: list[str] = []

        def start(name: str, _attrs: Any) -> None:
            if stack:
                parents.add(tuple(stack))
            stack.append(name)
            key = tuple(stack)
            counts[key] = counts.get(key, 0) + 1
            if len(stack) <= 3 and "/".join(stack) in KNOWN_ITEM_PATHS:
                raise _Stop

        def end(_name: str) -> None:
            stack.pop()

        parser = safe_parser()
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        try:
            for text in self._texts(path, limit=_DISCOVERY_BYTES):
                parser.Parse(text, False)
            parser.Parse("", True)
        except _Stop:
            return "/".join(stack)
        except expat.ExpatError as exc:
            if not counts:
                raise _xml_error(exc, False, self.skipped_lines) from exc
        repeated: list[tuple[str, ...]] = [key for key in counts if counts[key] >= 2 and key in parents]
        if repeated:  # the shallowest element that repeats and has children: items, not their parts
            shallowest: tuple[str, ...] = min(repeated, key=lambda key: (len(key), -counts[key]))
            return "/".join(shallowest)
        with_children = [key for key in counts if key in parents and len(key) > 1]
        if with_children:  # a feed of one item: the deepest element with children
            deepest: tuple[str, ...] = max(with_children, key=len)
            return "/".join(deepest)
        root = next(iter(counts), ("?",))
        raise FeedFormatError(
            f"no items found in the XML: its root <{root[0]}> has no child elements with values; "
            "configure the item path (e.g. 'products/product')"
        )

    def items(self, path: str | os.PathLike[str], item_path: str) -> Generator[tuple[int, dict[str, str]], None, None]:
        """``(ordinal, {child tag: text})`` for every item at ``item_path``, as the file is parsed."""
        segments, anchored = normalize_item_path(item_path)
        depth_needed = len(segments)
        last = segments[-1]
        limit = self.max_text_bytes
        ready: list[tuple[int, dict[str, str]]] = []
        stack: list[str] = []  # element names down to the current item; not maintained inside an item
        roots: list[str] = []
        parts: list[str] = []
        # The handlers run millions of times: plain closure variables, no attribute or dict lookups.
        depth = 0  # of the current element
        item: dict[str, str] | None = None
        child_depth = 0  # depth of the item's children while in an item
        child: str | None = None  # the child element whose text is being collected
        size = 0
        count = 0

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal depth, item, child_depth, child, size
            depth += 1
            if item is None:
                stack.append(name)
                if name == last and depth >= depth_needed and (not anchored or depth == depth_needed):
                    if tuple(stack[-depth_needed:]) == segments:
                        item = {"@" + k: v.strip() for k, v in attrs.items()} if attrs else {}
                        child_depth = depth + 1
                elif depth == 1:
                    roots.append(name)
            elif depth == child_depth:
                child = name
                size = 0
                parts.clear()

        def end(name: str) -> None:
            nonlocal depth, item, child, count
            if item is None:
                stack.pop()
            elif depth == child_depth:
                child = None
                if name not in item:
                    item[name] = "".join(parts).strip()
            elif depth < child_depth:  # the item itself
                count += 1
                ready.append((count, item))
                item = None
                stack.pop()
            depth -= 1

        def characters(data: str) -> None:
            nonlocal size
            if child is not None and depth == child_depth:
                parts.append(data)
                size += len(data)
                if size > limit:
                    raise FeedFormatError(
                        f"item {count + 1}: the value of <{child}> is longer than {limit:,} characters "
                        "(the limit is max_line_bytes)"
                    )

        parser = safe_parser()
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = characters
        final = False
        try:
            for text in self._texts(path):
                parser.Parse(text, False)
                if ready:
                    yield from ready
                    ready.clear()
            final = True
            parser.Parse("", True)
        except expat.ExpatError as exc:
            yield from ready
            raise _xml_error(exc, final, self.skipped_lines) from exc
        yield from ready
        if count == 0:
            root = roots[0] if roots else "?"
            raise FeedFormatError(
                f"no <{last}> items in the XML (item path {item_path!r}); its root element is <{root}>: "
                "configure the item path"
            )
