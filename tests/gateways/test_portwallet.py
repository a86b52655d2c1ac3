"""PortWallet (API v1): the shared contract, and end to end through the emulator."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from django_multipay import payments
from django_multipay.exceptions import RefundError, RefundRefused
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.sandbox import portwallet as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.contracts.attacks import AttackContract
from tests.contracts.faults import FaultContract, body_of

OUTCOMES = {"paid": "pay", "declined": "decline", "cancelled": "cancel"}
FORM = "application/x-www-form-urlencoded"
# The emulator's hosted page is the alias's payment_url, as the example shop sets it.
pytestmark = pytest.mark.usefixtures("portwallet_page")


def pay_at_emulator(router: EmulatorRouter, invoice: Invoice, outcome: str) -> str:
    """Act as the customer on the hosted page; the address the customer is sent back to."""
    response = router.client.post(
        "/sandbox/portwallet/payment/",
        {"invoice": invoice.gateway_id, "outcome": OUTCOMES[outcome]},
    )
    assert response.status_code == 302, response.content
    return str(response["Location"])


def ipn(invoice: Invoice, **override: str) -> tuple[bytes, dict[str, str]]:
    """The IPN the emulator would send for the invoice's state, with fields replaced."""
    with store.table("portwallet.invoices") as invoices:
        fields = emulator.ipn_for(invoices[invoice.gateway_id])
    fields.update(override)
    return urlencode(fields).encode(), {"Content-Type": FORM}


class TestPortWalletContract(GatewayContract):
    alias = "portwallet"
    currency = "BDT"
    amount = Decimal("100.00")
    sandbox_path = "/sandbox/portwallet/"

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        pay_at_emulator(router, invoice, outcome)

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # The hosted page would send the IPN at once; change the state silently instead.
        code = {"paid": 200, "declined": 300, "cancelled": 120}[outcome]
        with store.table("portwallet.invoices") as invoices:
            found = invoices[invoice.gateway_id]
            found["code"] = code
            found["_card"] = outcome != "cancelled"

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        return ipn(invoice)

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        # The IPN is unsigned: a forger claims the pending invoice is accepted.
        assert b"status=PENDING" in body
        return body.replace(b"status=PENDING", b"status=ACCEPTED"), headers


