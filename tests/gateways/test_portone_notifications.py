"""PortOne notifications: webhook and redirect signatures against the examples in PortOne's own
documents and over names in any script, and webhooks where they are registered."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client

from django_multipay import payments
from django_multipay.exceptions import (
    NotificationRejected,
)
from django_multipay.gateways import portone_signing as signing
from django_multipay.gateways.portone import (
    PortOneGateway,
    dumps,
)
from django_multipay.gateways.results import InboundRequest
from django_multipay.models import Invoice, Notification, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.contracts.attacks import STATE_SIGNALS, state
from tests.gateways.test_portone import SECRET, start, transaction, webhook
from tests.gateways.test_portone_wire import DOC_SECRET, NAMES, order_for

# payment-webhook.md sample body (the fields the signature covers).
WEBHOOK = {
    "currency": "USD",
    "amount": "500",
    "order_ref": "2mbbExY77pp8iC0AQ1ucWymnd3c",
    "channel_order_ref": "20240926HULUNYGP6MA2",
    "merchant_order_ref": "2mbbDi9wX3wAgLUDCnRMbQwkwZm_1",
    "country_code": "US",
    "status": "Success",
    "channel_key": "PAYLETTER",
    "method_name": "Payletter Credit Card",
}


def test_webhook_message_writes_spaces_as_plus() -> None:
    message = signing.signature_message(WEBHOOK, signing.PAYMENT_WEBHOOK_FIELDS)
    assert message == (
        "amount=500&channel_key=PAYLETTER&channel_order_ref=20240926HULUNYGP6MA2"
        "&country_code=US&currency=USD&merchant_order_ref=2mbbDi9wX3wAgLUDCnRMbQwkwZm_1"
        "&method_name=Payletter+Credit+Card&order_ref=2mbbExY77pp8iC0AQ1ucWymnd3c&status=Success"
    )
    assert "%20" not in message
    assert (
        signing.sign(DOC_SECRET, WEBHOOK, signing.PAYMENT_WEBHOOK_FIELDS)
        == "9GdylKjsybenuq2jDOv1vMxpDJHhUDbfKGcB6px5mUs="
    )


def test_redirect_signature() -> None:
    # payment-openapi "Get Transaction Status" example refs, as a redirect query.
    query = {
        "channel_order_ref": "6G457114F4645741R",
        "merchant_order_ref": "MERCHANT1647433108462",
        "order_ref": "2YGZp22ExeOu0As61wa7i0JyMJn",
        "status": "Expired",
        "amount": "ignored",  # not a signed field
    }
    assert (
        signing.sign(DOC_SECRET, query, signing.REDIRECT_FIELDS)
        == "PYl5I99q4c+q8zZ06biyHrnk4rGj6AL832YvzyDKxtU="
    )


# ------------------------------------------------------------------------------------------------
# PortOne's merchant calls: remote tokens, signatures, webhooks, PSP credentials, COD status.


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_payments_are_notified_where_the_webhook_is_registered(
    router: EmulatorRouter, portone_order: Order
) -> None:
    gateway = get_gateway("portone")
    gateway.create_webhook(
        name="audit",
        url="http://testserver/payments/notify/portone/?via=hook",
        type="payment_status",
    )
    invoice, _action = payments.begin_payment(portone_order, "portone")
    router.client.post(f"/sandbox/portone/pay/{invoice.gateway_id}", {"outcome": "success"})
    (delivered,) = router.requests_to(r"/payments/notify/portone/$", "POST")
    assert delivered.url.endswith("?via=hook")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


# ------------------------------------------------------------------------------------------------
# PortOne with customers' names in any script: the JSON bytes we send, and signatures.


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


# ------------------------------------------------------------------------------------------------
# PortOne on the wire: each call's method, path, headers and body, and each error's mapping;
# tokens and request signatures against PortOne's documents; the merchant calls, payment links,
# the transactions listing, per-payment options and names in any script.


def test_notification_errors(db) -> None:
    gateway = get_gateway("portone")

    def inbound(body: bytes) -> InboundRequest:
        return InboundRequest("POST", "/", {"content-type": "application/json"}, body)

    for body, code in (
        (b"[]", "malformed"),
        (b'{"amount": 1}', "malformed"),
        (b'{"amount": 1, "currency": "EUR", "status": "Success"}', "signature"),
    ):
        with pytest.raises(NotificationRejected) as caught:
            gateway.parse_notification(inbound(body))
        assert caught.value.code == code


def test_payment_link_webhook_is_checked_over_its_own_fields(db) -> None:
    from django_multipay.gateways import portone_signing as signing
    from django_multipay.gateways.portone import dumps

    gateway = get_gateway("portone-link")
    secret = "portone-secret-key-three-0123456789abcdef0123"
    body = {
        "amount": Decimal("140000"),
        "country_code": "VN",
        "currency": "VND",
        "link_ref": "2BEemUknaImTq5ljmoNQQV2tSll",
        "merchant_order_ref": "3f1c2b9e-0000-4000-8000-000000000001",
        "status": "Success",
    }
    body["signature_hash"] = signing.sign(
        secret, {**body, "amount": "140000"}, signing.LINK_WEBHOOK_FIELDS
    )
    raw = dumps({k: v for k, v in body.items() if k != "amount"} | {"amount": _n("140000")})
    event = gateway.parse_notification(
        InboundRequest("POST", "/", {"content-type": "application/json"}, raw.encode())
    )
    assert event.invoice_id == body["merchant_order_ref"]
    assert event.gateway_id == body["link_ref"]
    assert event.status is not None
    assert event.status.status == InvoiceStatus.PAID
    assert (event.status.amount, event.status.currency) == (Decimal("140000"), "VND")
    assert not event.authoritative  # read back before anything changes
    tampered = raw.replace('"Success"', '"Expired"')
    with pytest.raises(NotificationRejected):
        gateway.parse_notification(
            InboundRequest("POST", "/", {"content-type": "application/json"}, tampered.encode())
        )


def _n(text: str):
    from django_multipay.gateways.portone import _Number

    return _Number(text)


def test_trusted_signed_webhook_is_authoritative(
    router: EmulatorRouter, portone_order_with_items: Order
) -> None:
    from django_multipay.sandbox import portone as emulator

    gateway = PortOneGateway(
        "portone", {**get_gateway("portone").options, "trust_signed_notifications": True}
    )
    payments.start_payment(portone_order_with_items, "portone")
    invoice = Invoice.objects.get(order=portone_order_with_items)
    with emulator.store.table(emulator.TRANSACTIONS) as table:
        txn = table[invoice.gateway_id]
        emulator.settle(txn, "success")
        body = emulator.webhook_for(txn, SECRET)
    from django_multipay.gateways.portone import dumps

    event = gateway.parse_notification(InboundRequest("POST", "/", {}, dumps(body).encode()))
    assert event.authoritative
    assert event.status is not None
    assert event.status.amount == Decimal("100.50")


# ------------------------------------------------------------------------------------------------
# PortOne: the shared contract and its suites, end to end against the emulator, and the
# management commands (webhooks, the signature check, PSP credentials).


@pytest.mark.parametrize("alias", ["portone", "portone-preauth"])
def test_portone_signed_return_query_tampered_changes_nothing(
    router: Any, signal_log: SignalLog, alias: str
) -> None:
    order = OrderFactory(amount=Decimal("100.00"), currency="EUR")
    payments.start_payment(order, alias)
    invoice = Invoice.objects.get(order=order)
    # The customer leaves the hosted page with the payment still pending: a signed query.
    answer = router.client.post(
        f"/sandbox/portone/pay/{invoice.gateway_id}", {"outcome": "pending"}
    )
    assert answer.status_code == 302
    parts = urlsplit(answer["Location"])
    query = dict(parse_qsl(parts.query))
    assert query.get("signature_hash")
    invoice.refresh_from_db()
    before = state(invoice)
    signal_log.sent.clear()
    for field, value in (("status", "Success"), ("amount", "1.00"), ("currency", "USD")):
        if field in query:
            response = Client().get(parts.path, {**query, field: value})
            assert response.status_code == 302
            assert state(invoice) == before
    # The genuine query changes nothing either: the status is read back, and it is pending.
    assert Client().get(parts.path, query).status_code == 302
    assert state(invoice) == before
    for name in STATE_SIGNALS:
        assert signal_log.count(name) == 0, name


# -- end to end against the emulator -----------------------------------------------------------


# -- forgeries change nothing --------------------------------------------------------------------


def test_webhook_signed_with_another_secret_changes_nothing(
    router: EmulatorRouter, portone_order: Order, signal_log: SignalLog
) -> None:
    invoice = start(portone_order)
    with store.table(emulator.TRANSACTIONS):
        emulator.settle(transaction(invoice), "success")
    body, _headers = webhook(invoice, secret="not-the-secret-0123456789abcdef012345")
    calls = len(router.calls)
    response = Client().post("/payments/notify/portone/", body, content_type="application/json")
    assert response.status_code == 400
    assert len(router.calls) == calls  # refused before any read
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert signal_log.count("invoice_status_changed") == 1  # created -> pending only
    stored = Notification.objects.get(gateway="portone")
    assert stored.result == NotificationResult.REJECTED
    assert "signature" in stored.reason


def test_webhook_with_another_amount_changes_nothing(
    router: EmulatorRouter, portone_order: Order
) -> None:
    invoice = start(portone_order)
    with store.table(emulator.TRANSACTIONS):
        txn = transaction(invoice)
        emulator.settle(txn, "success")
        txn["amount"] = Decimal("1.00")  # signed correctly, but not what we asked for
    body, _headers = webhook(invoice)
    response = Client().post("/payments/notify/portone/", body, content_type="application/json")
    assert response.status_code == 400
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert Notification.objects.get(gateway="portone").result == NotificationResult.REJECTED


def test_forged_return_query_changes_nothing(router: EmulatorRouter, portone_order: Order) -> None:
    invoice = start(portone_order)
    with store.table(emulator.TRANSACTIONS):
        emulator.settle(transaction(invoice), "success")  # paid, but the shop is not told
    query = emulator.redirect_query(transaction(invoice), "not-the-secret-0123456789abcdef0123")
    calls = len(router.calls)
    response = Client().get(f"/payments/return/{invoice.pk}/?{query}")
    assert response.status_code == 302
    assert len(router.calls) == calls  # no status read on a forged query
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_signed_return_query_of_another_payment_changes_nothing(
    router: EmulatorRouter, portone_order: Order
) -> None:
    invoice = start(portone_order)
    other = start(OrderFactory(amount=Decimal("100.00"), currency="EUR"))
    with store.table(emulator.TRANSACTIONS):
        emulator.settle(transaction(other), "success")
    query = emulator.redirect_query(
        transaction(other), "portone-secret-key-one-0123456789abcdef0123"
    )
    Client().get(f"/payments/return/{invoice.pk}/?{query}")
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
