"""PortPos with customers' names, products and phones in any script, on the wire and back."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from django_multipay import payments
from django_multipay.exceptions import InvalidRequest
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portpos as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory, OrderItemFactory
from django_multipay.testing.router import EmulatorRouter

NAMES = [
    pytest.param("José Núñez", id="accents"),
    pytest.param("রহিম উদ্দিন", id="bangla"),
    pytest.param("محمد علي", id="arabic"),
    pytest.param("A/B Traders", id="slash"),
]
ADDRESS = {
    "line1": "বাড়ি ১২, রোড ৩/এ",
    "city": "ঢাকা",
    "state": "ঢাকা",
    "postal_code": "1207",
    "country": "BD",
}


def make_order(**fields: Any) -> Order:
    fields = {"currency": "BDT", "billing_address": ADDRESS, "shipping_address": {}, **fields}
    order = OrderFactory(**fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def sent(router: EmulatorRouter) -> tuple[bytes, dict[str, Any]]:
    call = router.requests_to(r"/portpos/invoice$", "POST")[-1]
    raw = call.body if isinstance(call.body, bytes) else str(call.body).encode()
    return raw, json.loads(raw)


def emulated(invoice: Invoice) -> dict[str, Any]:
    with store.table(emulator.TABLE) as invoices:
        found = invoices[invoice.gateway_id]
    assert isinstance(found, dict)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_names_and_products_in_any_script_reach_portpos_intact(
    router: EmulatorRouter, name: str
) -> None:
    order = make_order(customer_name=name, description="")
    OrderItemFactory(order=order, name=f"চা পাতা ½ kg for {name}", quantity=2)
    payments.start_payment(order, "portpos")
    invoice = Invoice.objects.get(order=order)
    raw, body = sent(router)
    # JSON with \uXXXX escapes: plain ASCII on the wire.
    assert raw.isascii()
    for part in ("billing", "shipping"):
        customer = body[part]["customer"]
        assert customer["name"] == name
        assert customer["address"] == {
            "street": "বাড়ি ১২, রোড ৩/এ",
            "city": "ঢাকা",
            "state": "ঢাকা",
            "zipcode": "1207",
            "country": "BD",
        }
    assert body["product"] == {
        "name": f"চা পাতা ½ kg for {name}",
        "description": f"2 x চা পাতা ½ kg for {name}",
    }
    assert invoice.status == InvoiceStatus.PENDING
    # PortPos keeps them as sent, and Retrieving an invoice reads them back unchanged.
    assert emulated(invoice)["billing"]["customer"]["name"] == name
    status = get_gateway("portpos").fetch_status(invoice)
    assert (status.status, status.amount, status.currency) == (
        InvoiceStatus.PENDING,
        Decimal("100.00"),
        "BDT",
    )
    assert status.raw["billing"]["customer"]["name"] == name
    assert status.raw["product"]["name"] == f"চা পাতা ½ kg for {name}"


def test_name_limits_count_characters_not_bytes(router: EmulatorRouter) -> None:
    # "billing.customer.name": 2 to 50; fifty Bangla letters are 150 bytes of UTF-8.
    fifty = ("রহিম উদ্দিন " * 5)[:50]
    assert len(fifty) == 50
    assert len(fifty.encode()) > 100
    payments.start_payment(make_order(customer_name=fifty), "portpos")
    assert sent(router)[1]["billing"]["customer"]["name"] == fifty
    order = make_order(customer_name=fifty + "ক")
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portpos")
    assert set(caught.value.fields) == {"billing.customer.name", "shipping.customer.name"}
    assert len(router.requests_to(r"/portpos/invoice$", "POST")) == 1


#: Where the digits zero to nine start in Unicode: Bangla and Arabic-Indic.
BANGLA, ARABIC_INDIC = 0x09E6, 0x0660


def in_digits(text: str, zero: int) -> str:
    """``text`` with its ASCII digits written in another script's digits."""
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)


@pytest.mark.parametrize(
    ("typed", "wire"),
    [
        (in_digits("+880 1711-000000", BANGLA), "+8801711000000"),
        (in_digits("01711 000000", BANGLA), "01711000000"),
        (in_digits("01711000000", ARABIC_INDIC), "01711000000"),
        ("+880 1711-000000", "+8801711000000"),
    ],
    ids=["bangla-international", "bangla-national", "arabic-indic", "ascii"],
)
def test_phones_typed_in_bangla_or_arabic_digits_go_out_in_ascii_digits(
    router: EmulatorRouter, typed: str, wire: str
) -> None:
    order = make_order(customer_phone=typed)
    payments.start_payment(order, "portpos")
    body = sent(router)[1]
    # "billing.customer.phone": a valid phone number of 9 to 15 characters.
    assert body["billing"]["customer"]["phone"] == wire
    assert body["shipping"]["customer"]["phone"] == wire
    assert Invoice.objects.get(order=order).status == InvoiceStatus.PENDING
