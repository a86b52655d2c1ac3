"""Amounts over JSON: decimal strings in, decimal strings with the currency's places out."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from django_multipay import money
from django_multipay.models.fields import AMOUNT_DECIMALS, AMOUNT_DIGITS

#: What an amount looks like on the wire: digits, optionally a point and up to 4 decimals
#: (the columns' precision). Whether the currency allows that many is checked separately.
AMOUNT_PATTERN = rf"^[0-9]{{1,{AMOUNT_DIGITS - AMOUNT_DECIMALS}}}(\.[0-9]{{1,{AMOUNT_DECIMALS}}})?$"
_AMOUNT_RE = re.compile(AMOUNT_PATTERN)


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": AMOUNT_PATTERN, "example": "12.50"}
)
class AmountField(serializers.Field):  # type: ignore[type-arg]
    """A decimal string (``"12.50"``) read as ``Decimal``. Numbers are refused: a JSON
    number is a float to most clients, and floats are not money."""

    default_error_messages = {
        "not_a_string": _('Give amounts as decimal strings, like "12.50".'),
        "invalid": _('Not an amount: give digits with an optional decimal point, like "12.50".'),
    }

    def to_internal_value(self, data: Any) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_a_string")
        if not _AMOUNT_RE.match(data):
            self.fail("invalid")
        return Decimal(data)

    def to_representation(self, value: Any) -> str:
        return f"{Decimal(value):f}"


@extend_schema_field({"type": "string", "format": "decimal", "readOnly": True, "example": "12.50"})
class MoneyField(serializers.Field):  # type: ignore[type-arg]
    """Read-only: the object's ``amount_attr`` with as many decimals as its currency has
    (``currency_attr`` may be a dotted path, like ``order.currency``)."""

    def __init__(self, amount_attr: str | None = None, currency_attr: str = "currency", **kw: Any):
        self.amount_attr = amount_attr
        self.currency_attr = currency_attr
        kw.update(source="*", read_only=True)
        super().__init__(**kw)

    def to_representation(self, value: Any) -> str:
        amount = getattr(value, str(self.amount_attr or self.field_name))
        currency = value
        for name in self.currency_attr.split("."):
            currency = getattr(currency, name)
        try:
            return money.format_decimal(Decimal(amount), currency)
        except DjangoValidationError:
            # A stored amount with more places than the currency has: shown as it is.
            return f"{Decimal(amount):f}"


def validate_for_currency(
    amount: Decimal, currency: str, field: str, *, allow_zero: bool = False
) -> Decimal:
    """The amount checked against the currency's exponent, or a per-field ``ValidationError``."""
    try:
        return money.validate_amount(amount, currency, allow_zero=allow_zero)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(
            {field: [serializers.ErrorDetail(m, code=exc.code or "invalid") for m in exc.messages]}
        ) from None
