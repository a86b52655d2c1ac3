"""Field factories shared by the models: money amounts and currency codes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from django_multipay import money

#: Up to 14 whole digits and 4 decimals: enough for every ISO 4217 exponent (max 4, CLF/UYW).
AMOUNT_DIGITS = 18
AMOUNT_DECIMALS = 4


def amount_field(verbose_name: Any, **kwargs: Any) -> models.DecimalField[Any, Any]:
    return models.DecimalField(
        verbose_name,
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_DECIMALS,
        **kwargs,
    )


def validate_currency(value: str) -> None:
    if value != value.upper():
        raise ValidationError(_("Currency codes are upper case."), code="currency")
    money.normalize_currency(value)


def currency_field(**kwargs: Any) -> models.CharField[Any, Any]:
    return models.CharField("currency", max_length=3, validators=[validate_currency], **kwargs)
