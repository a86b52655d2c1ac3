"""``{{ amount|money:currency }}`` → ``49.80 EUR`` (the currency's own decimal places)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from django_multipay.money import format_decimal

register = template.Library()


@register.filter
def money(amount: Decimal, currency: str) -> str:
    return f"{format_decimal(amount, currency)} {currency}"
