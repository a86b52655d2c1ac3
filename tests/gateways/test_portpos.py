"""PortPos (API v2): the shared contract and end-to-end flows against the emulator."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from django.test import Client

from django_multipay import payments
from django_multipay.exceptions import RefundRefused
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.sandbox import portpos as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.router import EmulatorRouter
from tests.contracts.attacks import AttackContract
from tests.contracts.faults import FaultContract, path_of

FORM = "application/x-www-form-urlencoded"
OUTCOMES = {"paid": "pay", "declined": "decline", "cancelled": "cancel"}


def stored(invoice: Invoice) -> dict:
    with store.table(emulator.TABLE) as invoices:
        return invoices[invoice.gateway_id]


def ipn(fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return urlencode(fields).encode(), {"Content-Type": FORM}


class TestPortPosContract(GatewayContract):
    alias = "portpos"
    currency = "BDT"
    sandbox_path = "/sandbox/portpos/"

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        page = urlsplit(invoice.redirect_url)
        response = router.client.post(f"{page.path}?{page.query}", {"outcome": OUTCOMES[outcome]})
        assert response.status_code == 302, response.content

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # The hosted page would send the IPN at once; change the state silently instead.
        with store.table(emulator.TABLE):
            emulator.settle_payment(stored(invoice), OUTCOMES[outcome])

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        return ipn(emulator.ipn_fields(stored(invoice)))

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        # The IPN is unsigned: a forgery claims the payment was accepted; IPN validate says not.
        return body.replace(b"status=PENDING", b"status=ACCEPTED"), headers


class TestPortPosSuites(AttackContract, FaultContract):
    """The attack and fault suites (tests/contracts/) on PortPos."""

    contract = TestPortPosContract
    content_type = FORM
    amount_forms = ("decimal",)
    # PortWallet's IPNs are forms of the same shape.
    sibling = "portwallet"
    names_refunds = False

    def genuine(self, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        return ipn(emulator.ipn_fields(stored(invoice)))

    def is_refund_call(self, request: requests.PreparedRequest) -> bool:
        return request.method == "POST" and "/invoice/refund/" in path_of(request)


# -- end to end through the router -----------------------------------------------------------


def checkout(client: Client, router: EmulatorRouter, portpos_order: Order, outcome: str) -> Invoice:
    """Start the payment, follow the customer to the hosted page and back."""
    action = payments.start_payment(portpos_order, "portpos")
    invoice = Invoice.objects.get(order=portpos_order)
    page = urlsplit(action.url)
    assert page.path == "/sandbox/portpos/payment/"
    assert client.get(f"{page.path}?{page.query}").status_code == 200
    response = client.post(f"{page.path}?{page.query}", {"outcome": outcome})
    assert response.status_code == 302
    # The customer is sent to redirect_url: our return view.
    assert response["Location"] == f"http://testserver/payments/return/{invoice.pk}/"
    back = client.get(urlsplit(response["Location"]).path)
    assert back.status_code == 302
    invoice.refresh_from_db()
    return invoice


def test_checkout_hosted_page_ipn_paid(router, portpos_order, signal_log) -> None:
    invoice = checkout(router.client, router, portpos_order, "pay")
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("2050.00")
    assert Order.objects.get(pk=portpos_order.pk).status == OrderStatus.PAID
    assert signal_log.count("order_paid") == 1
    # The IPN reached the shop and was confirmed with IPN validate.
    note = Notification.objects.get(gateway="portpos", invoice=invoice)
    assert note.result == NotificationResult.PROCESSED
    assert note.verified
    assert len(router.requests_to(rf"/invoice/ipn/{invoice.gateway_id}/2050\.00$", "GET")) == 1
    # Payer, card and the transactions (with the negative fee line) are kept.
    data = invoice.gateway_data
    assert data["billing"]["payer"]["account"] == "411111xxxxxx1111"
    assert data["billing"]["source"]["brand"]["name"] == "VISA"
    assert [t["type"] for t in data["transactions"]] == ["purchase", "fee"]
    assert data["transactions"][1]["amount"] == "-61.50"


def test_decline_fails_invoice(router, portpos_order, signal_log) -> None:
    invoice = checkout(router.client, router, portpos_order, "decline")
    assert invoice.status == InvoiceStatus.FAILED
    assert "REJECTED" in invoice.failure_reason
    assert Order.objects.get(pk=portpos_order.pk).status == OrderStatus.FAILED
    assert signal_log.count("order_paid") == 0
    note = Notification.objects.get(gateway="portpos", invoice=invoice)
    assert note.result == NotificationResult.PROCESSED


def test_cancel_sends_no_ipn_and_return_reads_status(router, portpos_order) -> None:
    invoice = checkout(router.client, router, portpos_order, "cancel")
    assert invoice.status == InvoiceStatus.CANCELLED
    assert not Notification.objects.filter(gateway="portpos").exists()


def paid(router: EmulatorRouter, portpos_order: Order) -> Invoice:
    invoice = checkout(router.client, router, portpos_order, "pay")
    assert invoice.status == InvoiceStatus.PAID
    return invoice


def test_partial_refunds_up_to_the_limit_of_five(router, portpos_order, signal_log) -> None:
    invoice = paid(router, portpos_order)
    for _ in range(5):
        refund = payments.refund(invoice, "100.00")
        assert refund.status == RefundStatus.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert invoice.refunded_amount == Decimal("500.00")
    calls = len(router.calls)
    with pytest.raises(RefundRefused, match="at most 5 refunds"):
        payments.refund(invoice, "100.00")
    assert len(router.calls) == calls
    assert Refund.objects.filter(invoice=invoice).count() == 5
    wire = router.requests_to(rf"/invoice/refund/{invoice.gateway_id}$", "POST")
    assert len(wire) == 5
    assert wire[0].body == b'{"refund": {"amount": "100.00", "currency": "BDT"}}'


def test_refund_above_remaining_is_refused_before_calling(router, portpos_order) -> None:
    invoice = paid(router, portpos_order)
    payments.refund(invoice, "2000.00")
    calls = len(router.calls)
    with pytest.raises(RefundRefused, match="exceeds the refundable"):
        payments.refund(invoice, "50.01")
    assert len(router.calls) == calls
    payments.refund(invoice, "50.00")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.REFUNDED


def test_pending_refund_settles_from_the_refund_ipn(router, portpos_order, signal_log) -> None:
    invoice = paid(router, portpos_order)
    emulator.set_refund_mode("pending")
    refund = payments.refund(invoice, "300.00")
    assert refund.status == RefundStatus.PENDING
    assert stored(invoice)["order"]["status"] == "REFUND_PENDING"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    # A status read during the refund changes nothing (REFUND_PENDING is still a payment).
    assert payments.refresh(invoice).result == NotificationResult.DUPLICATE
    # PortPos settles it and sends an IPN; our refund is settled from the refund lines.
    response = router.client.post(
        f"/sandbox/portpos/panel/invoice/{invoice.gateway_id}/refunds", {"outcome": "refunded"}
    )
    assert response.status_code == 200
    refund.refresh_from_db()
    invoice.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert invoice.refunded_amount == Decimal("300.00")
    assert [s["current"] for s in signal_log.of("refund_status_changed")] == [
        RefundStatus.REQUESTED,
        RefundStatus.PENDING,
        RefundStatus.SUCCEEDED,
    ]


def test_pending_refund_rejected_later_frees_the_amount(router, portpos_order, settings) -> None:
    settings.MULTIPAY = {**settings.MULTIPAY, "REFUND_SETTLE_UNKNOWN_AFTER": 0}
    invoice = paid(router, portpos_order)
    emulator.set_refund_mode("pending")
    refund = payments.refund(invoice, "2050.00")
    emulator.settle_refunds(invoice.gateway_id, "rejected", notify=False)
    settled = payments.sync_refunds(invoice)
    assert [r.pk for r in settled] == [refund.pk]
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    # PortPos names no refund lines: the invoice, back to ACCEPTED, has refunded nothing.
    assert "Not made" in refund.failure_reason
    emulator.set_refund_mode("instant")
    assert payments.refund(invoice, "2050.00").status == RefundStatus.SUCCEEDED


def test_expired_invoice_expires(router, portpos_order):
    payments.start_payment(portpos_order, "portpos")
    invoice = Invoice.objects.get(order=portpos_order)
    with store.table(emulator.TABLE):
        stored(invoice)["order"]["status"] = "EXPIRED"
    payments.refresh(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.EXPIRED


def test_invalid_order_is_refused_before_calling(router):
    bad = payments.create_order(
        reference="PP-BAD",
        currency="BDT",
        amount="2050.00",
        customer_name="R",
        customer_email="robbie@example.com",
        billing_address={"line1": "House 1", "city": "Dhaka", "country": "XX"},
    )
    from django_multipay.exceptions import InvalidRequest

    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(bad, "portpos")
    assert set(caught.value.fields) == {
        f"{part}.customer.{name}"
        for part in ("billing", "shipping")
        for name in ("name", "phone", "address.state", "address.zipcode", "address.country")
    }
    assert "billing.customer.address.country" in str(caught.value)
    assert router.calls == []
    assert Invoice.objects.get(order=bad).status == InvoiceStatus.FAILED
