"""Postpay with customers' names in any script: the JSON on the wire, and webhooks signed over
non-ASCII bytes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_multipay import payments, processing
from django_multipay.gateways.postpay import SIGNATURE_HEADER, PostpayGateway, verify_signature
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox import postpay as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.router import EmulatorRouter

ALIAS = "postpay"
MERCHANT = "id_postpay_test_one"
HOOK_SECRET = "postpay-hook-secret-one"
NOTIFY_URL = "http://testserver/payments/notify/postpay/"

#: Accents, Bangla, Arabic, and a "/" (which JSON may, but Python's encoder does not, escape).
NAMES = {
    "accents": ("José Núñez", "Jos\\u00e9", "N\\u00fa\\u00f1ez"),
    "bangla": (
        "রহিম উদ্দিন",
        "\\u09b0\\u09b9\\u09bf\\u09ae",
        "\\u0989\\u09a6\\u09cd\\u09a6\\u09bf\\u09a8",
    ),
    "arabic": ("محمد علي", "\\u0645\\u062d\\u0645\\u062f", "\\u0639\\u0644\\u064a"),
    "slash": ("A/B Traders", "A/B", "Traders"),
}


def gateway() -> PostpayGateway:
    found = get_gateway(ALIAS)
    assert isinstance(found, PostpayGateway)
    return found


def order_for(name: str) -> Order:
    address = {
        "name": name,
        "phone": "+971 50 199 8853",
        "line1": f"{name}, Sheikh Zayed Road",
        "city": "دبي",
        "country": "AE",
    }
    return payments.create_order(
        reference=f"u-{abs(hash(name))}",
        amount=Decimal("100.00"),
        currency="AED",
        customer_name=name,
        customer_email="buyer@example.ae",
        billing_address=address,
        shipping_address=address,
        items=[
            {
                "reference": "sku/1",
                "name": f"{name} — عطر",
                "description": "Eau de parfum (50ml) · 香水",
                "url": "https://www.example.ae/wild-flower.html",
                "unit_price": Decimal("100.00"),
                "quantity": 1,
            }
        ],
    )


@pytest.mark.parametrize("script", list(NAMES))
def test_names_travel_as_json_escapes_and_come_back_equal(
    router: EmulatorRouter, script: str
) -> None:
    name, first, last = NAMES[script]
    order = order_for(name)
    payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    [request] = router.requests_to("checkouts$", "POST")
    assert request.headers["Content-Type"] == "application/json"
    body = request.body
    assert isinstance(body, bytes)
    # JSON with every non-ASCII character as a \u escape (so the bytes are ASCII, and
    # valid UTF-8 whatever charset the reader assumes); "/" as it is.
    assert max(body) < 0x80
    assert f'"first_name": "{first}", "last_name": "{last}"'.encode() in body
    assert b'"city": "\\u062f\\u0628\\u064a"' in body
    assert b'"reference": "sku/1"' in body
    # Decoded, it is what the shop wrote.
    sent = json.loads(body)
    assert sent["billing_address"]["line1"] == f"{name}, Sheikh Zayed Road"
    assert sent["items"][0]["name"] == f"{name} — عطر"
    assert " ".join((sent["customer"]["first_name"], sent["customer"]["last_name"])) == name
    # What the emulator kept, read back through the backend ("Get single order").
    kept = gateway().get_order(invoice).raw
    assert kept["shipping"]["address"]["first_name"] == json.loads(f'"{first}"')
    assert kept["billing_address"]["line1"] == f"{name}, Sheikh Zayed Road"
    assert kept["items"][0]["description"] == "Eau de parfum (50ml) · 香水"


def sign(body: bytes, stamp: int) -> str:
    """The signature computed here, over the body's bytes (not the backend's code)."""
    digest = hmac.new(HOOK_SECRET.encode(), f"{stamp}:".encode() + body, hashlib.sha256)
    return f"{stamp}:{digest.hexdigest()}"


def send(body: bytes, header: str) -> Any:
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": ALIAS}),
        data=body,
        content_type="application/json",
        headers={SIGNATURE_HEADER: header},
    )


def test_signature_over_a_non_ascii_body_is_over_its_utf8_bytes() -> None:
    text = {"id": "evt_1", "data": {"description": "Devolución — রহিম / محمد"}}
    raw = json.dumps(text, ensure_ascii=False).encode("utf-8")
    escaped = json.dumps(text).encode("ascii")
    assert raw != escaped
    assert json.loads(raw) == json.loads(escaped)
    header = sign(raw, 1588900000)
    verify_signature(HOOK_SECRET, header, raw, now=1588900000)
    verify_signature(HOOK_SECRET, f'"{header}"', raw, now=1588900000)
    # The same JSON written with escapes is other bytes: the signature does not cover it.
    with pytest.raises(Exception, match="signature does not match"):
        verify_signature(HOOK_SECRET, header, escaped, now=1588900000)


def paid(router: EmulatorRouter, name: str) -> Invoice:
    order = order_for(name)
    payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    back = router.client.post(invoice.redirect_url, {"outcome": "approve"})
    router.client.get(back["Location"])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice


@pytest.mark.parametrize("quoted", [False, True])
def test_webhook_with_non_ascii_bytes_verifies_end_to_end(
    router: EmulatorRouter, quoted: bool
) -> None:
    """A refund's description reaches the refund transaction's webhook as UTF-8 bytes; the
    emulator signs those bytes and the shop verifies them and settles the refund."""
    invoice = paid(router, "José Núñez")
    gateway().create_hook(url=NOTIFY_URL, secret=HOOK_SECRET, events=["transaction"])
    emulator.set_signature_quoting(quoted)
    reason = "Devolución: রহিম উদ্দিন / محمد علي"
    refund, _ = processing.reserve_refund(invoice.pk, Decimal("40.00"), reason=reason)
    result = gateway().refund(refund)
    assert result.status == RefundStatus.SUCCEEDED
    [create] = router.requests_to(rf"orders/{invoice.pk}/refunds$", "POST")
    assert json.loads(create.body)["description"] == reason
    [delivery] = router.requests_to("notify/postpay/$", "POST")
    body = delivery.body
    assert isinstance(body, bytes)
    assert reason.encode("utf-8") in body  # raw UTF-8, not \u escapes
    header = delivery.headers[SIGNATURE_HEADER]
    assert header.startswith('"') is quoted
    stamp = int(header.strip('"').partition(":")[0])
    assert header.strip('"') == sign(body, stamp)
    stored = Notification.objects.get(gateway=ALIAS)
    assert (stored.verified, stored.result) == (True, NotificationResult.PROCESSED)
    assert reason in stored.body
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.SUCCEEDED
    with store.table("postpay.transactions") as table:
        assert table[MERCHANT][-1]["description"] == reason


def test_non_ascii_webhook_altered_in_transit_is_rejected(router: EmulatorRouter) -> None:
    invoice = paid(router, "محمد علي")
    with store.table("postpay.transactions") as table:
        transaction = dict(table[MERCHANT][-1])
    event = emulator.event_for("transaction", {**transaction, "description": "José"})
    body = emulator.webhook_body(event)
    assert "José".encode() in body
    now = int(time.time())
    # Re-encoded with escapes: the same JSON, other bytes.
    escaped = json.dumps(json.loads(body)).encode()
    response = send(escaped, sign(body, now))
    assert response.status_code == 400
    assert Notification.objects.get(gateway=ALIAS).reason == "signature does not match"
    accepted = send(body, sign(body, now))
    assert accepted.status_code == 200, accepted.content
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
