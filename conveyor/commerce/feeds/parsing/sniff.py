"""Look at the first bytes of a feed and decide what it is: HTML, binary, XML or CSV; which encoding; which dialect.

Everything here works on a sample (the first 64 KB after decompression), so it costs nothing per row.

Content
    An HTML page (``<!DOCTYPE html`` or ``<html`` as the first tag) is what a server sends with status 200
    when a login expired or a URL moved: refused, quoting the page's ``<title>``. NUL bytes or more than
    1 % control characters mean binary data (an image, an Excel ``.xls``, a PDF, random bytes): refused,
    naming the file type when its magic bytes are known. ``<`` first means XML, anything else CSV.

Encoding (when the import task does not declare one)
    A UTF-8 byte order mark means UTF-8. Otherwise a sample that decodes as UTF-8 is UTF-8 (multi-byte
    sequences that are valid UTF-8 are practically never cp1250 text). Otherwise the feed is cp1250 or
    ISO-8859-2, which agree on 0xC0–0xFF and differ on 0x80–0xBF: bytes 0x80–0x9F are letters in cp1250
    (Š Ś Ť Ž Ź š ś ť ž ź …) but control characters in ISO-8859-2, so they vote cp1250; bytes in 0xA0–0xBF that
    are letters in ISO-8859-2 but symbols in cp1250 (Ą Ś Ź ą ś ź … vs ¥ ¦ ¬ ± ¶ …) vote ISO-8859-2. A tie
    (text of only the common letters, like á č ě ř) is cp1250, and then both read the same anyway.
    A sample of plain ASCII is "UTF-8 so far": the first line with other bytes settles it (see
    :class:`EncodingGuess`).

Declared encoding
    Wins, but a declaration the sample contradicts is refused with a message saying what the feed
    probably is: a UTF-8 byte order mark or valid multi-byte UTF-8 under a single-byte declaration (the text
    would import as mojibake), or bytes 0x80–0x9F under ISO-8859-2 (control characters there; letters in
    cp1250). Only ASCII-compatible encodings are accepted, because lines are split on the byte ``\\n``.

CSV dialect
    The delimiter is the candidate (``;`` ``,`` tab ``|``) that splits the header line into the most fields
    while the next lines of the sample split into the same number; the quote character is ``"`` unless the
    header quotes its names with ``'``.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass

from conveyor.commerce.feeds.errors import FeedEncodingError, FeedFormatError

SAMPLE_BYTES = 64 * 1024
UTF8_BOM = codecs.BOM_UTF8
DELIMITERS = (";", ",", "\t", "|")

_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_C1 = bytes(range(0x80, 0xA0))


def _letters_only_in_iso_8859_2() -> bytes:
    """Bytes 0xA0–0xBF that are letters in ISO-8859-2 but not in cp1250 (computed, not typed out)."""
    found = bytearray()
    for b in range(0xA0, 0xC0):
        iso = bytes([b]).decode("iso8859-2")
        cp = bytes([b]).decode("cp1250", "replace")
        if iso.isalpha() and not cp.isalpha():
            found.append(b)
    return bytes(found)


_ISO_8859_2_VOTES = _letters_only_in_iso_8859_2()
_MAGIC_NAMES = (
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Word file (.xls/.doc); export the sheet as CSV"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
)
_TITLE = re.compile(rb"<title[^>]*>(.{0,200}?)</title>", re.IGNORECASE | re.DOTALL)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def line_of(sample: bytes, offset: int) -> int:
    """The 1-based line number of byte ``offset`` in ``sample``."""
    return sample.count(b"\n", 0, offset) + 1


def codec_name(encoding: str) -> str:
    """Python's canonical name for ``encoding`` (``"windows-1250"`` → ``"cp1250"``), refusing what cannot work.

    Lines are split on the byte ``\\n`` before decoding, so only encodings that write ASCII as ASCII
    (UTF-8 and the single-byte code pages) can be read; UTF-16 and the like are refused by name."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise FeedEncodingError(
            f"unknown encoding {encoding!r}: use a name like utf-8, cp1250 (windows-1250) or iso-8859-2"
        ) from exc
    try:
        ascii_compatible = "\n;,\"'<>=a0".encode(name) == b"\n;,\"'<>=a0"
    except (UnicodeError, LookupError):
        ascii_compatible = False
    if not ascii_compatible:
        raise FeedEncodingError(
            f"encoding {encoding!r} is not supported: feeds must be in an ASCII-compatible encoding "
            "(utf-8, cp1250, iso-8859-2, …); ask the supplier for UTF-8"
        )
    return name


