"""PortWallet (API v1) customer data on the wire: phone numbers and country codes."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest

from django_multipay import payments
from django_multipay.exceptions import InvalidRequest
from django_multipay.models import Invoice, Order
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

DHAKA = {"line1": "House 1, Road 1", "city": "Dhaka", "postal_code": "1212", "country": "BD"}


def make_order(**fields: Any) -> Order:
    fields.setdefault("billing_address", dict(DHAKA))
    fields.setdefault("shipping_address", {})
    order = OrderFactory(currency="BDT", amount=Decimal("100.00"), **fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def gen_invoice_form(router: EmulatorRouter) -> dict[str, str]:
    """The form of the one ``gen_invoice`` call the backend made."""
    calls = [
        dict(parse_qsl(body if isinstance(body, str) else body.decode()))
        for body in (r.body or b"" for r in router.requests_to(r"/portwallet/", "POST"))
    ]
    [form] = [c for c in calls if c.get("call") == "gen_invoice"]
    return form


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("+8801712345678", "+8801712345678"),
        ("+880 1712-345678", "+8801712345678"),
        ("+880 17 1234 5678", "+8801712345678"),
        ("008801712345678", "+8801712345678"),
        # National forms, read as Bangladeshi numbers (the billing address is in Bangladesh).
        ("01712345678", "+8801712345678"),
        ("01712-345678", "+8801712345678"),
        ("(017) 1234-5678", "+8801712345678"),
        # The document's own example (Create Invoice, "phone").
        ("+880123456789", "+880123456789"),
    ],
)
def test_phone_is_sent_in_international_form(router: EmulatorRouter, typed: str, sent: str) -> None:
    payments.start_payment(make_order(customer_phone=typed), "portwallet")
    assert gen_invoice_form(router)["phone"] == sent
    assert len(sent) <= 15


def test_national_phone_follows_the_billing_country(router: EmulatorRouter) -> None:
    address = {**DHAKA, "city": "Kolkata", "country": "IND"}
    payments.start_payment(
        make_order(customer_phone="098765 43210", billing_address=address), "portwallet"
    )
    assert gen_invoice_form(router)["phone"] == "+919876543210"


def test_national_phone_without_billing_country_is_bangladeshi(
    router: EmulatorRouter, settings: Any
) -> None:
    # PortWallet takes only BDT: a number without country code is read as Bangladeshi.
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portwallet"]["OPTIONS"]["defaults"] = {"country": "BGD"}
    settings.MULTIPAY = config
    address = {k: v for k, v in DHAKA.items() if k != "country"}
    payments.start_payment(
        make_order(customer_phone="01712345678", billing_address=address), "portwallet"
    )
    form = gen_invoice_form(router)
    assert (form["phone"], form["country"]) == ("+8801712345678", "BGD")


def test_shipping_phone_is_normalised_too(router: EmulatorRouter) -> None:
    shipping = {**DHAKA, "name": "Robbie Amell", "phone": "017-1100-0001"}
    payments.start_payment(
        make_order(customer_phone="+8801712345678", shipping_address=shipping), "portwallet"
    )
    form = gen_invoice_form(router)
    assert form["phone"] == "+8801712345678"
    assert form["ship_to_phone"] == "+8801711000001"


@pytest.mark.parametrize("typed", ["123", "phone me", "+880 1"])
def test_unusable_phone_is_refused_before_any_call(router: EmulatorRouter, typed: str) -> None:
    order = make_order(customer_phone=typed)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portwallet")
    # Create Invoice: "phone (required)": nothing is sent without one PortWallet can use.
    assert list(caught.value.fields) == ["phone"]
    assert typed not in str(caught.value)
    assert router.calls == []
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.FAILED
    assert "phone" in invoice.failure_reason


def test_unusable_shipping_phone_is_refused(router: EmulatorRouter) -> None:
    shipping = {**DHAKA, "phone": "12"}
    order = make_order(customer_phone="+8801712345678", shipping_address=shipping)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portwallet")
    assert list(caught.value.fields) == ["ship_to_phone"]
    assert router.calls == []


@pytest.mark.parametrize(("country", "sent"), [("bd", "BD"), ("BGD", "BGD"), ("ss", "SS")])
def test_iso_countries_are_sent_as_given(router: EmulatorRouter, country: str, sent: str) -> None:
    # "It is 2 or 3 digit iso code": both forms are accepted.
    payments.start_payment(
        make_order(customer_phone="+8801712345678", billing_address={**DHAKA, "country": country}),
        "portwallet",
    )
    assert gen_invoice_form(router)["country"] == sent


@pytest.mark.parametrize("country", ["XX", "ZZZ", "BDX"])
def test_unknown_country_codes_are_refused(router: EmulatorRouter, country: str) -> None:
    order = make_order(
        customer_phone="+8801712345678",
        billing_address={**DHAKA, "country": country},
        shipping_address={**DHAKA, "country": country},
    )
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portwallet")
    assert caught.value.fields == {
        "country": "must be an ISO 3166-1 alpha-2 or alpha-3 country code",
        "ship_to_country": "must be an ISO 3166-1 alpha-2 or alpha-3 country code",
    }
    assert router.calls == []
