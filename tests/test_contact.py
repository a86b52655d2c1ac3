"""Countries and phone numbers as gateways want them, from the maintained data sets."""

from __future__ import annotations

import pycountry
import pytest

from django_multipay.gateways.contact import (
    InvalidPhone,
    Phone,
    country_alpha2,
    country_alpha3,
    parse_phone,
    region_for_calling_code,
)


def test_every_alpha2_has_its_alpha3_and_back() -> None:
    for country in pycountry.countries:
        assert country_alpha3(country.alpha_2.lower()) == country.alpha_3
        assert country_alpha3(country.alpha_3) == country.alpha_3
        assert country_alpha2(country.alpha_3.lower()) == country.alpha_2


@pytest.mark.parametrize("code", ["", None, "XX", "XK", "ZZZ", "Portugal", "P", " "])
def test_unknown_countries_are_none(code: str | None) -> None:
    assert country_alpha3(code) is None
    assert country_alpha2(code) is None


@pytest.mark.parametrize(
    ("typed", "region", "phone"),
    [
        ("+8801712345678", None, Phone("880", "1712345678")),
        ("+880 1712-345678", None, Phone("880", "1712345678")),
        ("008801712345678", None, Phone("880", "1712345678")),
        ("01712345678", "BD", Phone("880", "1712345678")),
        ("01712345678", "bgd", Phone("880", "1712345678")),
        ("(+44) 20 7946 0958", "PT", Phone("44", "2079460958")),
        ("912.345.678", "PT", Phone("351", "912345678")),
    ],
)
def test_phones_are_read_as_typed(typed: str, region: str | None, phone: Phone) -> None:
    assert parse_phone(typed, region) == phone


def test_e164_has_no_separators() -> None:
    assert parse_phone("+880 1712-345678").e164 == "+8801712345678"


@pytest.mark.parametrize(
    ("typed", "region", "reason"),
    [
        ("", "BD", "no phone number given"),
        ("01712345678", None, "has no country code"),
        ("01712345678", "XX", "has no country code"),
        ("123", "BD", "too short or too long"),
        ("+880 1712345678901234", None, "too short or too long"),
        ("call me", "BD", "is not a phone number"),
    ],
)
def test_unreadable_phones_say_why_without_the_number(
    typed: str, region: str | None, reason: str
) -> None:
    with pytest.raises(InvalidPhone) as caught:
        parse_phone(typed, region)
    assert reason in str(caught.value)
    assert not typed or typed not in str(caught.value)


@pytest.mark.parametrize(
    ("code", "region"), [("351", "PT"), ("+880", "BD"), (44, "GB"), ("999", None), ("x", None)]
)
def test_region_for_calling_code(code: str | int, region: str | None) -> None:
    assert region_for_calling_code(code) == region
