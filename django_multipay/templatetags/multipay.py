"""Template filters: ``{% load multipay %}{{ order.amount|money:order.currency }}``."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.core.exceptions import ValidationError

from django_multipay import display
from django_multipay import money as money_module

register = template.Library()


@register.filter
def money(amount: Decimal | str | None, currency: str) -> str:
    """The amount as the active language writes money, with its currency's decimals:
    ``€49.80`` in English, ``49,80 €`` in Spanish, ``¥500`` for JPY."""
    if amount in (None, ""):
        return ""
    try:
        value = money_module.to_decimal(amount)
        return display.format_money(value, currency)
    except ValidationError:
        # Not an amount in that currency (more places than it has, an unknown code): as stored.
        return f"{amount} {currency}"


@register.filter
def localized_number(value: int | Decimal | None) -> str:
    """A quantity or count grouped as the active language groups digits."""
    if value in (None, ""):
        return ""
    return display.format_number(value)  # type: ignore[arg-type]
