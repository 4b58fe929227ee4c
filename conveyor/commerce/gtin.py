"""GTIN (EAN/UPC) codes: validation and one canonical form, so the same article compares equal everywhere.

A product's barcode reaches us in several spellings: a UPC-A ``036000291452`` from one supplier, the same
article as EAN-13 ``0036000291452`` from another, ``5901234-123457`` with a hyphen from a spreadsheet. GS1
defines every GTIN (8, 12, 13 or 14 digits) as a 14-digit number padded with leading zeros, so that is the
canonical form here: :func:`normalize_gtin` returns 14 digits and two spellings of one code compare equal as
strings. :func:`display_gtin` gives the form people expect to read (13 digits when the padding allows).

The check digit is the last digit: the other digits, from the right, are weighted 3, 1, 3, 1, …, and the
check digit brings the sum up to a multiple of ten. A code with a wrong check digit is refused, never
"corrected": it is a typo or a mangled export, and matching it would link the wrong article.
"""

from __future__ import annotations

GTIN_LENGTHS = (8, 12, 13, 14)
"""The lengths a GTIN can have: GTIN-8 (EAN-8), GTIN-12 (UPC-A), GTIN-13 (EAN-13), GTIN-14 (cases)."""

_SEPARATORS = str.maketrans("", "", " -\u00a0\u202f\t")


def gtin_check_digit(body: str) -> int:
    """The check digit for ``body``, the GTIN's digits without its last one (at most 13 ASCII digits).

    Weights run 3, 1, 3, … from the right so the result does not depend on how many zeros pad the code.
    Padded to 13 digits, the weight-3 digits are those at even positions; summing bytes keeps it in C,
    which matters at a million EANs per feed."""
    digits = body.zfill(13).encode("ascii")
    total = 3 * (sum(digits[0::2]) - 48 * 7) + sum(digits[1::2]) - 48 * 6
    return -total % 10


def normalize_gtin(text: str) -> str:
    """The canonical 14-digit form of a GTIN-8/12/13/14 (spaces and hyphens removed, zeros padded left).

    Raises :class:`ValueError` with a message a user can act on when the text is empty, has characters
    other than digits, spaces and hyphens, has a length that no GTIN has, or its check digit is wrong."""
    digits = text.strip()
    if not (digits.isdigit() and digits.isascii()):
        digits = digits.translate(_SEPARATORS)
    if not digits:
        raise ValueError("EAN is empty")
    if not (digits.isascii() and digits.isdigit()):
        hint = ""
        if any(c in digits for c in "eE") and any(c in digits for c in ".,"):
            hint = " — it looks like a number that a spreadsheet turned into scientific notation"
        raise ValueError(f"EAN {text.strip()!r}: not a number (only digits, spaces and hyphens are allowed){hint}")
    if len(digits) not in GTIN_LENGTHS:
        raise ValueError(f"EAN {digits}: {len(digits)} digits; a GTIN has 8, 12, 13 or 14")
    expected = gtin_check_digit(digits[:-1])
    if ord(digits[-1]) - 48 != expected:
        raise ValueError(f"EAN {digits}: bad check digit {digits[-1]} (expected {expected})")
    return digits.zfill(14)


def is_valid_gtin(text: str) -> bool:
    """Whether :func:`normalize_gtin` accepts ``text``."""
    try:
        normalize_gtin(text)
    except ValueError:
        return False
    return True


def display_gtin(gtin: str) -> str:
    """A GTIN as people read it: the canonical 14 digits shortened to 13 (EAN-13) when the first is a zero.

    Accepts any spelling :func:`normalize_gtin` accepts, so UPC-A ``036000291452`` displays as
    ``0036000291452``; a GTIN-14 of a case (first digit not zero) keeps its 14 digits."""
    canonical = normalize_gtin(gtin)
    return canonical[1:] if canonical[0] == "0" else canonical
