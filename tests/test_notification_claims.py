"""What a notification claims is checked against the gateway; refund events settle refunds."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from django_multipay import payments
from django_multipay.gateways.dummy import SIGNATURE_HEADER, sign
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.sandbox import dummy as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter

SECRET = "dummy-webhook-secret-one"


def post(event: dict[str, Any]) -> Any:
    body = json.dumps(event).encode()
    return Client().post(
        "/payments/notify/dummy/",
        data=body,
        content_type="application/json",
        headers={SIGNATURE_HEADER: sign(SECRET, int(time.time()), body)},
    )


def pending(amount: str = "40.00") -> Invoice:
    order = OrderFactory(amount=Decimal(amount), currency="EUR")
    payments.start_payment(order, "dummy")
    return order.invoices.get()


def payment_at_gateway(invoice: Invoice) -> dict[str, Any]:
    with store.table("dummy.payments") as table:
        return dict(table[invoice.gateway_id])


def test_claim_the_gateway_does_not_confirm_is_rejected(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = pending()
    event = emulator.notification_for({**payment_at_gateway(invoice), "status": "paid"})
    signal_log.sent.clear()

    response = post(event)  # genuinely signed, but the gateway says "pending"

    assert response.status_code == 400
    assert b"notification says paid but the gateway says pending" in response.content
    stored = Notification.objects.get(invoice=invoice)
    assert stored.result == NotificationResult.REJECTED
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert signal_log.count("invoice_status_changed") == 0
    # The truth was read, with the dedicated validation hook (here: the status read).
    assert len(router.requests_to(rf"/api/payments/{invoice.gateway_id}$", "GET")) == 1


def test_claim_with_another_amount_is_rejected(router: EmulatorRouter) -> None:
    invoice = pending()
    with store.table("dummy.payments") as table:
        table[invoice.gateway_id]["status"] = "paid"
        table[invoice.gateway_id]["captured_amount"] = "40.00"
    event = emulator.notification_for({**payment_at_gateway(invoice), "amount": "4.00"})

    response = post(event)

    assert response.status_code == 400
    stored = Notification.objects.get(invoice=invoice)
    assert (stored.result, stored.reason) == (
        NotificationResult.REJECTED,
        "notification names another amount or currency than the invoice",
    )
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_late_claim_is_not_a_lie(router: EmulatorRouter) -> None:
    """A "pending" event arriving after the payment completed still lets the truth apply."""
    invoice = pending()
    late = emulator.notification_for(payment_at_gateway(invoice))  # says pending
    with store.table("dummy.payments") as table:
        table[invoice.gateway_id]["status"] = "paid"
        table[invoice.gateway_id]["captured_amount"] = "40.00"

    response = post(late)

    assert response.status_code == 200
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    assert Notification.objects.get(invoice=invoice).result == NotificationResult.PROCESSED


def test_refund_webhook_before_the_answer_settles_once(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = pending()
    router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    signal_log.sent.clear()

    refund = payments.refund(invoice, Decimal("15.00"), idempotency_key="rf-1")

    # The emulator's refund event reached us during the refund call and settled it first.
    event = Notification.objects.get(invoice=invoice, body__contains='"refund.succeeded"')
    assert event.result == NotificationResult.PROCESSED
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_refund_id.startswith("re_")
    assert [(s["previous"], s["current"]) for s in signal_log.of("refund_status_changed")] == [
        ("", RefundStatus.REQUESTED),
        (RefundStatus.REQUESTED, RefundStatus.SUCCEEDED),
    ]
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("15.00")
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    # Sent again by the gateway: nothing more to settle.
    response = post(json.loads(event.body))
    assert response.status_code == 200
    assert Notification.objects.filter(invoice=invoice).latest("pk").result == (
        NotificationResult.DUPLICATE
    )


def test_refund_unknown_here_is_logged_not_invented(
    router: EmulatorRouter, caplog: pytest.LogCaptureFixture
) -> None:
    invoice = pending()
    router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    # A refund made in the gateway's own dashboard: the emulator API called directly.
    with caplog.at_level(logging.WARNING, logger="django_multipay.payments"):
        answer = router.client.post(
            f"/sandbox/dummy/api/payments/{invoice.gateway_id}/refunds",
            data={"amount": "5.00", "currency": "EUR"},
            content_type="application/json",
            headers={"Authorization": "Bearer dummy-api-key-one"},
        )
    assert answer.status_code == 201
    assert not Refund.objects.exists()
    assert "not recorded here" in caplog.text
