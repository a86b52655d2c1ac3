"""Reconciliation: re-check, back-off, expiry, failed notifications, refunds, deferred notify."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from django_multipay import payments, processing, reconcile
from django_multipay.exceptions import GatewayConnectionError
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.factories import OrderFactory


def pending_invoice(age: timedelta = timedelta(hours=1), **fields) -> Invoice:
    order = OrderFactory(amount=Decimal("50.00"), currency="EUR")
    payments.start_payment(order, "dummy")
    invoice = order.invoices.get()
    assert invoice.status == InvoiceStatus.PENDING
    Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - age, **fields)
    invoice.refresh_from_db()
    return invoice


def at_gateway(invoice: Invoice, **changes) -> dict:
    """Change the emulator's record of the payment without any notification reaching us."""
    with store.table("dummy.payments") as table:
        table[invoice.gateway_id].update(changes)
        return table[invoice.gateway_id]


def reconcile_cmd(*args: str) -> str:
    out = StringIO()
    call_command("multipay_reconcile", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def status_reads(router, invoice: Invoice) -> list:
    return router.requests_to(rf"/payments/{invoice.gateway_id}$", "GET")


def test_pending_invoice_paid_at_gateway_is_settled_once(router, signal_log):
    invoice = pending_invoice()
    at_gateway(invoice, status="paid", captured_amount="50.00")
    signal_log.sent.clear()

    output = reconcile_cmd()

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("50.00")
    assert invoice.order.status == "paid"
    assert signal_log.count("invoice_status_changed") == 1
    assert signal_log.count("order_paid") == 1
    assert len(status_reads(router, invoice)) == 1
    assert "Invoices: 1 checked, 1 changed, 0 expired." in output

    # Settled: the next run does not ask again.
    reconcile_cmd()
    assert len(status_reads(router, invoice)) == 1
    assert signal_log.count("invoice_status_changed") == 1


def test_young_invoices_are_left_to_their_callbacks(router):
    invoice = pending_invoice(age=timedelta(minutes=1))
    output = reconcile_cmd()
    assert status_reads(router, invoice) == []
    assert "Invoices: 0 checked" in output
    # --older-than overrides the setting.
    reconcile_cmd("--older-than", "30s")
    assert len(status_reads(router, invoice)) == 1


@override_settings(
    MULTIPAY={**settings.MULTIPAY, "RECONCILE_BACKOFF": 600, "RECONCILE_BACKOFF_MAX": 1500}
)
def test_still_pending_invoice_is_asked_again_only_after_back_off(router, signal_log):
    invoice = pending_invoice()
    signal_log.sent.clear()

    reconcile_cmd()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.reconcile_attempts == 1
    first_wait = invoice.next_check_at - timezone.now()
    assert timedelta(seconds=590) < first_wait <= timedelta(seconds=600)
    assert len(status_reads(router, invoice)) == 1

    # Within the back-off: not asked.
    reconcile_cmd()
    assert len(status_reads(router, invoice)) == 1

    # Back-off over: asked again, and the next wait doubles (up to the cap).
    Invoice.objects.filter(pk=invoice.pk).update(next_check_at=timezone.now())
    reconcile_cmd()
    invoice.refresh_from_db()
    assert len(status_reads(router, invoice)) == 2
    assert invoice.reconcile_attempts == 2
    assert (
        timedelta(seconds=1190) < invoice.next_check_at - timezone.now() <= timedelta(seconds=1200)
    )
    Invoice.objects.filter(pk=invoice.pk).update(next_check_at=timezone.now())
    reconcile_cmd()
    invoice.refresh_from_db()
    assert invoice.next_check_at - timezone.now() <= timedelta(seconds=1500)
    assert signal_log.count("invoice_status_changed") == 0


def test_gateway_fault_counts_as_an_attempt_and_changes_nothing(router):
    invoice = pending_invoice()
    gateway = type(get_gateway("dummy"))
    with mock.patch.object(gateway, "fetch_status", side_effect=GatewayConnectionError("down")):
        out = StringIO()
        err = StringIO()
        call_command("multipay_reconcile", stdout=out, stderr=err)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.reconcile_attempts == 1
    assert "Errors: 1." in out.getvalue()
    assert "1 error(s)" in err.getvalue()


def test_invoice_past_validity_is_expired(router, signal_log):
    invoice = pending_invoice(
        age=timedelta(minutes=1), expires_at=timezone.now() - timedelta(seconds=1)
    )
    signal_log.sent.clear()

    output = reconcile_cmd()

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.EXPIRED
    assert invoice.failure_reason == "expired before payment"
    assert signal_log.count("invoice_status_changed") == 1
    # The gateway was asked first (money may have arrived before the deadline).
    assert len(status_reads(router, invoice)) == 1
    assert "1 expired." in output
    reconcile_cmd()
    assert signal_log.count("invoice_status_changed") == 1


def test_invoice_paid_just_before_expiry_is_paid_not_expired(router, signal_log):
    invoice = pending_invoice(
        age=timedelta(minutes=1), expires_at=timezone.now() - timedelta(seconds=1)
    )
    at_gateway(invoice, status="paid", captured_amount="50.00")
    signal_log.sent.clear()

    reconcile_cmd()

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert [s["invoice"].status for s in signal_log.of("invoice_status_changed")] == ["paid"]


def test_dry_run_changes_nothing_and_calls_no_gateway(router, signal_log):
    stale = pending_invoice()
    at_gateway(stale, status="paid", captured_amount="50.00")
    expired = pending_invoice(expires_at=timezone.now() - timedelta(minutes=5))
    calls_before = len(router.calls)
    signal_log.sent.clear()

    output = reconcile_cmd("--dry-run", "-v", "2")

    assert len(router.calls) == calls_before
    stale.refresh_from_db()
    expired.refresh_from_db()
    assert stale.status == expired.status == InvoiceStatus.PENDING
    assert stale.reconcile_attempts == 0
    assert stale.next_check_at is None
    assert signal_log.count("invoice_status_changed") == 0
    assert "Dry run: nothing was changed." in output
    assert f"invoice {expired.pk}: would expire" in output
    assert f"invoice {stale.pk}: would ask dummy" in output


def test_gateway_and_limit_options(router):
    first = pending_invoice(age=timedelta(hours=2))
    second = pending_invoice(age=timedelta(hours=1))
    reconcile_cmd("--gateway", "dummy", "--limit", "1")
    assert len(status_reads(router, first)) == 1
    assert status_reads(router, second) == []
    with pytest.raises(CommandError, match="Unknown gateway alias"):
        reconcile_cmd("--gateway", "nope")
    with pytest.raises(CommandError):
        reconcile_cmd("--older-than", "soon")


@override_settings(MULTIPAY={**settings.MULTIPAY, "RECONCILE_CHUNK_SIZE": 2})
def test_progress_is_shown_at_verbosity_two(router):
    for _ in range(4):
        pending_invoice()
    output = reconcile_cmd("-v", "2")
    assert "Re-checking invoices: 2 done" in output
    assert "Re-checking invoices: 4 done" in output
    assert "Re-checking invoices: 4 looked at" in output
    assert "done" not in reconcile_cmd("-v", "1")


def test_failed_notification_is_retried_and_applied(router, signal_log):
    invoice = pending_invoice(age=timedelta(minutes=1))
    signal_log.sent.clear()
    with mock.patch(
        "django_multipay.notifications.verify_and_apply",
        side_effect=GatewayConnectionError("gateway down"),
    ):
        response = router.client.post(
            f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"}
        )
    assert response.status_code == 302
    notification = Notification.objects.get(invoice=invoice)
    assert notification.result == NotificationResult.FAILED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING

    output = reconcile_cmd()

    notification.refresh_from_db()
    invoice.refresh_from_db()
    assert notification.result == NotificationResult.PROCESSED
    assert notification.attempts == 2
    assert invoice.status == InvoiceStatus.PAID
    assert signal_log.count("invoice_status_changed") == 1
    assert "Notifications: 1 retried, 1 settled." in output
    reconcile_cmd()
    notification.refresh_from_db()
    assert notification.attempts == 2


@override_settings(MULTIPAY={**settings.MULTIPAY, "RECONCILE_NOTIFICATION_ATTEMPTS": 2})
def test_failed_notification_is_given_up_after_the_attempts_setting(router):
    invoice = pending_invoice(age=timedelta(minutes=1))
    with mock.patch(
        "django_multipay.notifications.verify_and_apply",
        side_effect=GatewayConnectionError("gateway down"),
    ):
        router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
        reconcile_cmd()
        reconcile_cmd()
    notification = Notification.objects.get(invoice=invoice)
    assert notification.result == NotificationResult.ABANDONED
    assert notification.attempts == 2


def paid_invoice(router) -> Invoice:
    invoice = pending_invoice(age=timedelta(minutes=1))
    router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice


def test_refund_whose_answer_was_lost_is_settled_and_never_sent_again(router, signal_log):
    invoice = paid_invoice(router)
    refund, created = processing.reserve_refund(
        invoice.pk, Decimal("20.00"), idempotency_key="lost-answer", partial_allowed=True
    )
    assert created
    assert refund.status == RefundStatus.REQUESTED
    # The refund reaches the gateway, but neither its answer nor its webhook reach us.
    at_gateway(invoice, _notify_url="http://testserver/nowhere/")
    get_gateway("dummy").refund(refund)
    sent = router.requests_to(r"/refunds$", "POST")
    assert len(sent) == 1
    signals_before = signal_log.count("refund_status_changed")

    output = reconcile_cmd()

    refund.refresh_from_db()
    invoice.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_refund_id.startswith("re_")
    assert invoice.refunded_amount == Decimal("20.00")
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert router.requests_to(r"/refunds$", "POST") == sent  # not sent again
    assert len(router.requests_to(r"/refunds$", "GET")) == 1
    assert signal_log.count("refund_status_changed") == signals_before + 1
    assert "Refunds: 1 checked, 1 settled." in output

    reconcile_cmd()
    assert len(router.requests_to(r"/refunds$", "GET")) == 1
    assert Refund.objects.filter(invoice=invoice).count() == 1


def test_refund_unknown_at_gateway_stays_requested_and_is_not_sent(router):
    invoice = paid_invoice(router)
    refund, _ = processing.reserve_refund(
        invoice.pk, Decimal("20.00"), idempotency_key="never-arrived", partial_allowed=True
    )
    output = reconcile_cmd()
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    assert router.requests_to(r"/refunds$", "POST") == []
    assert "Refunds: 1 checked, 0 settled." in output


def test_gateway_without_status_reads_is_skipped(router):
    invoice = pending_invoice()
    gateway = type(get_gateway("dummy"))
    caps = gateway.capabilities.__class__(**{**vars(gateway.capabilities), "fetch_status": False})
    with mock.patch.object(gateway, "capabilities", caps):
        output = reconcile_cmd()
    assert status_reads(router, invoice) == []
    assert "Skipped (gateway cannot tell): 1." in output


# -- deferred notifications ---------------------------------------------------------------

DEFERRED = {**settings.MULTIPAY, "DEFER_NOTIFICATIONS": True}


@override_settings(MULTIPAY=DEFERRED)
def test_deferred_notification_end_to_end_with_immediate_backend(router, signal_log):
    invoice = pending_invoice(age=timedelta(minutes=1))
    signal_log.sent.clear()
    response = router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    assert response.status_code == 302

    notification = Notification.objects.get(invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert notification.result == NotificationResult.PROCESSED
    assert notification.verified
    assert notification.attempts == 1
    assert notification.dedup_key == f"evt_{invoice.gateway_id}_paid"
    assert signal_log.count("invoice_status_changed") == 1
    assert signal_log.count("order_paid") == 1


@override_settings(MULTIPAY=DEFERRED)
def test_deferred_notification_answers_before_verifying(router, signal_log):
    invoice = pending_invoice(age=timedelta(minutes=1))
    signal_log.sent.clear()
    with mock.patch("django_multipay.tasks.process_notification") as task:
        router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    notify = router.requests_to(r"/notify/dummy/$", "POST")
    assert len(notify) == 1
    notification = Notification.objects.get(invoice=invoice)
    task.enqueue.assert_called_once_with(notification.pk)
    # Authenticated and answered; nothing verified or applied yet (the worker "died").
    assert notification.result == NotificationResult.RECEIVED
    assert notification.verified
    assert status_reads(router, invoice) == []
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert signal_log.count("invoice_status_changed") == 0

    # The stored row is the unit of work: reconciliation finishes it (the invoice itself is
    # in its back-off, so the notification is what settles it).
    Invoice.objects.filter(pk=invoice.pk).update(next_check_at=timezone.now() + timedelta(hours=1))
    output = reconcile_cmd("--older-than", "0")
    notification.refresh_from_db()
    invoice.refresh_from_db()
    assert notification.result == NotificationResult.PROCESSED
    assert invoice.status == InvoiceStatus.PAID
    assert signal_log.count("invoice_status_changed") == 1
    assert "Notifications: 1 retried, 1 settled." in output


@override_settings(MULTIPAY=DEFERRED)
def test_deferred_mode_still_rejects_forged_notifications_in_the_view(router, signal_log):
    invoice = pending_invoice(age=timedelta(minutes=1))
    with mock.patch("django_multipay.tasks.process_notification") as task:
        response = router.client.post(
            "/payments/notify/dummy/",
            data=b'{"id": "evt_x", "type": "payment.paid", "data": {}}',
            content_type="application/json",
            headers={"Multipay-Signature": "t=1,v1=forged"},
        )
    assert response.status_code == 400
    task.enqueue.assert_not_called()
    notification = Notification.objects.get()
    assert notification.result == NotificationResult.REJECTED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


@override_settings(MULTIPAY=DEFERRED)
def test_deferred_notification_whose_signature_aged_is_verified_server_to_server(router):
    invoice = pending_invoice(age=timedelta(minutes=1))
    with mock.patch("django_multipay.tasks.process_notification"):
        router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    notification = Notification.objects.get(invoice=invoice)
    aliases = copy.deepcopy(DEFERRED)
    aliases["GATEWAYS"]["dummy"]["OPTIONS"]["signature_tolerance"] = -1  # every signature "old"
    with override_settings(MULTIPAY=aliases):
        result = reconcile.process_stored(notification)
    assert result == NotificationResult.PROCESSED
    assert len(status_reads(router, invoice)) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_a_long_run_keeps_its_counts_but_not_every_change_line(router, monkeypatch):
    invoices = [pending_invoice() for _ in range(3)]
    for invoice in invoices:
        at_gateway(invoice, status="paid", captured_amount="50.00")
    monkeypatch.setattr(reconcile, "MAX_CHANGES", 2)

    output = reconcile_cmd("-v", "2")

    assert "Invoices: 3 checked, 3 changed" in output
    assert "... and 1 more" in output
    assert sum(line.strip().startswith("invoice ") for line in output.splitlines()) == 2
    assert all(
        Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID for invoice in invoices
    )


# -- re-checking many invoices through a gateway's listing (fetch_statuses) ----------------


def listing_from_emulator(omit: tuple[str, ...] = ()):
    """A ``fetch_statuses`` for the dummy gateway that answers from the emulator's records,
    as a gateway listing would, leaving out the payments named in ``omit``."""
    calls: list[list[int]] = []

    def fetch_statuses(self, invoices):
        calls.append([invoice.pk for invoice in invoices])
        with store.table("dummy.payments") as table:
            rows = {
                invoice.pk: {k: v for k, v in table[invoice.gateway_id].items() if k[0] != "_"}
                for invoice in invoices
            }
        return {pk: self._status(row) for pk, row in rows.items() if row["id"] not in omit}

    return fetch_statuses, calls


def test_listing_settles_a_batch_and_only_the_left_out_invoice_is_read_alone(router, signal_log):
    invoices = [pending_invoice() for _ in range(4)]
    for invoice in invoices[:3]:
        at_gateway(invoice, status="paid", captured_amount="50.00")
    left_out = invoices[3]
    at_gateway(left_out, status="paid", captured_amount="50.00")
    signal_log.sent.clear()
    fetch_statuses, calls = listing_from_emulator(omit=(left_out.gateway_id,))

    with mock.patch.object(type(get_gateway("dummy")), "fetch_statuses", fetch_statuses):
        output = reconcile_cmd()

    assert calls == [[invoice.pk for invoice in invoices]]
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.reconcile_attempts == 1
    assert [len(status_reads(router, invoice)) for invoice in invoices] == [0, 0, 0, 1]
    assert signal_log.count("order_paid") == 4
    assert "Invoices: 4 checked, 4 changed, 0 expired." in output


def test_listing_amount_that_differs_is_refused_for_that_invoice_only(router, signal_log):
    first, second = pending_invoice(), pending_invoice()
    at_gateway(first, status="paid", amount="49.00", captured_amount="49.00")
    at_gateway(second, status="paid", captured_amount="50.00")
    signal_log.sent.clear()
    fetch_statuses, _calls = listing_from_emulator()

    with mock.patch.object(type(get_gateway("dummy")), "fetch_statuses", fetch_statuses):
        output = reconcile_cmd()

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == InvoiceStatus.PENDING
    assert first.captured_amount == Decimal("0")
    assert second.status == InvoiceStatus.PAID
    assert signal_log.count("order_paid") == 1
    assert "Errors: 1." in output


def test_failed_listing_falls_back_to_reading_each_invoice(router, signal_log):
    invoices = [pending_invoice() for _ in range(3)]
    for invoice in invoices:
        at_gateway(invoice, status="paid", captured_amount="50.00")
    listing = mock.Mock(side_effect=GatewayConnectionError("down"))

    with mock.patch.object(type(get_gateway("dummy")), "fetch_statuses", listing):
        output = reconcile_cmd()

    assert listing.call_count == 1
    assert [len(status_reads(router, invoice)) for invoice in invoices] == [1, 1, 1]
    assert Invoice.objects.filter(status=InvoiceStatus.PAID).count() == 3
    assert "Invoices: 3 checked, 3 changed, 0 expired." in output


def test_one_invoice_or_a_dry_run_never_asks_for_the_listing(router):
    listing = mock.Mock(return_value={})
    gateway = type(get_gateway("dummy"))
    first = pending_invoice()
    with mock.patch.object(gateway, "fetch_statuses", listing):
        reconcile_cmd()
        assert len(status_reads(router, first)) == 1
        Invoice.objects.filter(pk=first.pk).update(next_check_at=None)
        pending_invoice()
        reconcile_cmd("--dry-run")
    assert listing.call_count == 0


def test_listing_is_asked_once_per_chunk(router, settings):
    settings.MULTIPAY = {**settings.MULTIPAY, "RECONCILE_CHUNK_SIZE": 2}
    invoices = [pending_invoice(age=timedelta(hours=5 - n)) for n in range(5)]
    fetch_statuses, calls = listing_from_emulator()

    with mock.patch.object(type(get_gateway("dummy")), "fetch_statuses", fetch_statuses):
        reconcile_cmd()

    # Oldest first, two a chunk; the last chunk holds one invoice, read alone.
    assert calls == [[invoices[0].pk, invoices[1].pk], [invoices[2].pk, invoices[3].pk]]
    assert [len(status_reads(router, invoice)) for invoice in invoices] == [0, 0, 0, 0, 1]
