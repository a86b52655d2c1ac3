"""Postpay: the shared contract, and the payment flow end to end against the emulator and
through the example shop."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import responses
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_multipay import payments
from django_multipay.exceptions import GatewayConnectionError, RefundError
from django_multipay.gateways.postpay import SIGNATURE_HEADER, signature
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox import postpay as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.concurrency import http_server, race
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter
from tests.contracts.attacks import JSON, AttackContract
from tests.contracts.faults import FaultContract, path_of
from tests.shop_server import Shop, csrf

ALIAS = "postpay"
MERCHANT = "id_postpay_test_one"
HOOK_SECRET = "postpay-hook-secret-one"
OUTCOME = {"paid": "approve", "declined": "deny", "cancelled": "cancel"}


def emulated_order(invoice: Invoice) -> dict[str, Any]:
    with store.table("postpay.orders") as table:
        found: dict[str, Any] = table[MERCHANT][str(invoice.pk)]
        return found


def choose(router: EmulatorRouter, invoice: Invoice, outcome: str) -> Any:
    """Act as the customer on the hosted checkout; answer the redirect back to the shop."""
    response = router.client.post(invoice.redirect_url, {"outcome": outcome})
    assert response.status_code == 302, response.content
    return response


def come_back(router: EmulatorRouter, response: Any) -> Any:
    """Follow Postpay's redirect to our return view, as the customer's browser would."""
    back = router.client.get(response["Location"])
    assert back.status_code == 302, back.content
    return back


@contextmanager
def losing_answer(path_pattern: str) -> Iterator[EmulatorRouter]:
    """Serve the emulator, but lose the answer to the first POST matching ``path_pattern``
    after the emulator has acted on it (a timeout after the gateway did the work)."""
    lossy = EmulatorRouter("testserver")
    lost: list[str] = []

    def call(request: requests.PreparedRequest) -> Any:
        answer = lossy(request)
        path = urlsplit(request.url or "").path
        if request.method == "POST" and re.search(path_pattern, path) and not lost:
            lost.append(path)
            return requests.ReadTimeout("answer lost")
        return answer

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "PATCH", "DELETE"):
            mock.add_callback(method, re.compile(r"^http://testserver/"), callback=call)
        yield lossy
    assert lost, "nothing was lost"


def signed(body: bytes, secret: str = HOOK_SECRET, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, stamp, body)}


class TestPostpayContract(GatewayContract):
    alias = ALIAS
    currency = "AED"
    amount = Decimal("814.80")
    sandbox_path = "/sandbox/postpay/"

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # The shop has its webhook registered (manage.py multipay_postpay_hooks create): the
        # emulator notifies on the decision, and the shop reads the order back and captures.
        # Then the customer follows the redirect to our return view, which finds it settled
        # (TestFlow covers the return capturing on its own).
        with store.table("postpay.hooks") as table:
            registered = bool(table.get(MERCHANT))
        if not registered:
            register_hook(router)
        come_back(router, choose(router, invoice, OUTCOME[outcome]))

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        status = {"paid": "captured", "declined": "denied", "cancelled": "cancelled"}[outcome]
        with store.table("postpay.lock"):
            emulated_order(invoice)["status"] = status

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(emulator.order_event(emulated_order(invoice))).encode()
        return body, signed(body)


class TestPostpaySuites(AttackContract, FaultContract):
    """The attack and fault suites (tests/contracts/) on Postpay."""

    contract = TestPostpayContract
    signed = "header"
    timestamped = True
    amount_forms = ("minor",)
    # An approved order waits for the shop's capture (on the customer's return).
    holds = True

    def genuine(self, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        stamp = int(time.time()) if at is None else at
        body = json.dumps(emulator.order_event(emulated_order(invoice)))
        hashed = signature(self.option("webhook_secret"), stamp, body.encode())
        return body.encode(), {"Content-Type": JSON, SIGNATURE_HEADER: hashed}

    def authorize(self, router: EmulatorRouter, invoice: Invoice) -> None:
        # Approved at the checkout; the customer has not come back (no webhook registered).
        choose(router, invoice, "approve")

    def is_refund_call(self, request: requests.PreparedRequest) -> bool:
        return request.method == "POST" and bool(
            re.search(r"/orders/[^/]+/refunds$", path_of(request))
        )


@pytest.fixture
def order(transactional_db: Any) -> Order:
    found = OrderFactory(
        amount=Decimal("814.80"),
        currency="AED",
        tax_amount=Decimal("38.80"),
        shipping_amount=Decimal("20.00"),
    )
    found.items.create(
        reference="sku-01",
        name="Wild Flower Eau de Parfum (50ml)",
        unit_price=Decimal("840.00"),
        quantity=1,
        url="https://www.example.ae/wild-flower.html",
    )
    assert isinstance(found, Order)
    return found


def start(order: Order) -> Invoice:
    payments.start_payment(order, ALIAS)
    return Invoice.objects.get(order=order)


def register_hook(router: EmulatorRouter) -> None:
    get_gateway(ALIAS).create_hook(  # type: ignore[attr-defined]
        url="http://testserver/payments/notify/postpay/", secret=HOOK_SECRET
    )


class TestFlow:
    def test_approve_captures_on_return_and_pays_once(self, router, order, signal_log):
        invoice = start(order)
        assert invoice.gateway_id == emulated_order(invoice)["_token"]
        assert invoice.expires_at is not None
        back = come_back(router, choose(router, invoice, "approve"))
        assert back["Location"] == f"/shop/thanks/{order.reference}/"
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.captured_amount == Decimal("814.80")
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
        assert signal_log.count("order_paid") == 1
        assert [r.method for r in router.requests_to(rf"orders/{invoice.pk}$")] == ["GET"]
        assert len(router.requests_to(rf"orders/{invoice.pk}/capture$", "POST")) == 1
        assert emulated_order(invoice)["status"] == "captured"

    def test_return_query_is_not_trusted(self, router, order):
        invoice = start(order)
        # A forged "APPROVED" return while Postpay still holds the order as pending.
        router.client.get(f"/payments/return/{invoice.pk}/?order_id={invoice.pk}&status=APPROVED")
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PENDING
        assert not router.requests_to("capture")
        # Another order's id in the query changes nothing either: our invoice is in the path.
        other = start(OrderFactory(amount=Decimal("10.00"), currency="AED"))
        choose(router, other, "approve")
        router.client.get(f"/payments/return/{invoice.pk}/?order_id={other.pk}&status=APPROVED")
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PENDING
        assert not router.requests_to("capture")

    def test_deny_fails_after_reading_the_order(self, router, order, signal_log):
        invoice = start(order)
        response = choose(router, invoice, "deny")
        assert "status=DENIED" in response["Location"]
        assert f"order_id={invoice.pk}" in response["Location"]
        back = come_back(router, response)
        assert back["Location"] == f"/shop/failed/{order.reference}/"
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.FAILED
        assert router.requests_to(rf"orders/{invoice.pk}$", "GET")
        assert not router.requests_to("capture")
        assert signal_log.count("order_paid") == 0

    def test_cancel_cancels_after_reading_the_order(self, router, order):
        invoice = start(order)
        response = choose(router, invoice, "cancel")
        assert "cancelled=1&order_id=" in response["Location"]
        assert "status=CANCELLED" in response["Location"]
        come_back(router, response)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.CANCELLED
        assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED

    def test_capture_declined_fails_the_invoice(self, router, order):
        invoice = start(order)
        response = choose(router, invoice, "approve")
        with store.table("postpay.lock"):
            emulated_order(invoice)["_capture_error"] = True
        come_back(router, response)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.FAILED
        assert "capture_error" in invoice.failure_reason

    def test_capture_expired_expires_the_invoice(self, router, order):
        invoice = start(order)
        response = choose(router, invoice, "approve")
        with store.table("postpay.lock"):
            emulated_order(invoice)["_capture_by"] = timezone.now() - timedelta(seconds=1)
        come_back(router, response)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.EXPIRED
        assert "expired" in invoice.failure_reason

    def test_capture_already_made_does_not_fail_the_return(self, router, order, signal_log):
        invoice = start(order)
        response = choose(router, invoice, "approve")
        # The first capture's answer was lost: Postpay captured, we never heard.
        with losing_answer(r"/capture$"), pytest.raises(GatewayConnectionError):
            get_gateway(ALIAS).capture(invoice, invoice.amount)
        assert emulated_order(invoice)["status"] == "captured"
        # Capturing again (a retry, or the webhook racing the return) is answered 409
        # invalid_status; the order is read back and the capture is taken as made.
        result = get_gateway(ALIAS).capture(invoice, invoice.amount)
        assert result.status == InvoiceStatus.PAID
        assert result.amount == Decimal("814.80")
        assert [c.method for c in router.calls[-2:]] == ["POST", "GET"]
        come_back(router, response)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.captured_amount == Decimal("814.80")
        assert signal_log.count("order_paid") == 1

    def test_webhook_before_return_captures_once(self, router, order, signal_log):
        register_hook(router)
        invoice = start(order)
        response = choose(router, invoice, "approve")  # the emulator notifies the shop here
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        come_back(router, response)
        assert signal_log.count("order_paid") == 1
        assert len(router.requests_to("capture", "POST")) == 1
        stored = Notification.objects.filter(gateway=ALIAS, invoice=invoice)
        assert stored.filter(result=NotificationResult.PROCESSED).count() == 1
        assert all(n.verified for n in stored)

    def test_partial_then_full_refund(self, router, order):
        invoice = start(order)
        come_back(router, choose(router, invoice, "approve"))
        invoice.refresh_from_db()
        first = payments.refund(invoice, Decimal("120.50"), reason="Item returned by user")
        assert first.status == RefundStatus.SUCCEEDED
        assert first.gateway_refund_id == first.idempotency_key
        sent = json.loads(router.requests_to("refunds$", "POST")[0].body)
        assert sent == {
            "refund_id": first.idempotency_key,
            "amount": 12050,
            "description": "Item returned by user",
        }
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
        rest = payments.refund(invoice)
        assert rest.amount == Decimal("694.30")
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.REFUNDED
        assert invoice.refunded_amount == Decimal("814.80")
        assert [r["amount"] for r in emulated_order(invoice)["_refunds"]] == [12050, 69430]
        listed = get_gateway(ALIAS).list_refunds(invoice)
        assert [r.idempotency_key for r in listed] == [first.idempotency_key, rest.idempotency_key]

    def test_refund_retried_after_timeout_is_made_once(self, router, order, signal_log):
        invoice = start(order)
        come_back(router, choose(router, invoice, "approve"))
        invoice.refresh_from_db()
        with losing_answer(r"/refunds$"), pytest.raises(GatewayConnectionError):
            payments.refund(invoice, Decimal("100.00"), idempotency_key="refund-001")
        pending = Refund.objects.get(invoice=invoice)
        assert pending.status == RefundStatus.REQUESTED
        assert len(emulated_order(invoice)["_refunds"]) == 1
        again = payments.refund(invoice, Decimal("100.00"), idempotency_key="refund-001")
        assert again.pk == pending.pk
        assert again.status == RefundStatus.SUCCEEDED
        assert len(emulated_order(invoice)["_refunds"]) == 1
        assert router.requests_to(r"refunds/refund-001$", "GET")
        invoice.refresh_from_db()
        assert invoice.refunded_amount == Decimal("100.00")
        assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED

    def test_refund_over_the_gateway_limit_fails(self, router, order):
        invoice = start(order)
        come_back(router, choose(router, invoice, "approve"))
        invoice.refresh_from_db()
        # Refunded in Postpay's dashboard, unknown to us: Postpay refuses what we ask next.
        get_gateway(ALIAS).create_refund(invoice, "dashboard-1", Decimal("800.00"))
        with pytest.raises(RefundError) as caught:
            payments.refund(invoice, Decimal("100.00"))
        assert caught.value.code == "limit_exceeded"
        assert Refund.objects.get(invoice=invoice).status == RefundStatus.FAILED


def test_racing_returns_and_webhooks_capture_once(transactional_db, settings, signal_log):
    """The customer's return (clicked twice) and the webhook race over real HTTP, each in its
    own connection: one capture, one payment, no error (PostgreSQL row locks)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: row locks across real concurrent connections")
    with http_server() as server:
        config = copy.deepcopy(settings.MULTIPAY)
        config["GATEWAYS"][ALIAS]["OPTIONS"]["base_url"] = server + "/sandbox/postpay/"
        config["BASE_URL"] = server
        config["HTTP_TIMEOUT"] = (10.0, 60.0)
        settings.MULTIPAY = config
        store.reset()
        invoice = start(OrderFactory(amount=Decimal("250.00"), currency="AED"))
        answer = requests.post(
            invoice.redirect_url, data={"outcome": "approve"}, timeout=30, allow_redirects=False
        )
        back = answer.headers["Location"]
        body = json.dumps(emulator.order_event(emulated_order(invoice))).encode()
        notify = reverse("django_multipay:notify", kwargs={"alias": ALIAS})

        def come_back_now() -> Any:
            return Client().get(back)

        def webhook() -> Any:
            return Client().post(
                notify, data=body, content_type="application/json", headers=signed(body)
            )

        results = race([come_back_now] * 4 + [webhook] * 4)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        assert {r.status_code for r in results[:4]} == {302}
        assert {r.status_code for r in results[4:]} == {200}
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.captured_amount == Decimal("250.00")
        assert len([s for s in signal_log.of("order_paid")]) == 1
        with store.table("postpay.transactions") as table:
            assert [t["type"] for t in table[MERCHANT]] == ["order"]
        store.reset()