def refuse_html_or_binary(sample: bytes) -> None:
    """Raise :class:`FeedFormatError` if the sample is an HTML page or binary data rather than a text feed."""
    text = sample[len(UTF8_BOM) :] if sample.startswith(UTF8_BOM) else sample
    first_tag = _first_tag(text)
    if first_tag is not None and (first_tag.startswith(b"<!doctype html") or re.match(rb"<html[\s>]", first_tag)):
        title = _TITLE.search(sample)
        shown = ""
        if title:
            words = b" ".join(title.group(1).split()).decode("utf-8", "replace")
            shown = f" (its title: {words!r})" if words else ""
        raise FeedFormatError(
            f"the server sent an HTML page, not a feed{shown}: check the feed's URL and credentials "
            "in a browser; a login page or an error page is often served with status 200"
        )
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FeedEncodingError(
            "the feed is UTF-16 (it starts with a UTF-16 byte order mark); only ASCII-compatible encodings "
            "(utf-8, cp1250, iso-8859-2) are supported: ask the supplier for UTF-8"
        )
    for magic, name in _MAGIC_NAMES:
        if sample.startswith(magic):
            raise FeedFormatError(f"the file is {name}, not a CSV or XML feed")
    nul = sample.find(b"\x00")
    if nul >= 0:
        raise FeedFormatError(
            f"the file is binary data, not a CSV or XML feed (a NUL byte on line {line_of(sample, nul)}, "
            f"byte {nul}): check the feed's URL"
        )
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if sample and controls * 100 > len(sample):
        raise FeedFormatError(
            f"the file is binary data, not a CSV or XML feed ({controls} control bytes in the first "
            f"{len(sample)}): check the feed's URL"
        )


def _first_tag(text: bytes) -> bytes | None:
    """The start of the first markup that is not an XML declaration or comment, lowercased; None if no ``<``."""
    pos = 0
    while True:
        while pos < len(text) and text[pos] in b" \t\r\n":
            pos += 1
        if not text.startswith(b"<", pos):
            return None
        if text.startswith(b"<?", pos):
            terminator = b"?>"
        elif text.startswith(b"<!--", pos):
            terminator = b"-->"
        else:
            return text[pos : pos + 32].lower()
        end = text.find(terminator, pos)
        if end < 0:
            return None
        pos = end + len(terminator)


def looks_like_xml(sample: bytes) -> bool:
    """Whether the content starts with markup (after a byte order mark and whitespace)."""
    text = sample[len(UTF8_BOM) :] if sample.startswith(UTF8_BOM) else sample
    return text.lstrip(b" \t\r\n").startswith(b"<")


def xml_declared_encoding(sample: bytes) -> str | None:
    """The ``encoding`` of the XML declaration (``<?xml … encoding="windows-1250"?>``), if there is one."""
    text = sample[len(UTF8_BOM) :] if sample.startswith(UTF8_BOM) else sample
    match = _XML_ENCODING.match(text.lstrip())
    return match.group(1).decode("ascii") if match else None