class TestPortWalletSuites(AttackContract, FaultContract):
    """The attack and fault suites (tests/contracts/) on PortWallet."""

    contract = TestPortWalletContract
    content_type = FORM
    amount_forms = ("decimal",)
    # PortPos's IPNs are forms of the same shape.
    sibling = "portpos"
    names_refunds = False

    def genuine(self, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        return ipn(invoice)

    def is_refund_call(self, request: requests.PreparedRequest) -> bool:
        return request.method == "POST" and "call=refund_request" in body_of(request)


# -- end to end through the emulator -----------------------------------------------------------


def order_bdt(amount: str = "100.00") -> Order:
    order = OrderFactory(currency="BDT", amount=Decimal(amount))
    assert isinstance(order, Order)
    return order


def calls_made(router: EmulatorRouter) -> list[str]:
    """The ``call`` of every request sent to the PortWallet emulator, in order."""
    made = []
    for request in router.requests_to(r"^/sandbox/portwallet/$", "POST"):
        body = request.body if isinstance(request.body, str) else (request.body or b"").decode()
        made.append(dict(parse_qsl(body))["call"])
    return made


def checkout(router: EmulatorRouter, order: Order) -> tuple[Invoice, str]:
    """The customer chooses PortWallet on the pay page; the invoice and the page they reach."""
    response = Client().post(
        reverse("django_multipay:pay", args=[order.public_id]), {"gateway": "portwallet"}
    )
    assert response.status_code == 302, response.content
    invoice = Invoice.objects.get(order=order)
    page = router.client.get(response["Location"])
    assert page.status_code == 200
    assert invoice.gateway_id in page.content.decode()
    return invoice, str(response["Location"])


def come_back(location: str) -> str:
    """The customer follows the emulator's redirect to the shop; where the shop sends them."""
    parts = urlsplit(location)
    response = Client().get(parts.path, dict(parse_qsl(parts.query)))
    assert response.status_code == 302
    return str(response["Location"])


def test_paid_end_to_end(router: EmulatorRouter, signal_log: SignalLog) -> None:
    order = order_bdt()
    invoice, page = checkout(router, order)
    assert page == f"http://testserver/sandbox/portwallet/payment/?invoice={invoice.gateway_id}"
    location = pay_at_emulator(router, invoice, "paid")
    query = dict(parse_qsl(urlsplit(location).query))
    assert query == {"invoice": invoice.gateway_id, "status": "ACCEPTED"}
    # The IPN reached the shop before the customer did, and was confirmed by ipn_validate.
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")
    stored = Notification.objects.get(gateway="portwallet")
    assert stored.result == NotificationResult.PROCESSED
    assert stored.verified
    assert calls_made(router) == ["gen_invoice", "ipn_validate"]
    assert come_back(location) == f"/shop/thanks/{order.reference}/"
    assert calls_made(router) == ["gen_invoice", "ipn_validate"]  # settled: no read on return
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert signal_log.count("order_paid") == 1
    assert invoice.gateway_data["data"]["card_brand"] == "VISA"


def test_declined_end_to_end(router: EmulatorRouter, signal_log: SignalLog) -> None:
    order = order_bdt()
    invoice, _page = checkout(router, order)
    location = pay_at_emulator(router, invoice, "declined")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FAILED
    assert invoice.failure_reason == "Unsuccessful - Declined"
    assert Notification.objects.get(gateway="portwallet").result == NotificationResult.PROCESSED
    assert come_back(location) == f"/shop/failed/{order.reference}/"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FAILED
    assert signal_log.count("order_paid") == 0


def test_cancelled_end_to_end_is_read_on_return(router: EmulatorRouter) -> None:
    order = order_bdt()
    invoice, _page = checkout(router, order)
    location = pay_at_emulator(router, invoice, "cancelled")
    # "It will notify only on success/failed/refund payment": no IPN for a cancellation.
    assert not Notification.objects.exists()
    assert come_back(location) == f"/shop/failed/{order.reference}/"
    assert calls_made(router) == ["gen_invoice", "get_invoice"]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


def test_return_query_string_is_not_trusted(router: EmulatorRouter) -> None:
    order = order_bdt()
    invoice, _page = checkout(router, order)
    Client().get(
        reverse("django_multipay:return", args=[invoice.pk]),
        {"invoice": invoice.gateway_id, "status": "ACCEPTED"},
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert calls_made(router) == ["gen_invoice", "get_invoice"]


def paid(router: EmulatorRouter, amount: str = "100.00") -> Invoice:
    order = order_bdt(amount)
    payments.start_payment(order, "portwallet")
    invoice = Invoice.objects.get(order=order)
    pay_at_emulator(router, invoice, "paid")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice


def test_partial_refunds_until_nothing_is_left(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = paid(router)
    first = payments.refund(invoice, "30.00")
    assert first.status == RefundStatus.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert invoice.refunded_amount == Decimal("30.00")
    second = payments.refund(invoice, "70.00")
    assert second.status == RefundStatus.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.REFUNDED
    assert invoice.refunded_amount == Decimal("100.00")
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.REFUNDED
    # Each refund's IPN was checked against get_invoice and found nothing more to settle.
    refund_ipns = Notification.objects.filter(gateway="portwallet").exclude(
        result=NotificationResult.PROCESSED
    )
    assert refund_ipns.count() == 2
    assert calls_made(router).count("refund_request") == 2
    with pytest.raises(RefundRefused):
        payments.refund(invoice, "0.01")
    assert calls_made(router).count("refund_request") == 2
    succeeded = [
        s for s in signal_log.of("refund_status_changed") if s["current"] == RefundStatus.SUCCEEDED
    ]
    assert len(succeeded) == 2


def test_refund_above_what_portwallet_has_left_is_refused_there(router: EmulatorRouter) -> None:
    invoice = paid(router)
    # Refunded in the PortWallet panel, unknown to the shop.
    with store.table("portwallet.invoices") as invoices:
        invoices[invoice.gateway_id]["_refunds"].append({"amount": "81.00", "settled": True})
    with pytest.raises(RefundError, match=r"Refundable amount is 19\.00"):
        payments.refund(invoice, "20.00")
    refund = Refund.objects.get(invoice=invoice)
    assert refund.status == RefundStatus.FAILED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.refunded_amount == 0


def test_pending_refund_settles_from_the_refund_ipn(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    emulator.set_refund_mode("pending")
    invoice = paid(router)
    refund = payments.refund(invoice, "25.00")
    assert refund.status == RefundStatus.PENDING
    # A status read while the bank works changes nothing.
    assert emulator.advance_refunds(invoice.gateway_id, settle=False) == 215
    payments.refresh(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.refunded_amount == 0
    # Settled: PortWallet sends the IPN, the shop reads get_invoice and settles its refund.
    assert emulator.advance_refunds(invoice.gateway_id) == 230
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert invoice.refunded_amount == Decimal("25.00")
    assert [s["current"] for s in signal_log.of("refund_status_changed")] == [
        RefundStatus.REQUESTED,
        RefundStatus.PENDING,
        RefundStatus.SUCCEEDED,
    ]
    # The same IPN again, and a later status read: nothing more moves.
    response = post_ipn(ipn(invoice)[0])
    assert response.status_code == 200
    payments.refresh(invoice)
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("25.00")
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED


def test_charge_back_is_applied_from_its_ipn(router: EmulatorRouter) -> None:
    invoice = paid(router)
    emulator.charge_back(invoice.gateway_id)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CHARGED_BACK


def post_ipn(body: bytes) -> Any:
    return Client().post("/payments/notify/portwallet/", body, content_type=FORM)


def test_refund_made_in_the_panel_is_logged_not_invented(
    router: EmulatorRouter, caplog: pytest.LogCaptureFixture
) -> None:
    invoice = paid(router)
    with store.table("portwallet.invoices") as invoices:
        found = invoices[invoice.gateway_id]
        found["_refunds"].append({"amount": "40.00", "settled": True})
        found["code"] = 230
    with caplog.at_level(logging.WARNING, logger="django_multipay.gateways.portwallet"):
        assert payments.sync_refunds(invoice) == []
    assert "PARTIALLY_REFUNDED but it has no refund here" in caplog.text
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert not Refund.objects.exists()