def test_secrets_never_stored_or_logged(router, order, caplog):
    caplog.set_level("DEBUG", logger="django_multipay")
    register_hook(router)
    invoice = start(order)
    come_back(router, choose(router, invoice, "approve"))
    payments.refund(invoice, Decimal("10.00"))
    secrets = ("sk_test_postpay_secret_one", HOOK_SECRET)
    invoice.refresh_from_db()
    stored = [json.dumps(invoice.gateway_data), caplog.text]
    stored += [json.dumps(n.headers) + n.body for n in Notification.objects.all()]
    stored += [json.dumps(r.gateway_data) for r in Refund.objects.all()]
    assert Notification.objects.exists()
    for secret in secrets:
        assert all(secret not in text for text in stored)
    # The checkout token is masked in the stored answer; the invoice keeps it as gateway_id.
    start_answer = router.requests_to("checkouts$")[0]
    assert start_answer.headers["Authorization"].startswith("Basic ")
    assert invoice.gateway_id == emulated_order(invoice)["_token"]


# ------------------------------------------------------------------------------------------------
# The example shop, run for real, sells an AED product through Postpay's emulator.


def test_customer_pays_later_with_postpay(shop: Shop) -> None:
    customer = requests.Session()
    home = customer.get(shop.url + "/", timeout=10)
    customer.post(
        shop.url + "/cart/add/cardamom-coffee/",
        data={"csrfmiddlewaretoken": csrf(home.text), "quantity": "2"},
        timeout=10,
    )
    form = customer.get(shop.url + "/checkout/", timeout=10)
    pay_page = customer.post(
        shop.url + "/checkout/",
        data={
            "csrfmiddlewaretoken": csrf(form.text),
            "name": "John Doe",
            "email": "john@example.ae",
            "phone": "+971 50 199 8853",
            "billing_line1": "The Gate District, DIFC",
            "billing_city": "Dubai",
            "billing_postal_code": "00000",
            "billing_country": "ae",
            "shipping_same": "on",
        },
        timeout=10,
    )
    assert pay_page.status_code == 200, pay_page.text
    assert "Postpay: pay later in instalments (AED)" in pay_page.text
    reference = re.search(r"Pay order (SO-[0-9A-Z-]+)", pay_page.text).group(1)  # type: ignore[union-attr]
    started = customer.post(
        pay_page.url,
        data={"csrfmiddlewaretoken": csrf(pay_page.text), "gateway": "postpay"},
        allow_redirects=False,
        timeout=20,
    )
    assert started.status_code == 302, started.text
    checkout = urljoin(pay_page.url, started.headers["Location"])
    assert checkout.startswith(shop.url + "/sandbox/postpay/checkout/")
    page = customer.get(checkout, timeout=10)
    assert "178.00 AED" in page.text

    final = customer.post(checkout, data={"outcome": "approve"}, timeout=20)

    assert final.status_code == 200
    assert final.url == f"{shop.url}/orders/{reference}/"
    assert 'id="payment-status" class="status status-paid" data-status="paid"' in final.text
    state = shop.db_state(reference)
    assert (state["order"], state["invoices"]) == ("paid", ["paid"])
