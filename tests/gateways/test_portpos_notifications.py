"""PortPos (API v2) IPNs: each is a hint confirmed by IPN validate; forged, mismatched or
unreadable ones change nothing; the IPN as form or JSON."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from django_multipay import payments
from django_multipay.gateways.results import (
    InboundRequest,
)
from django_multipay.models import Invoice, Notification
from django_multipay.sandbox import portpos as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from tests.gateways.test_portpos import ipn, stored
from tests.gateways.test_portpos_wire import gateway

# -- end to end through the router -----------------------------------------------------------


def post_ipn(fields: dict[str, str]):
    body, headers = ipn(fields)
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": "portpos"}),
        data=body,
        content_type=headers["Content-Type"],
    )


def test_forged_ipn_that_validation_calls_pending_changes_nothing(
    router, portpos_order, signal_log
):
    payments.start_payment(portpos_order, "portpos")
    invoice = Invoice.objects.get(order=portpos_order)
    signal_log.sent.clear()
    fields = {**emulator.ipn_fields(stored(invoice)), "status": "ACCEPTED"}
    response = post_ipn(fields)
    assert response.status_code == 400
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert signal_log.count("invoice_status_changed") == 0
    note = Notification.objects.get(gateway="portpos")
    assert note.result == NotificationResult.REJECTED
    assert "gateway says pending" in note.reason
    assert len(router.requests_to(r"/invoice/ipn/", "GET")) == 1


def test_forged_ipn_with_another_amount_is_refused_without_calling(
    router, portpos_order, signal_log
):
    payments.start_payment(portpos_order, "portpos")
    invoice = Invoice.objects.get(order=portpos_order)
    with store.table(emulator.TABLE):
        emulator.settle_payment(stored(invoice), "pay")
    fields = {**emulator.ipn_fields(stored(invoice)), "amount": "1.00"}
    calls = len(router.calls)
    response = post_ipn(fields)
    assert response.status_code == 400
    assert len(router.calls) == calls
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    note = Notification.objects.get(gateway="portpos")
    assert note.result == NotificationResult.REJECTED
    assert "another amount" in note.reason


def test_ipn_whose_validation_reports_another_amount_is_rejected(router, portpos_order, signal_log):
    payments.start_payment(portpos_order, "portpos")
    invoice = Invoice.objects.get(order=portpos_order)
    with store.table(emulator.TABLE):
        found = stored(invoice)
        emulator.settle_payment(found, "pay")
        found["order"]["amount"] = "9.99"  # the gateway's record disagrees with ours
    signal_log.sent.clear()
    fields = {**emulator.ipn_fields(found), "amount": "2050.00"}
    response = post_ipn(fields)
    assert response.status_code == 400
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert signal_log.count("invoice_status_changed") == 0
    note = Notification.objects.get(gateway="portpos")
    assert note.result == NotificationResult.REJECTED


def test_ipn_naming_another_invoice_than_its_reference_is_rejected(router, portpos_order):
    payments.start_payment(portpos_order, "portpos")
    invoice = Invoice.objects.get(order=portpos_order)
    other = payments.create_order(
        reference="PP-1002", currency="BDT", amount="2050.00", **_customer()
    )
    payments.start_payment(other, "portpos")
    second = Invoice.objects.get(order=other)
    with store.table(emulator.TABLE):
        emulator.settle_payment(stored(second), "pay")
    fields = {**emulator.ipn_fields(stored(second)), "reference": str(invoice.pk)}
    response = post_ipn(fields)
    assert response.status_code == 400
    invoice.refresh_from_db()
    second.refresh_from_db()
    assert invoice.status == second.status == InvoiceStatus.PENDING


def test_ipn_with_unknown_status_leaves_invoice_unchanged(router, portpos_order, caplog):
    payments.start_payment(portpos_order, "portpos")
    invoice = Invoice.objects.get(order=portpos_order)
    with store.table(emulator.TABLE):
        stored(invoice)["order"]["status"] = "ON_HOLD"
    with caplog.at_level("WARNING", logger="django_multipay.gateways.portpos"):
        response = post_ipn(emulator.ipn_fields(stored(invoice)))
    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert "unknown status 'ON_HOLD'" in caplog.text
    assert Notification.objects.get(gateway="portpos").result == NotificationResult.DUPLICATE


def _customer() -> dict:
    return {
        "customer_name": "Robbie Amell",
        "customer_email": "robbie@example.com",
        "customer_phone": "01711000000",
        "billing_address": {
            "line1": "House 1",
            "city": "Dhaka",
            "state": "Dhaka",
            "postal_code": "1212",
            "country": "BGD",
        },
    }


# ------------------------------------------------------------------------------------------------
# PortPos v2 on the wire: every call's method, path, headers and body; limits; bad answers;
# the document's sample answers; discount and EMI per payment; names and phones in any script.


def test_ipn_as_json_is_read_too() -> None:
    event = gateway().parse_notification(
        InboundRequest(
            method="POST",
            path="/n/",
            headers={"content-type": "application/json"},
            body=b'{"invoice": "A1", "amount": "10", "status": "REJECTED", "reference": "r"}',
        )
    )
    assert (event.gateway_id, event.invoice_id, event.kind) == ("A1", "r", "payment")
    assert event.status is not None
    assert event.status.status == InvoiceStatus.FAILED


def test_refund_ipn_is_a_refund_event() -> None:
    event = gateway().parse_notification(
        InboundRequest(
            method="POST",
            path="/n/",
            headers={"content-type": "application/x-www-form-urlencoded"},
            body=b"invoice=A1&amount=10&status=REFUNDED",
        )
    )
    assert event.kind == "refund"
    assert event.status is None


@pytest.mark.parametrize(
    "body",
    [b"amount=10&status=ACCEPTED", b"invoice=A1&status=ACCEPTED", b"invoice=../x&amount=10"],
)
def test_ipn_without_invoice_or_amount_is_rejected(body) -> None:
    from django_multipay.exceptions import NotificationRejected

    with pytest.raises(NotificationRejected):
        gateway().parse_notification(
            InboundRequest(
                method="POST",
                path="/n/",
                headers={"content-type": "application/x-www-form-urlencoded"},
                body=body,
            )
        )
