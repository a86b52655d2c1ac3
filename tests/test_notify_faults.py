"""Faults inside notification processing: stored for retry, answered 503, never a bare 500."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal

import pytest
import requests
import responses
from django.test import Client

from django_multipay import notifications, payments
from django_multipay.gateways.dummy import SIGNATURE_HEADER, DummyGateway, sign
from django_multipay.models import Notification
from django_multipay.sandbox import dummy as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import route_to_django

pytestmark = pytest.mark.django_db(transaction=True)


def test_unexpected_error_is_kept_for_retry(monkeypatch):
    store.reset()
    with route_to_django():
        order = OrderFactory(amount=Decimal("10.00"), currency="EUR")
        payments.start_payment(order, "dummy")
        invoice = order.invoices.get()

        def broken(self, invoice):
            raise RuntimeError("bug in a backend")

        monkeypatch.setattr(DummyGateway, "fetch_status", broken)
        body = json.dumps(
            {
                "id": "evt_1",
                "type": "payment.paid",
                "data": {"payment_id": invoice.gateway_id, "reference": str(invoice.pk)},
            }
        ).encode()
        response = Client(raise_request_exception=False).post(
            "/payments/notify/dummy/",
            data=body,
            content_type="application/json",
            headers={SIGNATURE_HEADER: sign("dummy-webhook-secret-one", int(time.time()), body)},
        )
    assert response.status_code == 503
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.FAILED
    assert stored.invoice_id == invoice.pk
    assert stored.body == body.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


def test_oversized_body_is_stored_truncated(settings):
    settings.MULTIPAY = {**settings.MULTIPAY, "MAX_NOTIFICATION_BYTES": 64}
    response = Client().post(
        "/payments/notify/dummy/", data=b"x" * 1000, content_type="application/json"
    )
    assert response.status_code == 413
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.REJECTED
    assert len(stored.body) == 64


def test_return_with_removed_alias_still_answers(settings):
    store.reset()
    with route_to_django():
        order = OrderFactory(amount=Decimal("10.00"), currency="EUR")
        payments.start_payment(order, "dummy")
        invoice = order.invoices.get()
    settings.MULTIPAY = {**settings.MULTIPAY, "GATEWAYS": {}}
    response = Client().get(f"/payments/return/{invoice.pk}/")
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


def test_failed_notification_is_retried_from_storage():
    """A notification that could not be verified (gateway down) settles the invoice later."""
    store.reset()
    with route_to_django() as router:
        order = OrderFactory(amount=Decimal("10.00"), currency="EUR")
        payments.start_payment(order, "dummy")
        invoice = order.invoices.get()
        with store.table("dummy.payments") as table:  # paid at the gateway, not yet told
            table[invoice.gateway_id]["status"] = "paid"
            table[invoice.gateway_id]["captured_amount"] = "10.00"
            body = json.dumps(emulator.notification_for(table[invoice.gateway_id])).encode()
        signature = sign("dummy-webhook-secret-one", int(time.time()), body)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as down:
            down.add(responses.GET, re.compile(".*"), body=requests.ConnectionError("down"))
            response = Client().post(
                "/payments/notify/dummy/",
                data=body,
                content_type="application/json",
                headers={SIGNATURE_HEADER: signature},
            )
        assert response.status_code == 503
        stored = Notification.objects.get()
        assert (stored.result, stored.attempts) == (NotificationResult.FAILED, 1)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PENDING

        reads = len(router.requests_to(r"/api/payments/pay_", "GET"))
        answer = notifications.reprocess(stored)

    assert answer is not None
    assert answer.status_code == 200
    assert len(router.requests_to(r"/api/payments/pay_", "GET")) == reads + 1
    stored.refresh_from_db()
    assert (stored.result, stored.attempts) == (NotificationResult.PROCESSED, 2)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
