"""Paylands customer data on the wire: alpha-3 countries in addresses, split phone numbers."""

from __future__ import annotations

import copy
import json
from typing import Any

import pycountry
import pytest

from django_multipay import payments
from django_multipay.exceptions import InvalidRequest
from django_multipay.models import Invoice, Order
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter


def make_order(**fields: Any) -> Order:
    order = OrderFactory(**fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def sent_extra_data(router: EmulatorRouter) -> dict[str, Any]:
    """``extra_data`` of the last ``POST /payment`` the backend made."""
    call = router.requests_to(r"/payment$", "POST")[-1]
    body = json.loads(call.body or b"{}")
    extra = body.get("extra_data") or {}
    assert isinstance(extra, dict)
    return extra


def with_options(settings: Any, **options: Any) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["paylands"]["OPTIONS"].update(options)
    settings.MULTIPAY = config


# -- countries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha2", "alpha3"),
    [
        ("SS", "SSD"),
        ("GU", "GUM"),
        ("VI", "VIR"),
        ("PM", "SPM"),
        ("SX", "SXM"),
        ("BQ", "BES"),
        ("TC", "TCA"),
        ("PT", "PRT"),
    ],
)
def test_address_country_goes_out_as_alpha3(
    router: EmulatorRouter, alpha2: str, alpha3: str
) -> None:
    address = {"line1": "1 Main St", "city": "Town", "country": alpha2.lower()}
    payments.start_payment(
        make_order(billing_address=address, shipping_address=dict(address)), "paylands"
    )
    extra = sent_extra_data(router)
    assert extra["billing_address"]["country"] == alpha3
    assert extra["shipping_address"]["country"] == alpha3


def test_every_iso_3166_country_goes_out_as_its_alpha3(router: EmulatorRouter) -> None:
    countries = sorted(pycountry.countries, key=lambda c: c.alpha_2)
    assert len(countries) == 249
    sent: dict[str, str] = {}
    for country in countries:
        address = {"line1": "1 Main St", "city": "Town", "country": country.alpha_2}
        payments.start_payment(make_order(billing_address=address), "paylands")
        sent[country.alpha_2] = sent_extra_data(router)["billing_address"]["country"]
    assert sent == {c.alpha_2: c.alpha_3 for c in countries}
    assert len(router.requests_to(r"/payment$", "POST")) == 249


def test_alpha3_country_is_sent_as_it_is(router: EmulatorRouter) -> None:
    address = {"line1": "Rua A 1", "city": "Lisboa", "country": "prt"}
    payments.start_payment(make_order(billing_address=address), "paylands")
    assert sent_extra_data(router)["billing_address"]["country"] == "PRT"


@pytest.mark.parametrize("country", ["XX", "ZZZ", "Portugal", "P"])
def test_unknown_country_is_refused_before_any_call(router: EmulatorRouter, country: str) -> None:
    address = {"line1": "Rua A 1", "city": "Lisboa", "country": country}
    order = make_order(billing_address=address)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "paylands")
    assert caught.value.fields == {
        "billing_address.country": "is not an ISO 3166-1 alpha-2 or alpha-3 country code"
    }
    assert router.requests_to(r"/payment$") == []
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.FAILED
    assert "billing_address.country" in invoice.failure_reason


# -- phone numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "number", "prefix"),
    [
        ("+8801712345678", "1712345678", "880"),
        ("+880 1712-345678", "1712345678", "880"),
        ("+351 912345678", "912345678", "351"),
        ("+351-912-345-678", "912345678", "351"),
        ("00351 912 345 678", "912345678", "351"),
        ("(+44) 20 7946 0958", "2079460958", "44"),
        ("+1 (415) 555-2671", "4155552671", "1"),
    ],
)
def test_international_phones_are_split_into_prefix_and_number(
    router: EmulatorRouter, typed: str, number: str, prefix: str
) -> None:
    payments.start_payment(make_order(customer_phone=typed), "paylands")
    assert sent_extra_data(router)["profile"]["phone"] == {"number": number, "prefix": prefix}


def test_national_phone_takes_the_alias_phone_prefix(router: EmulatorRouter, settings: Any) -> None:
    with_options(settings, phone_prefix="351")
    # The billing address is in Bangladesh; the alias's phone_prefix still decides.
    payments.start_payment(make_order(customer_phone="912 345 678"), "paylands")
    assert sent_extra_data(router)["profile"]["phone"] == {"number": "912345678", "prefix": "351"}


def test_national_phone_without_phone_prefix_takes_the_billing_country(
    router: EmulatorRouter,
) -> None:
    address = {"line1": "House 1", "city": "Dhaka", "country": "BD"}
    payments.start_payment(
        make_order(customer_phone="01712-345678", billing_address=address), "paylands"
    )
    assert sent_extra_data(router)["profile"]["phone"] == {
        "number": "1712345678",
        "prefix": "880",
    }


@pytest.mark.parametrize("typed", ["123", "not a phone", "912345678"])
def test_unusable_phone_is_left_out_of_a_page_payment(router: EmulatorRouter, typed: str) -> None:
    # "912345678" has no country code, and the order has no billing address to say whose.
    order = make_order(customer_phone=typed, billing_address={}, shipping_address={})
    payments.start_payment(order, "paylands")
    invoice = Invoice.objects.get(order=order)
    profile = sent_extra_data(router)["profile"]
    # "Integration by redirection": the phone is optional; the payment page asks for it.
    assert "phone" not in profile
    assert profile["email"] == order.customer_email
    assert invoice.status == InvoiceStatus.PENDING


