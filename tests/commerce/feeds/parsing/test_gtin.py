"""GTIN codes: the check digit, one canonical form for every spelling, and messages for bad codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.commerce.gtin import display_gtin, gtin_check_digit, is_valid_gtin, normalize_gtin


def reference_check_digit(body: str) -> int:
    """The GS1 rule spelled out: weights 3, 1, 3, … from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


@pytest.mark.parametrize(
    ("code", "canonical"),
    [
        ("5901234123457", "05901234123457"),  # EAN-13
        ("96385074", "00000096385074"),  # EAN-8
        ("036000291452", "00036000291452"),  # UPC-A
        ("10012345678902", "10012345678902"),  # GTIN-14 of a case
    ],
)
def test_every_gtin_length_normalises_to_fourteen_digits(code: str, canonical: str) -> None:
    assert normalize_gtin(code) == canonical


def test_upc_a_and_its_ean_13_spelling_compare_equal() -> None:
    assert normalize_gtin("036000291452") == normalize_gtin("0036000291452") == normalize_gtin("00036000291452")


def test_spaces_and_hyphens_are_ignored() -> None:
    assert normalize_gtin(" 590-1234 123457 ") == "05901234123457"
    assert normalize_gtin("5901234\u00a0123457") == "05901234123457"


def test_display_form_has_thirteen_digits_unless_it_is_a_case_code() -> None:
    assert display_gtin("036000291452") == "0036000291452"
    assert display_gtin("05901234123457") == "5901234123457"
    assert display_gtin("10012345678902") == "10012345678902"


def test_bad_check_digit_names_the_expected_one() -> None:
    with pytest.raises(ValueError, match=r"^EAN 5901234123458: bad check digit 8 \(expected 7\)$"):
        normalize_gtin("5901234123458")


def test_bad_length_says_which_lengths_exist() -> None:
    with pytest.raises(ValueError, match=r"^EAN 12345: 5 digits; a GTIN has 8, 12, 13 or 14$"):
        normalize_gtin("12345")


def test_letters_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^EAN 'ABC123': not a number"):
        normalize_gtin("ABC123")


def test_scientific_notation_from_a_spreadsheet_is_explained() -> None:
    with pytest.raises(ValueError, match=r"scientific notation"):
        normalize_gtin("5.90123E+12")


def test_empty_text_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^EAN is empty$"):
        normalize_gtin("  ")


def test_is_valid_gtin_is_a_yes_or_no_answer() -> None:
    assert is_valid_gtin("5901234123457")
    assert not is_valid_gtin("5901234123458")


@given(st.sampled_from([7, 11, 12, 13]).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)))
def test_check_digit_matches_the_gs1_rule(body: str) -> None:
    assert gtin_check_digit(body) == reference_check_digit(body)
    assert normalize_gtin(body + str(reference_check_digit(body))) == (body + str(reference_check_digit(body))).zfill(
        14
    )


@given(
    st.sampled_from([7, 11, 12, 13]).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)),
    st.integers(1, 9),
)
def test_every_wrong_check_digit_is_refused(body: str, offset: int) -> None:
    wrong = (reference_check_digit(body) + offset) % 10
    with pytest.raises(ValueError, match=f"bad check digit {wrong} \\(expected {reference_check_digit(body)}\\)"):
        normalize_gtin(body + str(wrong))


@given(st.text("0123456789", min_size=13, max_size=13), st.integers(0, 11), st.integers(1, 9))
def test_a_single_mistyped_digit_is_always_caught(code: str, position: int, delta: int) -> None:
    valid = code[:12] + str(reference_check_digit(code[:12]))
    typo = valid[:position] + str((int(valid[position]) + delta) % 10) + valid[position + 1 :]
    assert not is_valid_gtin(typo)
