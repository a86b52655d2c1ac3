"""Template filters: ``{% load multipay %}{{ order.amount|money:order.currency }}``."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.core.exceptions import ValidationError

from django_multipay import money as money_module

register = template.Library()


@register.filter
def money(amount: Decimal | str | None, currency: str) -> str:
    """The amount with its currency's decimal places and code: ``49.80 EUR``, ``500 JPY``."""
    if amount in (None, ""):
        return ""
    try:
        value = money_module.to_decimal(amount)
        exponent = money_module.currency_exponent(currency)
    except ValidationError:
        return f"{amount} {currency}"
    return f"{value.quantize(Decimal(1).scaleb(-exponent)):f} {currency}"
