"""Amounts and numbers written for people in the active language; machines never read these."""

from __future__ import annotations

import copy
import functools
import unicodedata
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern, format_decimal, get_currency_symbol, parse_pattern
from django.conf import settings
from django.utils import translation

from django_multipay import money

#: CLDR's ``currencySpacing``: a symbol written in letters ("BDT", "KWD") is kept apart
#: from the digits by a no-break space; a sign (€, ৳, $) is not.
CURRENCY_SPACE = "\xa0"


#: Django language codes whose bare Babel locale is another country's: the ``pt`` catalogue
#: is European Portuguese, and CLDR's bare ``pt`` writes Brazil's amounts (``€ 6.800,00``).
LOCALE_FOR_LANGUAGE = {"pt": "pt_PT"}


def active_locale() -> Locale:
    """The Babel locale of the active language (``LANGUAGE_CODE`` when none is active)."""
    return _locale(translation.get_language() or settings.LANGUAGE_CODE or "en")


@functools.lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    name = translation.to_locale(language)
    try:
        return Locale.parse(LOCALE_FOR_LANGUAGE.get(name, name))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


@functools.lru_cache(maxsize=256)
def _money_pattern(locale: Locale, exponent: int) -> NumberPattern:
    """The locale's currency pattern with the currency's ISO 4217 decimals (CLDR's own
    differ for a few currencies)."""
    pattern = copy.copy(parse_pattern(locale.currency_formats["standard"]))
    pattern.frac_prec = (exponent, exponent)
    return pattern


def _is_letter(char: str) -> bool:
    return not unicodedata.category(char).startswith(("S", "Z"))


def _space_currency(text: str, symbol: str) -> str:
    """Insert CLDR's currency spacing that Babel leaves out (``BDT6,800.00``)."""
    if not symbol:
        return text
    start = text.find(symbol)
    if start < 0:
        return text
    end = start + len(symbol)
    if end < len(text) and text[end].isdigit() and _is_letter(symbol[-1]):
        return text[:end] + CURRENCY_SPACE + text[end:]
    if start > 0 and text[start - 1].isdigit() and _is_letter(symbol[0]):
        return text[:start] + CURRENCY_SPACE + text[start:]
    return text


def format_money(amount: Decimal, currency: str, locale: Locale | None = None) -> str:
    """The amount as the active language writes money, with the currency's ISO 4217 decimals:
    ``€49.80`` (en), ``49,80 €`` (es), ``6,800.00৳`` (bn), ``‏6,800.00 BDT`` (ar).

    Digits stay Latin in every language, as the gateways' own pages show them; the symbol,
    its place, grouping and separators follow the locale's CLDR data."""
    locale = locale or active_locale()
    exact = money.quantize(amount, currency)
    pattern = _money_pattern(locale, money.currency_exponent(currency))
    text = pattern.apply(exact, locale, currency=currency, currency_digits=False)
    return _space_currency(text, get_currency_symbol(currency, locale=locale))


def format_number(value: int | Decimal, locale: Locale | None = None) -> str:
    """A count or quantity as the active language groups digits: ``1,200`` / ``1.200``."""
    return str(format_decimal(value, locale=locale or active_locale()))


def format_percent(value: float, locale: Locale | None = None) -> str:
    """A share (0 to 1) as the active language writes a percentage, to a tenth at most:
    ``42.5%`` (en), ``42,5 %`` (es)."""
    locale = locale or active_locale()
    pattern = parse_pattern(locale.percent_formats[None].pattern)
    pattern.frac_prec = (0, 1)
    return str(pattern.apply(value, locale))