def _valid_utf8_prefix(sample: bytes, complete: bool) -> bool:
    """Whether the sample decodes as UTF-8; a multi-byte character cut by the sample's end is allowed."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def single_byte_guess(data: bytes) -> str:
    """cp1250 or ISO-8859-2 for bytes that are not UTF-8, by the votes described in the module docstring."""
    cp_votes = len(data) - len(data.translate(None, _C1))
    iso_votes = len(data) - len(data.translate(None, _ISO_8859_2_VOTES))
    return "iso8859-2" if iso_votes > cp_votes else "cp1250"


@dataclass
class EncodingGuess:
    """The encoding to decode lines with, and how sure we are of it.

    ``provisional`` is True while everything read was plain ASCII and the encoding was not declared: the
    first line that is not ASCII then decides (UTF-8 if it decodes, else cp1250 vs ISO-8859-2 by its bytes),
    and since every earlier line was ASCII they read the same in any of them. ``bom`` means the content
    starts with a UTF-8 byte order mark, which the reader drops."""

    encoding: str
    origin: str
    """``"declared"`` (by the import task), ``"detected"``, or ``"xml"`` (the XML declaration's)."""
    provisional: bool = False
    bom: bool = False

    @property
    def declared(self) -> bool:
        """Whether the import task declared the encoding (then a decoding error means the declaration is wrong)."""
        return self.origin == "declared"

    def describe(self) -> str:
        """``"cp1250 (declared)"``, ``"utf-8 (detected)"``, … for messages."""
        how = {"declared": "declared", "xml": "as the XML declaration says"}.get(self.origin, "detected")
        return f"{self.encoding} ({how})"

    def settle(self, data: bytes, *, complete: bool = True) -> str:
        """Decide a provisional guess from the first data that is not plain ASCII; returns the encoding.

        ``complete`` is False for a chunk that may end inside a multi-byte character."""
        self.provisional = False
        if not _valid_utf8_prefix(data, complete=complete):
            self.encoding = single_byte_guess(data)
        return self.encoding


def guess_encoding(
    sample: bytes, declared: str | None, *, complete: bool, xml_declared: str | None = None
) -> EncodingGuess:
    """The encoding of a feed from its first bytes, or the declared one after checking the sample against it.

    ``complete`` says the sample is the whole content (so a multi-byte character may not be cut at its end).
    ``xml_declared`` is the encoding an XML declaration names: it comes after the task's declaration and a
    byte order mark, before detection."""
    bom = sample.startswith(UTF8_BOM)
    if declared is not None:
        name = codec_name(declared)
        _check_declared(sample, name, bom=bom, complete=complete, who="the import task declares")
        return EncodingGuess(name, "declared", bom=bom and name.startswith("utf-8"))
    if bom:
        return EncodingGuess("utf-8", "detected", bom=True)
    if xml_declared is not None:
        name = codec_name(xml_declared)
        _check_declared(sample, name, bom=bom, complete=complete, who="the XML declaration says")
        return EncodingGuess(name, "xml")
    if sample.isascii():
        return EncodingGuess("utf-8", "detected", provisional=not complete)
    if _valid_utf8_prefix(sample, complete):
        return EncodingGuess("utf-8", "detected")
    return EncodingGuess(single_byte_guess(sample), "detected")


def _check_declared(sample: bytes, name: str, *, bom: bool, complete: bool, who: str) -> None:
    if name.startswith("utf-8"):
        return  # decoding errors name their line as rows are read
    if bom:
        raise FeedEncodingError(
            f"the feed starts with a UTF-8 byte order mark but {who} {name}: "
            "declare utf-8, or leave the encoding empty to detect it"
        )
    if not sample.isascii() and _valid_utf8_prefix(sample, complete):
        offset = next(i for i, b in enumerate(sample) if b >= 0x80)
        line = line_of(sample, offset)
        start = sample.rfind(b"\n", 0, offset) + 1
        end = sample.find(b"\n", offset)
        text = sample[start : end if end >= 0 else len(sample)].strip()[:60]
        raise FeedEncodingError(
            f"line {line}: {who} {name} but the feed is UTF-8 "
            f"({text.decode('utf-8', 'replace')!r} would read as {text.decode(name, 'replace')!r}): "
            "declare utf-8, or leave the encoding empty to detect it"
        )
    if name == "iso8859-2":
        c1 = next((i for i, b in enumerate(sample) if 0x80 <= b < 0xA0), None)
        if c1 is not None:
            letter = sample[c1 : c1 + 1].decode("cp1250", "replace")
            raise FeedEncodingError(
                f"line {line_of(sample, c1)}: {who} {name} but byte 0x{sample[c1]:02X} is a control character there "
                f"(in cp1250 it is {letter!r}): the feed is probably cp1250; declare cp1250, or leave the "
                "encoding empty to detect it"
            )


@dataclass(frozen=True)
class Dialect:
    """The CSV dialect of a feed: delimiter and quote character (``"`` doubled inside quoted values)."""

    delimiter: str
    quotechar: str

    def describe(self) -> str:
        """``"';' with \\" quotes"`` style text for messages and the UI."""
        shown = {"\t": "tab"}.get(self.delimiter, repr(self.delimiter))
        return f"{shown} delimited, {self.quotechar} quotes"


def sniff_dialect(lines: list[str]) -> Dialect:
    """The delimiter and quote character from the first lines of the text (the header first).

    Counting is done by the csv module itself, so delimiters inside quoted header names do not count."""
    header = lines[0] if lines else ""
    quotechar = "'" if _quotes_with_apostrophe(header) else '"'
    best: tuple[int, int, str] | None = None
    for delimiter in DELIMITERS:
        if delimiter not in header:
            continue
        rows = [row for row in csv.reader(lines[:50], delimiter=delimiter, quotechar=quotechar) if row]
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(1 for row in rows[1:] if len(row) == width or (len(row) > width and not any(row[width:])))
        score = (consistent, width, delimiter)
        if best is None or (score[0], score[1]) > (best[0], best[1]):
            best = score
    return Dialect(best[2] if best else ";", quotechar)


def _quotes_with_apostrophe(header: str) -> bool:
    stripped = header.strip()
    return stripped.startswith("'") and not stripped.startswith('"') and stripped.count("'") >= 2
