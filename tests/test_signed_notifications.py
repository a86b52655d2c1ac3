"""Notifications applied as their signature vouches (the dummy's ``trust_signed_notifications``).

Such a notification asks nothing of the gateway, so it is stored in the transaction that
applies it: one statement locks the invoice and its order, the invoice and order are written,
the notification is inserted with its outcome, and the transaction commits.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_multipay import notifications, payments
from django_multipay.gateways.dummy import SIGNATURE_HEADER, sign
from django_multipay.models import Invoice, Notification, Order
from django_multipay.sandbox import dummy as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter

NOTIFY_URL = "/payments/notify/dummy/"


def trusting(value: bool = True) -> dict[str, Any]:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["dummy"]["OPTIONS"]["trust_signed_notifications"] = value
    return config


def pending_invoice() -> Invoice:
    order = OrderFactory(amount=Decimal("50.00"), currency="EUR")
    payments.start_payment(order, "dummy")
    invoice = order.invoices.get()
    assert invoice.status == InvoiceStatus.PENDING
    return invoice


def event_body(invoice: Invoice, **changes: Any) -> dict[str, Any]:
    """The emulator's event for the payment once paid (the emulator's record is left as is)."""
    with store.table("dummy.payments") as table:
        payment = {**table[invoice.gateway_id], "status": "paid", **changes}
    return emulator.notification_for(payment)


def post(router: EmulatorRouter, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    secret = settings.MULTIPAY["GATEWAYS"]["dummy"]["OPTIONS"]["webhook_secret"]
    header = sign(secret, int(time.time()), body)
    return router.client.post(
        NOTIFY_URL, data=body, content_type="application/json", headers={SIGNATURE_HEADER: header}
    )


def statement_kinds(queries: CaptureQueriesContext) -> list[str]:
    """First words of the statements, without BEGIN and COMMIT (only SQLite's are logged)."""
    kinds = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    return [kind for kind in kinds if kind not in ("BEGIN", "COMMIT")]


def status_reads(router: EmulatorRouter, invoice: Invoice) -> list[Any]:
    return router.requests_to(rf"/payments/{invoice.gateway_id}$", "GET")


@override_settings(MULTIPAY=trusting())
def test_first_notification_is_applied_with_four_statements(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = pending_invoice()
    payload = event_body(invoice)
    signal_log.sent.clear()

    with CaptureQueriesContext(connection) as queries:
        response = post(router, payload)

    assert response.status_code == 200, response.content
    # Between BEGIN and COMMIT (not captured here): lock, invoice, order, notification.
    assert statement_kinds(queries) == ["SELECT", "UPDATE", "UPDATE", "INSERT"]
    lock = next(q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT"))
    assert "FOR UPDATE" in lock or connection.vendor == "sqlite"
    assert status_reads(router, invoice) == []  # nothing asked of the gateway
    invoice.refresh_from_db()
    assert (invoice.status, invoice.captured_amount) == (InvoiceStatus.PAID, Decimal("50.00"))
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.PAID
    stored = Notification.objects.get()
    assert stored.invoice_id == invoice.pk
    assert stored.result == NotificationResult.PROCESSED
    assert stored.verified
    assert stored.attempts == 1
    assert stored.processed_at is not None
    assert stored.dedup_key == payload["id"]
    assert json.loads(stored.body) == payload
    assert signal_log.count("notification_received") == 1
    assert signal_log.count("invoice_status_changed") == 1
    assert signal_log.count("order_paid") == 1


@override_settings(MULTIPAY=trusting())
def test_repeat_writes_only_its_own_row(router: EmulatorRouter, signal_log: SignalLog) -> None:
    invoice = pending_invoice()
    payload = event_body(invoice)
    assert post(router, payload).status_code == 200
    updated_at = Invoice.objects.get(pk=invoice.pk).updated_at
    signal_log.sent.clear()

    with CaptureQueriesContext(connection) as queries:
        response = post(router, payload)

    assert response.status_code == 200
    assert statement_kinds(queries) == ["SELECT", "INSERT"]
    assert Invoice.objects.get(pk=invoice.pk).updated_at == updated_at
    repeat = Notification.objects.latest("pk")
    assert (repeat.result, repeat.dedup_key) == (NotificationResult.DUPLICATE, "")
    assert [name for name, _ in signal_log.sent] == ["notification_received"]


@override_settings(MULTIPAY=trusting())
def test_signed_claim_of_another_amount_is_refused(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = pending_invoice()
    signal_log.sent.clear()

    response = post(router, event_body(invoice, amount="5.00"))

    assert response.status_code == 400
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    stored = Notification.objects.get()
    assert (stored.result, stored.invoice_id) == (NotificationResult.REJECTED, invoice.pk)
    assert "amount" in stored.reason
    assert [name for name, _ in signal_log.sent] == ["notification_received"]


@override_settings(MULTIPAY=trusting())
def test_unknown_invoice_is_refused(router: EmulatorRouter) -> None:
    invoice = pending_invoice()
    payload = event_body(invoice)
    payload["data"].update(reference=str(uuid.uuid4()), payment_id="pay_nobody")

    response = post(router, payload)

    assert response.status_code == 404
    stored = Notification.objects.get()
    assert (stored.result, stored.invoice_id) == (NotificationResult.REJECTED, None)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


@override_settings(MULTIPAY=trusting())
def test_failure_inside_the_transaction_keeps_the_notification_as_failed(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = pending_invoice()
    with store.table("dummy.payments") as table:
        table[invoice.gateway_id].update(status="paid", captured_amount="50.00")
    signal_log.sent.clear()

    with mock.patch("django_multipay.processing._move", side_effect=RuntimeError("disk full")):
        response = post(router, event_body(invoice))

    assert response.status_code == 503
    stored = Notification.objects.get()  # inserted once, after the rollback
    assert stored.result == NotificationResult.FAILED
    assert stored.invoice_id == invoice.pk
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert [name for name, _ in signal_log.sent] == ["notification_received"]

    notifications.reprocess(stored)

    stored.refresh_from_db()
    assert stored.result == NotificationResult.PROCESSED
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    assert signal_log.count("order_paid") == 1


@override_settings(MULTIPAY=trusting())
def test_refund_claims_are_stored_before_the_refund_list_is_read(router: EmulatorRouter) -> None:
    invoice = pending_invoice()
    post(router, event_body(invoice))
    with store.table("dummy.payments") as table:
        table[invoice.gateway_id].update(status="paid", captured_amount="50.00")
    stored_when_asked = []

    def list_refunds(invoice: Invoice) -> list[Any]:
        stored_when_asked.append(Notification.objects.count())
        return []

    gateway = notifications.get_gateway("dummy")
    with mock.patch.object(gateway, "list_refunds", side_effect=list_refunds):
        response = post(router, event_body(invoice, status="refunded"))

    assert response.status_code == 200
    assert stored_when_asked == [2]  # the second notification was in before the gateway call


@pytest.mark.parametrize("trust", [False, None], ids=["off", "unset"])
def test_by_default_every_notification_is_read_back(
    router: EmulatorRouter, trust: bool | None
) -> None:
    config = trusting(bool(trust))
    if trust is None:
        del config["GATEWAYS"]["dummy"]["OPTIONS"]["trust_signed_notifications"]
    with override_settings(MULTIPAY=config):
        invoice = pending_invoice()
        with store.table("dummy.payments") as table:
            table[invoice.gateway_id].update(status="paid", captured_amount="50.00")

        response = post(router, event_body(invoice))

        assert response.status_code == 200
        assert len(status_reads(router, invoice)) == 1
        assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
