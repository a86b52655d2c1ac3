"""Decimal amounts with ISO 4217 currencies, and the one place minor units are computed."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import iso4217
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# The current ISO 4217 list as published by its maintenance agency (SIX), shipped by the
# iso4217 package and refreshed with each publication; iso4217.__published__ gives its date.
_BY_NUMBER: dict[str, iso4217.Currency] = {
    str(currency.number).zfill(3): currency for currency in iso4217.Currency
}


def _currency(code: str) -> iso4217.Currency:
    try:
        currency = iso4217.Currency(str(code).strip().upper())
    except ValueError:
        raise ValidationError(
            _("%(code)s is not an ISO 4217 currency code."), code="currency", params={"code": code}
        ) from None
    if currency.exponent is None:
        # Gold, SDR, XTS, XXX and the other "N.A." entries have no minor unit, so no amount
        # in them can be quantized, converted to minor units or sent to a gateway.
        raise ValidationError(
            _("%(code)s has no minor unit in ISO 4217 and cannot be used for payments."),
            code="currency",
            params={"code": currency.code},
        )
    return currency


def normalize_currency(code: str) -> str:
    """The upper-case alphabetic code, after checking it is a real ISO 4217 currency."""
    return _currency(code).code


def currency_exponent(code: str) -> int:
    """Digits after the decimal point: BDT/EUR/USD 2, JPY 0, KWD/BHD 3 (ISO 4217 data)."""
    exponent = _currency(code).exponent
    assert exponent is not None  # _currency() refuses currencies without a minor unit
    return exponent


def numeric_code(code: str) -> str:
    """The three-digit ISO 4217 numeric code, as a string (``"978"`` for EUR)."""
    return str(_currency(code).number).zfill(3)


def from_numeric_code(numeric: str | int) -> str:
    """The alphabetic code for an ISO 4217 numeric code (``978`` → ``"EUR"``)."""
    currency = _BY_NUMBER.get(str(numeric).strip().zfill(3))
    if currency is None or currency.exponent is None:
        raise ValidationError(
            _("%(code)s is not an ISO 4217 numeric code."),
            code="currency",
            params={"code": numeric},
        )
    return currency.code


def to_decimal(value: object) -> Decimal:
    """A Decimal from a Decimal, int or string; floats are refused (they are not money)."""
    if isinstance(value, (bool, float)):
        raise ValidationError(_("Amounts must be Decimal or string, not float."), code="amount")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationError(
            _("%(value)s is not an amount."), code="amount", params={"value": repr(value)}
        ) from None
    if not amount.is_finite():
        raise ValidationError(
            _("%(value)s is not an amount."), code="amount", params={"value": repr(value)}
        )
    return _held(amount, value)


#: Digits before the point of the largest amount we keep: the amount columns hold 18 digits,
#: 4 of them decimals. Larger is no payment; refused here, it never reaches a quantize (whose
#: 28-digit context would raise ``InvalidOperation``) nor a column.
MAX_INTEGER_DIGITS = 14


def _held(amount: Decimal, value: object) -> Decimal:
    """``amount``, or ``ValidationError`` if it has more integer digits than we keep."""
    if amount and amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValidationError(
            # Translators: %(digits)s is a number of digits (14).
            _("%(value)s is too large an amount (at most %(digits)s digits before the point)."),
            code="amount",
            params={"value": repr(value), "digits": MAX_INTEGER_DIGITS},
        )
    return amount


def validate_amount(value: object, currency: str, *, allow_zero: bool = False) -> Decimal:
    """Check sign and precision against the currency's exponent; return it quantized."""
    amount = to_decimal(value)
    exponent = currency_exponent(currency)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationError(_("Amount must be greater than zero."), code="amount_not_positive")
    quantum = Decimal(1).scaleb(-exponent)
    quantized = amount.quantize(quantum)
    if quantized != amount:
        raise ValidationError(
            _("%(currency)s amounts have at most %(exp)s decimal places; got %(amount)s."),
            code="amount_precision",
            params={"currency": currency, "exp": exponent, "amount": amount},
        )
    return quantized


def quantize(amount: Decimal, currency: str) -> Decimal:
    """The amount with exactly the currency's number of decimal places (no rounding allowed)."""
    return validate_amount(amount, currency, allow_zero=True)


def format_decimal(amount: Decimal, currency: str) -> str:
    """Decimal string with the currency's decimal places: ``"100.00"``, ``"5000"`` for JPY."""
    return f"{quantize(amount, currency):f}"


def format_trimmed(amount: Decimal, currency: str) -> str:
    """Decimal string without trailing zeros or exponent: ``"100"`` for 100.00, ``"100.5"``
    for 100.50 (PortOne's signed amounts, written as Go's ``FormatFloat(x, 'f', -1)``)."""
    exact = quantize(amount, currency)
    text = f"{exact:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Integer minor units (cents, fils): 12.34 EUR → 1234, 500 JPY → 500, 1.234 KWD → 1234."""
    exact = quantize(amount, currency)
    return int(exact.scaleb(currency_exponent(currency)))


def from_minor_units(value: object, currency: str) -> Decimal:
    """Decimal amount from integer minor units; refuses non-integers and floats."""
    if isinstance(value, (bool, float)):
        raise ValidationError(_("Minor units must be an integer."), code="amount")
    try:
        units = int(str(value).strip())
    except ValueError:
        raise ValidationError(
            _("%(value)s is not an integer amount."), code="amount", params={"value": repr(value)}
        ) from None
    exponent = currency_exponent(currency)
    amount = _held(Decimal(units).scaleb(-exponent), value)
    return amount.quantize(Decimal(1).scaleb(-exponent))


def same_money(a: Decimal, a_currency: str, b: Decimal, b_currency: str) -> bool:
    """True when both amounts are equal in the same currency (``10 == 10.00``)."""
    return a_currency.upper() == b_currency.upper() and Decimal(a) == Decimal(b)