@pytest.mark.parametrize("typed", ["", "123"])
def test_mbway_push_without_a_usable_phone_is_refused_before_any_call(
    router: EmulatorRouter, typed: str
) -> None:
    order = make_order(customer_phone=typed)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "paylands", options={"apm": "MBWAY", "push": True})
    assert list(caught.value.fields) == ["customer_phone"]
    assert router.calls == []
    assert Invoice.objects.get(order=order).status == InvoiceStatus.FAILED


def test_mbway_push_with_a_phone_without_space_is_pushed(router: EmulatorRouter) -> None:
    order = make_order(customer_phone="+351912345678")
    payments.start_payment(order, "paylands", options={"apm": "MBWAY", "push": True})
    assert sent_extra_data(router)["profile"]["phone"] == {"number": "912345678", "prefix": "351"}
    assert len(router.requests_to(r"/push$", "POST")) == 1


# -- the emulator ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra_data", "status"),
    [
        ({"billing_address": {"country": "PRT"}, "profile": {}}, 200),
        ({"profile": {"phone": {"number": "912345678", "prefix": "351"}}}, 200),
        ({"billing_address": {"country": "PT"}}, 400),
        ({"shipping_address": {"country": "prt"}}, 400),
        ({"profile": {"phone": {"number": "912345678"}}}, 400),
        ({"profile": {"phone": {"number": "+351 912345678", "prefix": "351"}}}, 400),
        ({"profile": {"phone": {"number": "912345678", "prefix": "+351"}}}, 400),
    ],
)
def test_emulator_refuses_two_letter_countries_and_unsplit_phones(
    router: EmulatorRouter, extra_data: dict[str, Any], status: int
) -> None:
    body = {
        "amount": 100,
        "operative": "AUTHORIZATION",
        "service": "B1F13B01-BA97-491C-BBDE-1C18988BD229",
        "customer_ext_id": "c",
        "description": "d",
        "url_ok": "http://x/",
        "url_ko": "http://x/",
        "url_post": "http://x/n",
        "signature": "paylands-signature-one",
        "extra_data": extra_data,
    }
    response = router.client.post(
        "/sandbox/paylands/payment",
        body,
        content_type="application/json",
        headers={"Authorization": "Bearer paylands-api-key-one"},
    )
    assert response.status_code == status


# -- the profile's phone: Portuguese, Spanish and other numbers ------------------------------------


def in_digits(text: str, zero: int) -> str:
    """``text`` with its ASCII digits in another script's (Bangla from U+09E6, Arabic-Indic
    from U+0660), as customers with those keyboards type them."""
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)


# docs.paylands.com, "MB WAY" (the manual's picture of it): "phone": {"number": "655655655",
# "prefix": "351"}: the calling code without "+" or "00", the national number, digits only.
PHONES = [
    pytest.param("+351 912 345 678", "BD", None, "912345678", "351", id="portuguese"),
    pytest.param("912 345 678", "PT", None, "912345678", "351", id="portuguese-national"),
    pytest.param("+34 612 34 56 78", "BD", None, "612345678", "34", id="spanish"),
    pytest.param("0034 612-345-678", "PT", None, "612345678", "34", id="spanish-00"),
    pytest.param("612 345 678", "ES", None, "612345678", "34", id="spanish-national"),
    pytest.param("+39 06 1234 5678", "PT", None, "0612345678", "39", id="italian-keeps-its-0"),
    pytest.param(
        in_digits("+880 1712-345678", 0x09E6), "PT", None, "1712345678", "880", id="bangla-digits"
    ),
    pytest.param(
        in_digits("+971 50 123 4567", 0x0660), "PT", None, "501234567", "971", id="arabic-indic"
    ),
    # phone_prefix: the country of a number written without its own code, before the
    # billing address's; never over a code the number carries.
    pytest.param("612 345 678", "PT", "34", "612345678", "34", id="prefix-over-billing"),
    pytest.param("912345678", "BD", "+351", "912345678", "351", id="prefix-with-plus"),
    pytest.param("+34 612345678", "PT", "351", "612345678", "34", id="own-code-over-prefix"),
    pytest.param("612 345 678", "ES", "999", "612345678", "34", id="unknown-prefix-billing"),
]


@pytest.mark.parametrize(("typed", "country", "phone_prefix", "number", "prefix"), PHONES)
def test_profile_phone_is_prefix_and_number_in_digits(
    router: EmulatorRouter,
    settings: Any,
    typed: str,
    country: str,
    phone_prefix: str | None,
    number: str,
    prefix: str,
) -> None:
    if phone_prefix is not None:
        with_options(settings, phone_prefix=phone_prefix)
    address = {"line1": "Rua A 1", "city": "Lisboa", "country": country}
    order = make_order(customer_phone=typed, billing_address=address, shipping_address={})
    payments.start_payment(order, "paylands")
    phone = sent_extra_data(router)["profile"]["phone"]
    assert phone == {"number": number, "prefix": prefix}
    assert all(isinstance(v, str) and v.isascii() and v.isdigit() for v in phone.values())
    # The emulator took it (it refuses a "+", separators or a missing part: see below).
    assert Invoice.objects.get(order=order).status == InvoiceStatus.PENDING


def test_mbway_push_with_a_spanish_number_is_pushed(router: EmulatorRouter) -> None:
    order = make_order(customer_phone="+34 612 34 56 78", customer_name="Lucía Pérez")
    payments.start_payment(order, "paylands", options={"apm": "MBWAY", "push": True})
    assert sent_extra_data(router)["profile"] == {
        "first_name": "Lucía",
        "last_name": "Pérez",
        "email": order.customer_email,
        "phone": {"number": "612345678", "prefix": "34"},
    }
    assert len(router.requests_to(r"/payment/push$", "POST")) == 1
    assert Invoice.objects.get(order=order).status == InvoiceStatus.PENDING
