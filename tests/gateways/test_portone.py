"""PortOne: the shared contract, and end to end against the emulator."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
import responses
from django.test import Client

from django_multipay import payments
from django_multipay.exceptions import RefundError, RefundRefused
from django_multipay.gateways.portone import dumps
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.sandbox import portone as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.contracts.attacks import JSON, STATE_SIGNALS, AttackContract, state
from tests.contracts.faults import GATEWAY_HOST, METHODS, FaultContract, path_of

SECRET = "portone-secret-key-one-0123456789abcdef0123"
OUTCOME = {"paid": "success", "declined": "failure", "cancelled": "cancelled", "pending": "pending"}


def transaction(invoice: Invoice) -> dict:
    with store.table(emulator.TRANSACTIONS) as table:
        return next(t for t in table.values() if t["order_ref"] == invoice.gateway_id)


def pay(router: EmulatorRouter, invoice: Invoice, outcome: str):
    response = router.client.post(
        f"/sandbox/portone/pay/{invoice.gateway_id}", {"outcome": OUTCOME[outcome]}
    )
    assert response.status_code == 302, response.content
    return response


def webhook(invoice: Invoice, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = dumps(emulator.webhook_for(transaction(invoice), secret)).encode()
    return body, {"Content-Type": "application/json"}


class TestPortOneContract(GatewayContract):
    alias = "portone"
    sandbox_path = "/sandbox/portone/"

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        pay(router, invoice, outcome)

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # The hosted page would send its webhook at once; change the state silently instead.
        with store.table(emulator.TRANSACTIONS):
            emulator.settle(transaction(invoice), OUTCOME[outcome])

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        return webhook(invoice)

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        forged = body.replace(b'"Initiated"', b'"Success"')
        assert forged != body
        return forged, headers


class PortOnePreauth(TestPortOneContract):
    alias = "portone-preauth"

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        return webhook(invoice, "portone-secret-key-two-0123456789abcdef0123")


class PortOneLink(TestPortOneContract):
    """A payment link: the transaction exists once the customer checks out on the link."""

    alias = "portone-link"
    outcomes = {"paid": "success", "declined": "failure", "cancelled": "cancelled"}

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        page = urlsplit(invoice.redirect_url)
        answer = router.client.post(
            f"{page.path}?{page.query}", {"outcome": self.outcomes[outcome]}
        )
        assert answer.status_code == 302, answer.content

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # Check out on the link while its webhook is lost on the way to the shop.
        def lose_webhooks(request: requests.PreparedRequest) -> Any:
            if "/payments/notify/" in path_of(request):
                return 500, {}, b""
            return router(request)

        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for method in METHODS:
                mock.add_callback(method, GATEWAY_HOST, callback=lose_webhooks)
            self.complete_payment(router, invoice, outcome)

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        with store.table(emulator.TRANSACTIONS) as table:
            txn = next(
                t
                for t in table.values()
                if str(t["merchant_order_ref"]).startswith(f"{invoice.gateway_id}_")
            )
        body = dumps(emulator.webhook_for(txn, "portone-secret-key-three-0123456789abcdef0123"))
        return body.encode(), {"Content-Type": "application/json"}


def any_transaction(invoice: Invoice) -> dict[str, Any]:
    """The emulator's transaction of a channel payment, or of a payment link's payment."""
    with store.table(emulator.TRANSACTIONS) as table:
        return next(
            t
            for t in table.values()
            if invoice.gateway_id in (t["order_ref"], t.get("payment_link_ref"))
        )


class PortOneSuites(AttackContract, FaultContract):
    """The attack and fault suites' hooks for PortOne's aliases (tests/contracts/)."""

    signed = "body"
    signature_field = "signature_hash"
    amount_forms = ("decimal",)

    def genuine(self, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        payload = emulator.webhook_for(any_transaction(invoice), self.option("secret_key"))
        return dumps(payload).encode(), {"Content-Type": JSON}

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        # A payment left pending on the page (a link's) is claimed paid.
        if b'"Pending"' in body:
            return body.replace(b'"Pending"', b'"Success"'), headers
        return super().forge(body, headers)

    def settle_paid(self, invoice: Invoice) -> None:
        txn = any_transaction(invoice)
        with store.table(emulator.TRANSACTIONS):
            emulator.settle(txn, "success")

    def is_refund_call(self, request: requests.PreparedRequest) -> bool:
        return request.method == "POST" and "/api/refund/" in path_of(request)


class TestPortOneSuites(PortOneSuites):
    contract = TestPortOneContract


class TestPortOnePreauthSuites(PortOneSuites):
    contract = PortOnePreauth
    holds = True


class TestPortOneLinkSuites(PortOneSuites):
    contract = PortOneLink

    def leave_pending(self, router: EmulatorRouter, invoice: Invoice) -> None:
        # A link has no payment until the customer starts one: leave it pending.
        page = urlsplit(invoice.redirect_url)
        answer = router.client.post(f"{page.path}?{page.query}", {"outcome": "pending"})
        assert answer.status_code == 302, answer.content


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


@pytest.fixture
def order(db) -> Order:
    return OrderFactory(amount=Decimal("100.00"), currency="EUR")


def start(order: Order, alias: str = "portone") -> Invoice:
    payments.start_payment(order, alias)
    return Invoice.objects.filter(order=order).latest("created_at")


def come_back(response) -> None:
    """Follow the emulator's redirect to our return view, as the customer's browser does."""
    parts = urlsplit(response["Location"])
    back = Client().get(parts.path, parse_qs(parts.query))
    assert back.status_code == 302


def test_pay_redirects_back_with_signed_query_and_webhook(
    router: EmulatorRouter, order: Order, signal_log: SignalLog
) -> None:
    invoice = start(order)
    response = pay(router, invoice, "paid")
    # The emulator's webhook was applied first (signature checked, status read back).
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["status"] == ["Success"]
    assert query["signature_hash"]
    come_back(response)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert signal_log.count("order_paid") == 1
    stored = Notification.objects.get(gateway="portone")
    assert stored.result == NotificationResult.PROCESSED
    assert stored.verified
    # Every status change was confirmed by a server-to-server read.
    assert len(router.requests_to(rf"/api/transaction/{invoice.pk}/status$", "GET")) == 1


def test_failed_payment(router: EmulatorRouter, order: Order, signal_log: SignalLog) -> None:
    invoice = start(order)
    come_back(pay(router, invoice, "declined"))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FAILED
    assert invoice.failure_reason
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FAILED
    assert signal_log.count("order_paid") == 0


def test_pending_payment_stays_pending(router: EmulatorRouter, order: Order) -> None:
    invoice = start(order)
    come_back(pay(router, invoice, "pending"))
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_preauth_then_capture(router: EmulatorRouter, order: Order, signal_log: SignalLog) -> None:
    invoice = start(order, "portone-preauth")
    sent = json.loads(router.requests_to("/api/initiatePayment$")[0].body)
    assert sent["transaction_type"] == "PREAUTH"
    come_back(pay(router, invoice, "paid"))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AUTHORIZED
    assert signal_log.count("order_paid") == 0
    payments.capture(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")
    assert signal_log.count("order_paid") == 1
    (capture,) = router.requests_to(rf"/api/transaction/{invoice.gateway_id}/capture$", "POST")
    assert capture.headers["Authorization"].startswith("Bearer ")
    assert transaction(invoice)["status"] == "Success"


def test_partial_then_full_refund(
    router: EmulatorRouter, order: Order, signal_log: SignalLog
) -> None:
    invoice = start(order)
    pay(router, invoice, "paid")
    first = payments.refund(invoice, Decimal("25.00"), reason="damaged box")
    invoice.refresh_from_db()
    assert first.status == RefundStatus.SUCCEEDED
    assert first.gateway_refund_id
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert invoice.refunded_amount == Decimal("25.00")
    second = payments.refund(invoice)
    invoice.refresh_from_db()
    assert second.status == RefundStatus.SUCCEEDED
    assert second.amount == Decimal("75.00")
    assert invoice.status == InvoiceStatus.REFUNDED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
    posts = router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "POST")
    assert [json.loads(p.body)["refund_type"] for p in posts] == ["partial", "partial"]
    assert [json.loads(p.body)["amount"] for p in posts] == [25, 75]
    # Each refund webhook (unsigned) was settled from the refund list: nothing left to do.
    refund_hooks = Notification.objects.filter(gateway="portone", body__contains="refund_id")
    assert refund_hooks.count() == 2
    assert {n.result for n in refund_hooks} <= {
        NotificationResult.DUPLICATE,
        NotificationResult.PROCESSED,
    }
    assert [s["current"] for s in signal_log.of("refund_status_changed")] == [
        RefundStatus.REQUESTED,
        RefundStatus.SUCCEEDED,
        RefundStatus.REQUESTED,
        RefundStatus.SUCCEEDED,
    ]


def test_whole_amount_at_once_is_a_full_refund(router: EmulatorRouter, order: Order) -> None:
    invoice = start(order)
    pay(router, invoice, "paid")
    payments.refund(invoice)
    (post,) = router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "POST")
    assert json.loads(post.body)["refund_type"] == "full"
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.REFUNDED


def test_refund_webhook_settles_a_pending_refund_from_the_list(
    router: EmulatorRouter, order: Order
) -> None:
    invoice = start(order)
    pay(router, invoice, "paid")
    refund = payments.refund(invoice, Decimal("10.00"))
    # As if the answer had been lost: ours is still pending, the gateway has settled it.
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.PENDING, gateway_refund_id="")
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.PAID, refunded_amount=Decimal(0)
    )
    txn = transaction(invoice)
    body = dumps(emulator.refund_webhook_for(txn, txn["_refunds"][0])).encode()
    reads = len(router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "GET"))
    response = Client().post("/payments/notify/portone/", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert len(router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "GET")) == reads + 1
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_refund_id == txn["_refunds"][0]["refund_id"]
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PARTIALLY_REFUNDED


def test_payment_link_checkout_and_refund(router: EmulatorRouter, order: Order) -> None:
    action = payments.start_payment(order, "portone-link")
    invoice = Invoice.objects.get(order=order)
    assert f"?ref={invoice.gateway_id}" in action.url
    (created,) = router.requests_to("/api/paymentLink$", "POST")
    body = json.loads(created.body)
    assert body["merchant_order_id"] == str(invoice.pk)
    assert body["source"] == "api"
    assert body["country_code"] == order.billing_address["country"]
    page = urlsplit(action.url)
    response = router.client.post(f"{page.path}?{page.query}", {"outcome": "success"})
    assert response.status_code == 302
    come_back(response)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    refund = payments.refund(invoice, Decimal("40.00"))
    assert refund.status == RefundStatus.SUCCEEDED
    # The link's transaction is found through its status and details before refunding.
    details = router.requests_to(r"/api/portone-client-key-three/transaction-details$", "POST")
    assert details  # once for the refund, once more when its webhook is settled
    order_ref = json.loads(details[0].body)["order_ref"]
    assert router.requests_to(rf"/api/refund/{order_ref}$", "POST")
    assert (
        json.loads(router.requests_to(rf"/api/refund/{order_ref}$", "POST")[0].body)["channel"]
        == "EMULATED"
    )
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PARTIALLY_REFUNDED


def test_payment_link_cancel(router: EmulatorRouter, order: Order) -> None:
    invoice = start(order, "portone-link")
    payments.cancel(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED
    assert router.requests_to(rf"/api/paymentLink/{invoice.gateway_id}/status/cancelled$", "PUT")


def test_channel_payment_cannot_be_cancelled(router: EmulatorRouter, order: Order) -> None:
    from django_multipay.exceptions import UnsupportedOperation

    invoice = start(order)
    with pytest.raises(UnsupportedOperation):
        payments.cancel(invoice)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


# -- forgeries change nothing --------------------------------------------------------------------


def test_webhook_signed_with_another_secret_changes_nothing(
    router: EmulatorRouter, order: Order, signal_log: SignalLog
) -> None:
    invoice = start(order)
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


def test_webhook_with_another_amount_changes_nothing(router: EmulatorRouter, order: Order) -> None:
    invoice = start(order)
    with store.table(emulator.TRANSACTIONS):
        txn = transaction(invoice)
        emulator.settle(txn, "success")
        txn["amount"] = Decimal("1.00")  # signed correctly, but not what we asked for
    body, _headers = webhook(invoice)
    response = Client().post("/payments/notify/portone/", body, content_type="application/json")
    assert response.status_code == 400
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert Notification.objects.get(gateway="portone").result == NotificationResult.REJECTED


def test_forged_return_query_changes_nothing(router: EmulatorRouter, order: Order) -> None:
    invoice = start(order)
    with store.table(emulator.TRANSACTIONS):
        emulator.settle(transaction(invoice), "success")  # paid, but the shop is not told
    query = emulator.redirect_query(transaction(invoice), "not-the-secret-0123456789abcdef0123")
    calls = len(router.calls)
    response = Client().get(f"/payments/return/{invoice.pk}/?{query}")
    assert response.status_code == 302
    assert len(router.calls) == calls  # no status read on a forged query
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_signed_return_query_of_another_payment_changes_nothing(
    router: EmulatorRouter, order: Order
) -> None:
    invoice = start(order)
    other = start(OrderFactory(amount=Decimal("100.00"), currency="EUR"))
    with store.table(emulator.TRANSACTIONS):
        emulator.settle(transaction(other), "success")
    query = emulator.redirect_query(
        transaction(other), "portone-secret-key-one-0123456789abcdef0123"
    )
    Client().get(f"/payments/return/{invoice.pk}/?{query}")
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_over_refund_at_portone_is_refused_before_posting(
    router: EmulatorRouter, order: Order
) -> None:
    invoice = start(order)
    pay(router, invoice, "paid")
    # Refunded in PortOne's dashboard: amountToRefund is 30, our records still say 100.
    with store.table(emulator.TRANSACTIONS):
        txn = transaction(invoice)
        txn["_refunds"].append(
            {
                "refund_id": "dashboard1",
                "psp_refund_id": "1",
                "amount": Decimal("70.00"),
                "currency": "EUR",
                "refund_status": "SUCCESS",
                "refund_type": "partial",
                "refund_reason": "by hand",
            }
        )
    with pytest.raises(RefundError) as caught:
        payments.refund(invoice, Decimal("50.00"))
    assert caught.value.code == "refund_exceeds_remaining"
    assert not router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "POST")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.refunded_amount == 0
    assert Refund.objects.get(invoice=invoice).status == RefundStatus.FAILED


def test_over_refund_of_captured_is_refused_without_calling(
    router: EmulatorRouter, order: Order
) -> None:
    invoice = start(order)
    pay(router, invoice, "paid")
    calls = len(router.calls)
    with pytest.raises(RefundRefused):
        payments.refund(invoice, Decimal("100.01"))
    assert len(router.calls) == calls
    assert not Refund.objects.filter(invoice=invoice).exists()
