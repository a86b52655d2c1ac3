"""PortWallet (API v1) with customers' names in any script: UTF-8 percent-encoding on the wire."""

from __future__ import annotations

import hashlib
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
from django.test import Client

from django_multipay import payments
from django_multipay.exceptions import InvalidRequest
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox.store import store
from django_multipay.testing.factories import OrderFactory, OrderItemFactory
from django_multipay.testing.router import EmulatorRouter

APP_KEY = "9c41cf8bce319cc6300cc2c4e9ef7c8f"
SECRET = "portwallet-test-secret"
FORM = "application/x-www-form-urlencoded"

#: Accents, Bangla, Arabic, and a "/" (which a form body must percent-encode).
NAMES = {
    "accents": "José Núñez",
    "bangla": "রহিম উদ্দিন",
    "arabic": "محمد علي",
    "slash": "A/B Traders",
}
#: The same names as the bytes of an application/x-www-form-urlencoded value, written out.
ON_THE_WIRE = {
    "accents": "Jos%C3%A9+N%C3%BA%C3%B1ez",
    "bangla": "%E0%A6%B0%E0%A6%B9%E0%A6%BF%E0%A6%AE+"
    "%E0%A6%89%E0%A6%A6%E0%A7%8D%E0%A6%A6%E0%A6%BF%E0%A6%A8",
    "arabic": "%D9%85%D8%AD%D9%85%D8%AF+%D8%B9%D9%84%D9%8A",
    "slash": "A%2FB+Traders",
}


def form_value(text: str) -> str:
    """WHATWG form encoding of ``text``, byte by byte of its UTF-8 (not via urllib)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if byte < 0x80 and (char.isalnum() or char in "-._~"):
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def test_the_written_out_bytes_are_utf8_form_encoding() -> None:
    assert {key: form_value(name) for key, name in NAMES.items()} == ON_THE_WIRE


def order_for(name: str) -> Order:
    order = OrderFactory(
        currency="BDT",
        amount=Decimal("100.00"),
        description="",
        customer_name=name,
        customer_phone="+8801712345678",
        billing_address={
            "name": name,
            "line1": f"{name}, Road 1",
            "city": "Dhaka",
            "postal_code": "1212",
            "country": "BD",
        },
        shipping_address={
            "name": name,
            "line1": "House 1/A",
            "city": "Chattogram",
            "postal_code": "4000",
            "country": "BD",
        },
    )
    OrderItemFactory(order=order, name=name, quantity=1, unit_price=Decimal("100.00"))
    assert isinstance(order, Order)
    return order


def raw_body(request: Any) -> bytes:
    body = request.body
    return body.encode("ascii") if isinstance(body, str) else bytes(body)


@pytest.mark.parametrize("script", list(NAMES))
def test_names_travel_percent_encoded_and_come_back_equal(
    router: EmulatorRouter, script: str
) -> None:
    name, wire = NAMES[script], ON_THE_WIRE[script]
    order = order_for(name)
    payments.start_payment(order, "portwallet")
    invoice = Invoice.objects.get(order=order)
    [call] = router.requests_to(r"^/sandbox/portwallet/$", "POST")
    assert call.headers["Content-Type"] == FORM
    body = raw_body(call)
    # Nothing but ASCII on the wire: every other byte is percent-encoded UTF-8.
    assert max(body) < 0x80
    pairs = body.decode("ascii").split("&")
    for field in ("name", "ship_to_name"):
        assert f"{field}={wire}" in pairs
    assert f"product_name=1x+{wire}" in pairs
    assert f"address={wire}%2C+Road+1" in pairs
    assert "ship_to_address=House+1%2FA" in pairs
    # What the emulator decoded is what the shop wrote, character for character.
    with store.table("portwallet.invoices") as table:
        kept = dict(table[invoice.gateway_id])
    assert (kept["name"], kept["ship_to_name"]) == (name, name)
    assert kept["product_name"] == f"1x {name}"
    assert kept["address"] == f"{name}, Road 1"
    assert kept["ship_to_address"] == "House 1/A"
    # And back through a JSON answer: get_invoice's buyer_name, as the backend reads it.
    read = get_gateway("portwallet").fetch_status(invoice)
    [asked] = router.requests_to(r"^/sandbox/portwallet/$", "POST")[1:]
    assert "call=get_invoice" in raw_body(asked).decode("ascii").split("&")
    assert read.raw["data"]["buyer_name"] == name
    assert read.raw["data"]["product_name"] == f"1x {name}"


def signed_form(**fields: str) -> dict[str, str]:
    now = int(time.time())
    token = hashlib.md5(f"{SECRET}{now}".encode()).hexdigest()
    return {"app_key": APP_KEY, "timestamp": str(now), "token": token, **fields}


def gen_invoice_form(name: str) -> dict[str, str]:
    return signed_form(
        call="gen_invoice",
        amount="100.00",
        currency="BDT",
        product_name="1x Polo T-shirt",
        product_description="1x Polo T-shirt",
        name=name,
        email="test@example.com",
        phone="+880123456789",
        address="House 1, Road1, Gulshan 1",
        city="Dhaka",
        state="Dhaka",
        zipcode="1212",
        country="BD",
        redirect_url="http://www.yoursite.com",
    )


def post_form(fields: dict[str, str]) -> Any:
    """POST the fields as the percent-encoded UTF-8 bytes of a form, written out by hand."""
    body = "&".join(f"{form_value(k)}={form_value(v)}" for k, v in fields.items())
    return Client().post("/sandbox/portwallet/", data=body.encode("ascii"), content_type=FORM)


@pytest.mark.django_db
def test_emulator_counts_characters_not_bytes() -> None:
    """ "Character limit (Max): 50 char": 50 characters of Bangla are about three times as
    many bytes of UTF-8 (and nine times as many once percent-encoded), and still 50."""
    fifty = ("রহিম উদ্দিন " * 5)[:50]
    assert len(fifty) == 50
    assert len(fifty.encode()) > 120
    accepted = post_form(gen_invoice_form(fifty)).json()
    assert accepted["status"] == 200, accepted
    assert accepted["data"]["name"] == fifty
    refused = post_form(gen_invoice_form(fifty + "ন")).json()
    assert refused["status"] == 400
    assert refused["message"] == {"name": "name must be at most 50 characters"}
    store.reset()


def test_backend_counts_characters_not_bytes(router: EmulatorRouter) -> None:
    fifty = "ম" * 50
    payments.start_payment(order_for(fifty), "portwallet")
    [call] = router.requests_to(r"^/sandbox/portwallet/$", "POST")
    assert dict(parse_qsl(raw_body(call).decode("ascii")))["name"] == fifty
    too_long = order_for("ম" * 51)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(too_long, "portwallet")
    assert caught.value.fields["name"] == "is 51 characters; at most 50"
    assert len(router.requests_to(r"^/sandbox/portwallet/$", "POST")) == 1
