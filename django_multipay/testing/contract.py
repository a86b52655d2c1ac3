"""The contract every gateway backend's tests run: subclass :class:`GatewayContract`.

A backend's test module does::

    class TestMyGateway(GatewayContract):
        alias = "mygateway"

        def complete_payment(self, router, invoice, outcome): ...   # act as the customer
        def notification(self, invoice): ...                          # what the gateway sends

and every test below runs against the backend and its emulator, routed in-process by
:func:`django_multipay.testing.router.route_to_django`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar

import pytest
import requests
import responses
from django.db import connection
from django.test import Client
from django.urls import reverse

from django_multipay import payments
from django_multipay.exceptions import GatewayError, InvalidRequest, RefundRefused
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.concurrency import http_server, race
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter, emulators


class GatewayContract:
    """Shared behaviour every backend must show. Subclass it and fill in the hooks."""

    #: The alias under test, configured in the test settings.
    alias: ClassVar[str] = ""
    #: Host the emulator is routed on (the alias's ``base_url`` must point there).
    host: ClassVar[str] = "testserver"
    #: Amount and currency the contract orders use.
    amount: ClassVar[Decimal] = Decimal("100.00")
    currency: ClassVar[str] = "EUR"
    #: Where the alias's emulator is mounted in the URLconf (for the real-HTTP tests).
    sandbox_path: ClassVar[str] = ""
    #: Rounds and threads of the concurrent-notification test (PostgreSQL only).
    race_rounds: ClassVar[int] = 3
    race_threads: ClassVar[int] = 10

    # -- hooks -------------------------------------------------------------------------------

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        """Act as the customer on the emulator: ``outcome`` is paid, declined or cancelled."""
        raise NotImplementedError

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        """The body and headers the gateway would send for the invoice's current state."""
        raise NotImplementedError

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        """Make the gateway hold the payment as ``outcome`` without telling the shop yet.

        The default is :meth:`complete_payment`; an emulator that notifies at once then
        settles the invoice before the race, which races repeats only. Override it to
        change the emulator's state silently where the emulator allows."""
        self.complete_payment(router, invoice, outcome)

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """Tamper with a genuine notification so that authentication must fail.

        The default rewrites the body: a backend that only reads the status server-to-server
        overrides this to name an invoice it could not verify."""
        return body.replace(b"declined", b"paid").replace(b"pending", b"paid") + b" ", headers

    # -- fixtures ----------------------------------------------------------------------------

    @pytest.fixture
    def router(self, transactional_db: Any) -> Iterator[EmulatorRouter]:
        with emulators(self.host) as router:
            yield router

    def make_order(self) -> Order:
        order = OrderFactory(amount=self.amount, currency=self.currency)  # type: ignore[no-untyped-call]
        assert isinstance(order, Order)
        return order

    @pytest.fixture
    def order(self, transactional_db: Any) -> Order:
        return self.make_order()

    def start(self, order: Order) -> Invoice:
        payments.start_payment(order, self.alias)
        return Invoice.objects.filter(order=order).latest("created_at")

    def post_notification(self, body: bytes, headers: dict[str, str]) -> Any:
        content_type = headers.get("Content-Type", "application/json")
        extra = {k: v for k, v in headers.items() if k != "Content-Type"}
        return Client().post(
            reverse("django_multipay:notify", kwargs={"alias": self.alias}),
            data=body,
            content_type=content_type,
            headers=extra,
        )

    def paid_invoice(self, router: EmulatorRouter, order: Order) -> Invoice:
        invoice = self.start(order)
        self.complete_payment(router, invoice, "paid")
        payments.refresh(invoice)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID, invoice.status
        return invoice

    # -- the contract ------------------------------------------------------------------------

    def test_undeclared_payment_options_are_refused_before_any_invoice(
        self, router: EmulatorRouter, order: Order
    ) -> None:
        """Only the options the backend declares are taken, and nothing is called otherwise."""
        with pytest.raises(InvalidRequest) as caught:
            payments.start_payment(order, self.alias, options={"no_such_option": True})
        assert set(caught.value.fields) == {"options.no_such_option"}
        assert not Invoice.objects.filter(order=order).exists()
        assert router.calls == []

    def test_start_payment_sends_customer_to_gateway(
        self, router: EmulatorRouter, order: Order
    ) -> None:
        action = payments.start_payment(order, self.alias)
        invoice = Invoice.objects.get(order=order)
        assert invoice.status == InvoiceStatus.PENDING
        assert invoice.gateway == self.alias
        assert invoice.gateway_id
        assert invoice.redirect_url == action.url
        assert action.url.startswith("http")
        order.refresh_from_db()
        assert order.status == OrderStatus.PENDING

    def test_paid_payment_marks_order_paid_once(
        self, router: EmulatorRouter, order: Order, signal_log: SignalLog
    ) -> None:
        invoice = self.start(order)
        self.complete_payment(router, invoice, "paid")
        payments.refresh(invoice)
        invoice.refresh_from_db()
        order.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.captured_amount == self.amount
        assert order.status == OrderStatus.PAID
        assert signal_log.count("order_paid") == 1
        assert signal_log.of("order_paid")[0]["order"].pk == order.pk

    def test_declined_payment_fails_invoice(
        self, router: EmulatorRouter, order: Order, signal_log: SignalLog
    ) -> None:
        invoice = self.start(order)
        self.complete_payment(router, invoice, "declined")
        payments.refresh(invoice)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.FAILED
        assert signal_log.count("order_paid") == 0
        assert Order.objects.get(pk=order.pk).status == OrderStatus.FAILED

    def test_cancelled_payment_cancels_invoice(self, router: EmulatorRouter, order: Order) -> None:
        invoice = self.start(order)
        self.complete_payment(router, invoice, "cancelled")
        payments.refresh(invoice)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.CANCELLED
        assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED

    def test_notification_applies_verified_status(
        self, router: EmulatorRouter, order: Order, signal_log: SignalLog
    ) -> None:
        invoice = self.start(order)
        self.complete_payment(router, invoice, "paid")
        # The emulator may have delivered its own notification already; ours is then a repeat.
        body, headers = self.notification(invoice)
        response = self.post_notification(body, headers)
        assert response.status_code == 200, response.content
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
        assert signal_log.count("order_paid") == 1
        results = list(
            Notification.objects.filter(gateway=self.alias, invoice=invoice).values_list(
                "result", flat=True
            )
        )
        assert results.count(NotificationResult.PROCESSED) == 1
        assert set(results) <= {NotificationResult.PROCESSED, NotificationResult.DUPLICATE}

    def test_repeated_notification_changes_nothing(
        self, router: EmulatorRouter, order: Order, signal_log: SignalLog
    ) -> None:
        invoice = self.paid_invoice(router, order)
        signal_log.sent.clear()
        body, headers = self.notification(invoice)
        for _ in range(3):
            response = self.post_notification(body, headers)
            assert response.status_code == 200, response.content
        assert signal_log.count("order_paid") == 0
        assert signal_log.count("invoice_status_changed") == 0
        results = set(
            Notification.objects.filter(gateway=self.alias, invoice=invoice).values_list(
                "result", flat=True
            )
        )
        assert results <= {NotificationResult.DUPLICATE, NotificationResult.PROCESSED}

    def test_forged_notification_is_rejected(
        self, router: EmulatorRouter, order: Order, signal_log: SignalLog
    ) -> None:
        invoice = self.start(order)
        signal_log.sent.clear()
        body, headers = self.forge(*self.notification(invoice))
        response = self.post_notification(body, headers)
        assert 400 <= response.status_code < 500
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PENDING
        assert signal_log.count("invoice_status_changed") == 0
        stored = Notification.objects.filter(gateway=self.alias).latest("received_at")
        assert stored.result == NotificationResult.REJECTED
        assert stored.reason

    def test_malformed_notification_is_rejected(self, router: EmulatorRouter) -> None:
        response = self.post_notification(
            b"\x00not a notification", {"Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500
        assert Notification.objects.get(gateway=self.alias).result == NotificationResult.REJECTED

    def test_full_refund(self, router: EmulatorRouter, order: Order, signal_log: SignalLog) -> None:
        if not get_gateway(self.alias).supports("refund"):
            pytest.skip("backend does not refund")
        invoice = self.paid_invoice(router, order)
        refund = payments.refund(invoice, reason="customer asked")
        invoice.refresh_from_db()
        assert refund.status == RefundStatus.SUCCEEDED
        assert refund.amount == self.amount
        assert invoice.status == InvoiceStatus.REFUNDED
        assert invoice.refunded_amount == self.amount
        assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
        assert [s["current"] for s in signal_log.of("refund_status_changed")] == [
            RefundStatus.REQUESTED,
            RefundStatus.SUCCEEDED,
        ]

    def test_partial_refunds_up_to_captured(self, router: EmulatorRouter, order: Order) -> None:
        if not get_gateway(self.alias).supports("partial_refund"):
            pytest.skip("backend does not refund partially")
        invoice = self.paid_invoice(router, order)
        part = (self.amount / 4).quantize(Decimal("0.01"))
        payments.refund(invoice, part)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
        assert invoice.refunded_amount == part
        payments.refund(invoice, self.amount - part)
        settled = Invoice.objects.get(pk=invoice.pk)
        assert settled.status == InvoiceStatus.REFUNDED
        assert settled.refunded_amount == self.amount

    def test_refund_beyond_captured_is_refused_before_calling(
        self, router: EmulatorRouter, order: Order
    ) -> None:
        if not get_gateway(self.alias).supports("refund"):
            pytest.skip("backend does not refund")
        invoice = self.paid_invoice(router, order)
        calls = len(router.calls)
        with pytest.raises(RefundRefused):
            payments.refund(invoice, self.amount + Decimal("0.01"))
        assert len(router.calls) == calls
        assert not Refund.objects.filter(invoice=invoice).exists()

    def test_gateway_error_on_start_fails_invoice(self, order: Order) -> None:
        with responses.RequestsMock() as mock:
            mock.add(responses.POST, re.compile(".*"), status=500, body="boom")
            with pytest.raises(GatewayError):
                payments.start_payment(order, self.alias)
        invoice = Invoice.objects.get(order=order)
        assert invoice.status == InvoiceStatus.FAILED
        assert invoice.failure_reason

    def test_timeout_while_verifying_keeps_notification_for_retry(
        self, router: EmulatorRouter, order: Order
    ) -> None:
        invoice = self.start(order)
        body, headers = self.notification(invoice)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add(responses.GET, re.compile(".*"), body=requests.ReadTimeout("slow"))
            mock.add(responses.POST, re.compile(".*"), body=requests.ReadTimeout("slow"))
            response = self.post_notification(body, headers)
        stored = Notification.objects.filter(gateway=self.alias).latest("received_at")
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PENDING
        if stored.result in (NotificationResult.DUPLICATE, NotificationResult.PROCESSED):
            # Signed over status and amount: no read was needed, so nothing could time out.
            return
        assert response.status_code == 503
        assert stored.result == NotificationResult.FAILED
        assert stored.invoice_id == invoice.pk

    def test_concurrent_notifications_apply_once(
        self, transactional_db: Any, settings: Any, signal_log: SignalLog
    ) -> None:
        """Identical notifications raced from threads, each with its own connection, over a
        real HTTP server: one transition and one ``order_paid`` per payment."""
        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL: row locks across real concurrent connections")
        if not self.sandbox_path:
            pytest.skip("set sandbox_path to race over real HTTP")
        with http_server() as server:
            config = copy.deepcopy(settings.MULTIPAY)
            config["GATEWAYS"][self.alias]["OPTIONS"]["base_url"] = server + self.sandbox_path
            config["BASE_URL"] = server
            config["HTTP_TIMEOUT"] = (10.0, 60.0)
            settings.MULTIPAY = config
            store.reset()
            router = EmulatorRouter(self.host)
            url = reverse("django_multipay:notify", kwargs={"alias": self.alias})
            for _ in range(self.race_rounds):
                order = self.make_order()
                invoice = self.start(order)
                self.settle_at_gateway(router, invoice, "paid")
                body, headers = self.notification(invoice)
                content_type = headers.get("Content-Type", "application/json")
                extra = {k: v for k, v in headers.items() if k != "Content-Type"}

                def post(
                    body: bytes = body, extra: dict[str, str] = extra, kind: str = content_type
                ) -> Any:
                    return Client().post(url, data=body, content_type=kind, headers=extra)

                results = race([post] * self.race_threads)

                errors = [r for r in results if isinstance(r, BaseException)]
                assert not errors, errors
                assert {r.status_code for r in results} == {200}
                invoice.refresh_from_db()
                assert invoice.status == InvoiceStatus.PAID
                assert invoice.captured_amount == self.amount
                paid = [s for s in signal_log.of("order_paid") if s["order"].pk == order.pk]
                assert len(paid) == 1
                moves = [
                    (s["previous"], s["current"])
                    for s in signal_log.of("invoice_status_changed")
                    if s["invoice"].pk == invoice.pk and s["current"] == InvoiceStatus.PAID
                ]
                assert len(moves) == 1, moves
                processed = Notification.objects.filter(
                    invoice=invoice, result=NotificationResult.PROCESSED
                )
                assert processed.count() <= 1
            store.reset()
