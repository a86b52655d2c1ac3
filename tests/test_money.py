"""Money: ISO 4217 exponents, minor units, numeric codes and refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from django_multipay import money


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("BDT", 2), ("AED", 2), ("EUR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3)],
)
def test_exponent_comes_from_iso_data(code: str, exponent: int) -> None:
    assert money.currency_exponent(code) == exponent
    assert money.currency_exponent(code.lower()) == exponent


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("12.34"), "EUR", 1234),
        (Decimal("500"), "JPY", 500),
        (Decimal("1.234"), "KWD", 1234),
        (Decimal("0.01"), "BDT", 1),
        (Decimal("10"), "USD", 1000),
        (Decimal("7.5"), "BHD", 7500),
    ],
)
def test_minor_units_round_trip(amount: Decimal, currency: str, minor: int) -> None:
    assert money.to_minor_units(amount, currency) == minor
    back = money.from_minor_units(minor, currency)
    assert back == amount
    assert back.as_tuple().exponent == -money.currency_exponent(currency)


def test_from_minor_units_accepts_integer_strings() -> None:
    assert money.from_minor_units("1234", "EUR") == Decimal("12.34")


@pytest.mark.parametrize(
    ("value", "currency"), [("12.345", "EUR"), ("1.5", "JPY"), ("1.2345", "KWD")]
)
def test_too_many_decimals_refused(value: str, currency: str) -> None:
    with pytest.raises(ValidationError) as info:
        money.to_minor_units(Decimal(value), currency)
    assert info.value.code == "amount_precision"
    with pytest.raises(ValidationError):
        money.validate_amount(value, currency)


def test_trailing_zeros_beyond_exponent_are_fine() -> None:
    assert money.validate_amount("12.3400", "EUR") == Decimal("12.34")
    assert money.format_decimal(Decimal("5000.00"), "JPY") == "5000"
    assert money.format_decimal(Decimal("100"), "EUR") == "100.00"


@pytest.mark.parametrize("value", [12.34, 1.0, True])
def test_floats_refused(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        money.to_decimal(value)
    assert info.value.code == "amount"
    with pytest.raises(ValidationError):
        money.from_minor_units(value, "EUR")


@pytest.mark.parametrize("value", ["0", "-1.00", Decimal("-0.01"), 0])
def test_non_positive_refused(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        money.validate_amount(value, "EUR")
    assert info.value.code == "amount_not_positive"


def test_zero_allowed_only_when_asked() -> None:
    assert money.validate_amount("0", "EUR", allow_zero=True) == Decimal("0.00")
    with pytest.raises(ValidationError):
        money.validate_amount("-1", "EUR", allow_zero=True)


@pytest.mark.parametrize("value", ["abc", "", "NaN", "Infinity", None])
def test_non_amounts_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        money.to_decimal(value)


@pytest.mark.parametrize("code", ["XYZ", "EURO", "", "12", None])
def test_unknown_currency_refused(code: object) -> None:
    with pytest.raises(ValidationError) as info:
        money.currency_exponent(code)  # type: ignore[arg-type]
    assert info.value.code == "currency"
    with pytest.raises(ValidationError):
        money.normalize_currency(code)  # type: ignore[arg-type]


def test_normalize_currency_uppercases() -> None:
    assert money.normalize_currency("eur") == "EUR"


@pytest.mark.parametrize(
    ("code", "numeric"),
    [("EUR", "978"), ("BDT", "050"), ("USD", "840"), ("JPY", "392"), ("KWD", "414")],
)
def test_numeric_codes_and_back(code: str, numeric: str) -> None:
    assert money.numeric_code(code) == numeric
    assert money.from_numeric_code(numeric) == code
    assert money.from_numeric_code(int(numeric)) == code


def test_unknown_numeric_code_refused() -> None:
    with pytest.raises(ValidationError):
        money.from_numeric_code("000")


def test_minor_units_refuse_non_integers() -> None:
    with pytest.raises(ValidationError):
        money.from_minor_units("12.5", "EUR")


def test_same_money() -> None:
    assert money.same_money(Decimal("10"), "eur", Decimal("10.00"), "EUR")
    assert not money.same_money(Decimal("10"), "EUR", Decimal("10"), "USD")
    assert not money.same_money(Decimal("10"), "EUR", Decimal("10.01"), "EUR")


# Codes introduced or renumbered in ISO 4217 since 2018: each must be known with its
# exponent and numeric code, or orders and Paylands' numeric currency field break.
RECENT_CODES = [
    ("ZWG", 2, "924"),  # Zimbabwe Gold, 2024
    ("XCG", 2, "532"),  # Caribbean guilder, 2025
    ("VES", 2, "928"),  # Bolívar Soberano, 2018
    ("MRU", 2, "929"),  # Ouguiya, 2018
    ("UYW", 4, "927"),  # Unidad Previsional, 2018
]


@pytest.mark.parametrize(("code", "exponent", "numeric"), RECENT_CODES)
def test_recent_currencies_are_known(code: str, exponent: int, numeric: str) -> None:
    assert money.normalize_currency(code.lower()) == code
    assert money.currency_exponent(code) == exponent
    assert money.numeric_code(code) == numeric
    assert money.from_numeric_code(numeric) == code


@pytest.mark.parametrize(("code", "exponent", "numeric"), RECENT_CODES)
def test_recent_currencies_minor_units_follow_exponent(
    code: str, exponent: int, numeric: str
) -> None:
    smallest = Decimal(1).scaleb(-exponent)
    assert money.to_minor_units(Decimal("1") + smallest, code) == 10**exponent + 1
    assert money.from_minor_units(10**exponent + 1, code) == Decimal("1") + smallest
    assert money.format_decimal(Decimal("3"), code) == "3." + "0" * exponent
    with pytest.raises(ValidationError) as info:
        money.validate_amount(smallest / 10, code)
    assert info.value.code == "amount_precision"


@pytest.mark.parametrize("code", ["XAU", "XXX", "XTS", "XDR"])
def test_currencies_without_minor_unit_refused(code: str) -> None:
    with pytest.raises(ValidationError) as info:
        money.normalize_currency(code)
    assert info.value.code == "currency"
    with pytest.raises(ValidationError):
        money.to_minor_units(Decimal("1"), code)


@pytest.mark.parametrize("code", ["HRK", "ZWL", "SLL", "VEF", "MRO"])
def test_withdrawn_currencies_refused(code: str) -> None:
    with pytest.raises(ValidationError) as info:
        money.normalize_currency(code)
    assert info.value.code == "currency"


@pytest.mark.parametrize("value", [10**30, "1" + "0" * 20, -(10**17), "100000000000000000"])
def test_minor_units_beyond_what_an_amount_column_holds_are_refused(value: object) -> None:
    """Reported defect: 10**30 minor units raised decimal.InvalidOperation, not the
    ValidationError every other unreadable amount gives."""
    with pytest.raises(ValidationError):
        money.from_minor_units(value, "EUR")


@pytest.mark.parametrize("value", ["1" + "0" * 30, Decimal("1E+30"), 10**20, "-1E+15"])
def test_amounts_beyond_what_an_amount_column_holds_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        money.validate_amount(value, "EUR")
    with pytest.raises(ValidationError):
        money.to_decimal(value)


def test_the_largest_amount_a_column_holds_is_an_amount() -> None:
    largest = Decimal("99999999999999.99")  # 14 digits before the point, as the columns hold
    assert money.validate_amount(largest, "EUR") == largest
    assert money.from_minor_units(9999999999999999, "EUR") == largest
    assert money.to_minor_units(largest, "EUR") == 9999999999999999
