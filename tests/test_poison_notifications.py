"""Notifications our own code cannot parse or look up: refused as the sender's fault, never
stored for retries that cannot succeed; and retries that keep failing end in a terminal state."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from django_multipay import payments, reconcile
from django_multipay.exceptions import GatewayConnectionError
from django_multipay.models import Invoice, Notification
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.factories import OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)

#: JSON nested 100,000 (objects: 50,000) levels deep, under MAX_NOTIFICATION_BYTES.
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"":' * 50_000 + b"1" + b"}" * 50_000


def notify(alias: str, body: bytes, content_type: str = "application/json") -> Any:
    return Client(raise_request_exception=False).post(
        f"/payments/notify/{alias}/", data=body, content_type=content_type
    )


def reconcile_cmd() -> str:
    out = StringIO()
    call_command("multipay_reconcile", stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.parametrize("alias", ["paylands", "portpos", "portwallet", "portone"])
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_json_nested_100000_levels_is_rejected(alias: str, body: bytes) -> None:
    response = notify(alias, body)

    assert response.status_code == 400
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.REJECTED
    assert "malformed" in stored.reason
    assert stored.attempts == 1
    assert stored.invoice_id is None
    assert reconcile.retryable_notifications(older_than=timedelta(0)).count() == 0


def test_portone_amount_beyond_float_range_is_rejected() -> None:
    body = (
        b'{"order_ref": "ORD-1", "merchant_order_ref": "X", "amount": 1e309, '
        b'"currency": "BDT", "status": "Success", "signature_hash": "abc"}'
    )
    response = notify("portone", body)

    assert response.status_code == 400
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.REJECTED
    assert stored.reason


def test_portwallet_invoice_id_with_nul_is_rejected(router: Any) -> None:
    order = OrderFactory(amount=Decimal("10.00"), currency="BDT")
    payments.start_payment(order, "portwallet")
    invoice = order.invoices.get()
    for content_type, body in [
        (
            "application/x-www-form-urlencoded",
            f"invoice={invoice.gateway_id}%00x&status=ACCEPTED&amount=10.00".encode(),
        ),
        (
            "application/json",
            b'{"invoice": "'
            + invoice.gateway_id.encode()
            + b'\\u0000x", "status": "ACCEPTED", "amount": "10.00"}',
        ),
    ]:
        response = notify("portwallet", body, content_type)
        assert response.status_code == 400, content_type
    stored = list(Notification.objects.order_by("id"))
    assert [n.result for n in stored] == [NotificationResult.REJECTED] * 2
    assert all("NUL" in n.reason for n in stored)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


def stored_failed(body: bytes, alias: str = "portpos", attempts: int = 1) -> Notification:
    """A row left ``failed`` by an earlier release that answered such bodies 503."""
    return Notification.objects.create(
        gateway=alias,
        method="POST",
        path=f"/payments/notify/{alias}/",
        headers={"Content-Type": "application/json"},
        body=body.decode(),
        result=NotificationResult.FAILED,
        reason="internal error; will be retried",
        attempts=attempts,
    )


def test_a_stored_poison_notification_is_rejected_by_the_next_reconciliation() -> None:
    poison = stored_failed(DEEP_ARRAY)
    Notification.objects.filter(pk=poison.pk).update(
        received_at=timezone.now() - timedelta(hours=1)
    )

    output = reconcile_cmd()

    poison.refresh_from_db()
    assert poison.result == NotificationResult.REJECTED
    assert poison.attempts == 2
    assert "Errors: 0." in output
    assert "Notifications: 1 retried, 1 settled." in output


@override_settings(MULTIPAY={**settings.MULTIPAY, "RECONCILE_NOTIFICATION_ATTEMPTS": 3})
def test_every_failing_retry_counts_and_the_row_is_abandoned_at_the_limit() -> None:
    row = stored_failed(b'{"invoice": "x"}', alias="portwallet")
    with mock.patch(
        "django_multipay.notifications.process", side_effect=RuntimeError("bug of ours")
    ):
        reconcile_cmd()
        row.refresh_from_db()
        assert (row.result, row.attempts) == (NotificationResult.FAILED, 2)
        reconcile_cmd()
        row.refresh_from_db()
        assert (row.result, row.attempts) == (NotificationResult.ABANDONED, 3)
        assert "3 attempts" in row.reason
        reconcile_cmd()
    row.refresh_from_db()
    assert (row.result, row.attempts) == (NotificationResult.ABANDONED, 3)
    assert not reconcile.retryable_notifications(older_than=timedelta(0)).exists()


@override_settings(MULTIPAY={**settings.MULTIPAY, "RECONCILE_NOTIFICATION_ATTEMPTS": 2})
def test_a_gateway_that_stays_down_abandons_the_row(router: Any) -> None:
    order = OrderFactory(amount=Decimal("10.00"), currency="EUR")
    payments.start_payment(order, "dummy")
    invoice = order.invoices.get()
    with mock.patch(
        "django_multipay.notifications.verify_and_apply",
        side_effect=GatewayConnectionError("gateway down"),
    ):
        router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
        row = Notification.objects.get(invoice=invoice)
        assert (row.result, row.attempts) == (NotificationResult.FAILED, 1)
        reconcile.run(older_than=timedelta(0))
    row.refresh_from_db()
    assert (row.result, row.attempts) == (NotificationResult.ABANDONED, 2)
    assert "gateway down" in row.reason
    # The invoice itself is settled by reconciliation's own status read, not by the row.
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_rows_left_failed_past_the_limit_are_abandoned() -> None:
    limit = int(settings.MULTIPAY.get("RECONCILE_NOTIFICATION_ATTEMPTS", 5))
    row = stored_failed(b"{}", attempts=limit)

    reconcile.run(older_than=timedelta(0))

    row.refresh_from_db()
    assert row.result == NotificationResult.ABANDONED
    assert row.attempts == limit


def test_the_admin_shows_and_filters_abandoned_notifications(admin_client: Any) -> None:
    stored_failed(b"{}")
    abandoned = stored_failed(b'{"x": 1}', attempts=5)
    Notification.objects.filter(pk=abandoned.pk).update(result=NotificationResult.ABANDONED)

    page = admin_client.get(
        "/admin/django_multipay/notification/", {"result__exact": NotificationResult.ABANDONED}
    )

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [abandoned]
    assert "Abandoned after retries" in page.content.decode()


def test_a_deferred_run_that_crashes_counts_as_an_attempt() -> None:
    row = stored_failed(b'{"invoice": "x"}', alias="portwallet", attempts=0)
    Notification.objects.filter(pk=row.pk).update(result=NotificationResult.RECEIVED)
    row.refresh_from_db()

    with (
        mock.patch(
            "django_multipay.notifications.process", side_effect=RuntimeError("bug of ours")
        ),
        pytest.raises(RuntimeError),
    ):
        reconcile.process_stored(row)  # what the deferred task runs

    row.refresh_from_db()
    assert (row.result, row.attempts) == (NotificationResult.FAILED, 1)
    assert "RuntimeError" in row.reason
