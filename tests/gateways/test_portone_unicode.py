"""PortOne with customers' names in any script: the JSON bytes we send, and signatures."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from django_multipay import payments
from django_multipay.gateways import portone_signing as signing
from django_multipay.gateways.portone import dumps
from django_multipay.models import Invoice, Notification, Order, OrderItem
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

SECRET = "portone-secret-key-one-0123456789abcdef0123"

#: Each name, its first and last part as PortOne's billing_name and billing_surname take them,
#: and both as our JSON writes them (ASCII, \\u escapes: any JSON reader reads them back).
NAMES = [
    ("José Núñez", "José", "Núñez", rb'"Jos\u00e9"', rb'"N\u00fa\u00f1ez"'),
    (
        "রহিম উদ্দিন",
        "রহিম",
        "উদ্দিন",
        rb'"\u09b0\u09b9\u09bf\u09ae"',
        rb'"\u0989\u09a6\u09cd\u09a6\u09bf\u09a8"',
    ),
    ("محمد علي", "محمد", "علي", rb'"\u0645\u062d\u0645\u062f"', rb'"\u0639\u0644\u064a"'),
    ("A/B Traders", "A/B", "Traders", rb'"A/B"', rb'"Traders"'),
]


def order_for(name: str) -> Order:
    order = OrderFactory(
        amount=Decimal("100.50"),
        currency="EUR",
        customer_name=name,
        description=f"Order of {name}",
        billing_address={"name": name, "line1": f"{name} House", "city": "ঢাকা", "country": "BD"},
        shipping_address={"name": name, "country": "BD"},
    )
    OrderItem.objects.create(
        order=order, reference="TEA", name=f"Tea for {name}", quantity=1, unit_price=order.amount
    )
    assert isinstance(order, Order)
    return order


@pytest.mark.parametrize(("name", "first", "last", "first_json", "last_json"), NAMES)
def test_a_channel_payment_sends_the_name_and_its_signature_verifies(
    router: EmulatorRouter,
    db: Any,
    name: str,
    first: str,
    last: str,
    first_json: bytes,
    last_json: bytes,
) -> None:
    invoice, _action = payments.begin_payment(order_for(name), "portone")

    (call,) = router.requests_to(r"/api/initiatePayment$", "POST")
    raw = call.body
    assert isinstance(raw, bytes)
    assert raw.isascii()  # every character outside ASCII escaped
    assert b'"billing_name":' + first_json + b',"billing_surname":' + last_json in raw
    assert b'"shipping_name":' + first_json + b',"shipping_surname":' + last_json in raw
    assert json.loads(raw) == json.loads(dumps(json.loads(raw)))  # what we wrote reads back
    body = json.loads(raw)
    assert (
        body["billing_details"]["billing_name"],
        body["billing_details"]["billing_surname"],
    ) == (
        first,
        last,
    )
    assert body["billing_details"]["billing_address"]["line_1"] == f"{name} House"
    assert body["order_details"][0]["name"] == f"Tea for {name}"
    # The emulator checked signature_hash with its own signing code and took the payment:
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.gateway_id
    details = get_gateway("portone").transaction_details(invoice.gateway_id)
    assert details["buyer_name"] == f"{first} {last}"
    assert details["buyer_city"] == "ঢাকা"
    assert details["description"] == f"Order of {name}"


@pytest.mark.parametrize(("name", "first", "last", "first_json", "last_json"), NAMES)
def test_a_payment_link_sends_the_name_and_its_signature_verifies(
    router: EmulatorRouter,
    db: Any,
    name: str,
    first: str,
    last: str,
    first_json: bytes,
    last_json: bytes,
) -> None:
    invoice, _action = payments.begin_payment(order_for(name), "portone-link")
    (call,) = router.requests_to(r"/api/paymentLink$", "POST")
    assert isinstance(call.body, bytes)
    assert b'"billing_name":' + first_json in call.body
    assert b'"description":"Order of ' in call.body
    assert invoice.status == InvoiceStatus.PENDING
    with store.table(emulator.LINKS) as table:
        kept = table[invoice.gateway_id]["data"]
    assert kept["billing_details"]["billing_surname"] == last


@pytest.mark.parametrize(("name", "_first", "_last", "_fj", "_lj"), NAMES)
def test_a_webhook_signed_over_a_name_verifies(
    router: EmulatorRouter, db: Any, name: str, _first: str, _last: str, _fj: bytes, _lj: bytes
) -> None:
    """``method_name`` is a signed field and holds what the channel calls itself: the
    emulator signs it with its own code, the backend checks it with its own."""
    invoice, _action = payments.begin_payment(order_for(name), "portone")
    with store.table(emulator.TRANSACTIONS) as table:
        txn = table[invoice.gateway_id]
        txn["method_name"] = f"{name} Wallet"
        emulator.settle(txn, "success")
        body = dumps(emulator.webhook_for(txn, SECRET)).encode()
    answer = Client().post("/payments/notify/portone/", body, content_type="application/json")
    assert answer.status_code == 200, answer.content
    stored = Notification.objects.get(gateway="portone")
    assert (stored.verified, stored.result) == (True, NotificationResult.PROCESSED)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    tampered = body.replace(b"Wallet", b"Wallat")
    refused = Client().post("/payments/notify/portone/", tampered, content_type="application/json")
    assert refused.status_code == 400


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("José Núñez", "Jos%C3%A9+N%C3%BA%C3%B1ez"),
        (
            "রহিম উদ্দিন",
            "%E0%A6%B0%E0%A6%B9%E0%A6%BF%E0%A6%AE+"
            "%E0%A6%89%E0%A6%A6%E0%A7%8D%E0%A6%A6%E0%A6%BF%E0%A6%A8",
        ),
        ("محمد علي", "%D9%85%D8%AD%D9%85%D8%AF+%D8%B9%D9%84%D9%8A"),
        ("A/B Traders", "A%2FB+Traders"),
    ],
)
def test_both_signers_write_a_name_as_go_does_and_agree(value: str, encoded: str) -> None:
    """UTF-8 bytes as upper-case ``%XX``, space as ``+``, ``/`` as ``%2F`` (Go's
    ``url.QueryEscape``): the backend's signer and the emulator's, written apart, agree."""
    values = {"merchant_order_ref": value, "status": "Success"}
    fields = ("status", "merchant_order_ref")
    assert signing.signature_message(values, fields) == (
        f"merchant_order_ref={encoded}&status=Success"
    )
    assert signing.sign(SECRET, values, fields) == emulator.signature(SECRET, values, fields)
