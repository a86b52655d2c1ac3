"""The processing engine: moves once, signals after commit, checks money, reserves refunds."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from django_multipay import processing, signals
from django_multipay.exceptions import (
    AmountMismatch,
    GatewayAPIError,
    GatewayConnectionError,
    RefundError,
    RefundRefused,
)
from django_multipay.gateways.results import Outcome, RefundResult, StatusResult
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.processing import (
    apply_refund_result,
    apply_status,
    reserve_refund,
    run_refund,
)
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.factories import InvoiceFactory, NotificationFactory, OrderFactory
from django_multipay.testing.fixtures import SignalLog

S = InvoiceStatus


def pending_invoice(**kwargs: Any) -> Invoice:
    order = OrderFactory(status=OrderStatus.PENDING, **kwargs)
    return InvoiceFactory(order=order, status=S.PENDING)  # type: ignore[no-any-return]


def paid_invoice(amount: str = "100.00", currency: str = "EUR") -> Invoice:
    order = OrderFactory(status=OrderStatus.PAID, amount=Decimal(amount), currency=currency)
    return InvoiceFactory(order=order, paid=True)  # type: ignore[no-any-return]


def paid(**kwargs: Any) -> StatusResult:
    return StatusResult(status=S.PAID, **kwargs)


def snapshot(invoice: Invoice) -> tuple[Any, ...]:
    row = Invoice.objects.get(pk=invoice.pk)
    order = Order.objects.get(pk=invoice.order_id)
    return (row.status, row.captured_amount, row.refunded_amount, row.gateway_data, order.status)


@pytest.mark.django_db(transaction=True)
class TestApplyStatus:
    def test_pending_to_paid_once_with_signals(self, signal_log: SignalLog) -> None:
        invoice = pending_invoice()
        outcome = apply_status(invoice.pk, paid(amount=Decimal("100.00"), currency="EUR"))
        assert outcome.result == NotificationResult.PROCESSED
        assert (outcome.previous, outcome.current) == (S.PENDING, S.PAID)
        assert outcome.changed
        invoice.refresh_from_db()
        assert invoice.status == S.PAID
        assert invoice.captured_amount == Decimal("100.00")
        assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.PAID

        assert signal_log.count("invoice_status_changed") == 1
        sent = signal_log.of("invoice_status_changed")[0]
        assert (sent["previous"], sent["current"]) == (S.PENDING, S.PAID)
        assert sent["invoice"].pk == invoice.pk
        assert signal_log.count("order_status_changed") == 1
        order_sent = signal_log.of("order_status_changed")[0]
        assert (order_sent["previous"], order_sent["current"]) == (
            OrderStatus.PENDING,
            OrderStatus.PAID,
        )
        assert signal_log.count("order_paid") == 1
        assert signal_log.of("order_paid")[0]["invoice"].pk == invoice.pk

    def test_senders_are_the_models(self) -> None:
        """Receivers connected with ``sender=Order`` (etc.) are called."""

        seen: list[str] = []

        def on_paid(sender: Any, **kwargs: Any) -> None:
            seen.append(f"order_paid:{sender.__name__}")

        def on_invoice(sender: Any, **kwargs: Any) -> None:
            seen.append(f"invoice_status_changed:{sender.__name__}")

        signals.order_paid.connect(on_paid, sender=Order)
        signals.invoice_status_changed.connect(on_invoice, sender=Invoice)
        try:
            apply_status(pending_invoice().pk, paid())
        finally:
            signals.order_paid.disconnect(on_paid, sender=Order)
            signals.invoice_status_changed.disconnect(on_invoice, sender=Invoice)
        assert sorted(seen) == ["invoice_status_changed:Invoice", "order_paid:Order"]

    def test_repeat_is_duplicate_without_signals(self, signal_log: SignalLog) -> None:
        invoice = pending_invoice()
        apply_status(invoice.pk, paid())
        signal_log.sent.clear()
        outcome = apply_status(invoice.pk, paid())
        assert outcome.result == NotificationResult.DUPLICATE
        assert not outcome.changed
        assert signal_log.sent == []
        assert Invoice.objects.get(pk=invoice.pk).status == S.PAID

    def test_seen_dedup_key_is_duplicate(self, signal_log: SignalLog) -> None:
        invoice = pending_invoice()
        note = NotificationFactory(gateway=invoice.gateway)

        def record(outcome: Outcome) -> None:
            Notification.objects.filter(pk=note.pk).update(dedup_key=outcome.claimed_key)

        outcome = apply_status(invoice.pk, paid(), dedup_key="evt_1", record=record)
        assert outcome.result == NotificationResult.PROCESSED
        assert outcome.claimed_key == "evt_1"
        assert Notification.objects.get(pk=note.pk).dedup_key == "evt_1"
        signal_log.sent.clear()
        again = apply_status(invoice.pk, StatusResult(status=S.REFUNDED), dedup_key="evt_1")
        assert again.result == NotificationResult.DUPLICATE
        assert Invoice.objects.get(pk=invoice.pk).status == S.PAID
        assert signal_log.sent == []

    def test_late_pending_after_paid_is_ignored(self, signal_log: SignalLog) -> None:
        invoice = pending_invoice()
        apply_status(invoice.pk, paid())
        before = snapshot(invoice)
        signal_log.sent.clear()
        outcome = apply_status(invoice.pk, StatusResult(status=S.PENDING))
        assert outcome.result == NotificationResult.IGNORED
        assert outcome.reason == "stale pending"
        assert snapshot(invoice) == before
        assert signal_log.sent == []

    def test_illegal_move_is_ignored_and_logged(
        self, signal_log: SignalLog, caplog: pytest.LogCaptureFixture
    ) -> None:
        order = OrderFactory(status=OrderStatus.FAILED)
        invoice = InvoiceFactory(order=order, status=S.FAILED)
        before = snapshot(invoice)
        with caplog.at_level(logging.ERROR, logger="django_multipay.processing"):
            outcome = apply_status(invoice.pk, paid())
        assert outcome.result == NotificationResult.IGNORED
        assert "illegal transition failed -> paid" in outcome.reason
        assert snapshot(invoice) == before
        assert signal_log.sent == []
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert str(invoice.pk) in errors[0].getMessage()
        assert "not allowed" in errors[0].getMessage()

    @pytest.mark.parametrize(
        "result",
        [
            paid(amount=Decimal("99.99"), currency="EUR"),
            paid(amount=Decimal("100.00"), currency="USD"),
            paid(amount=Decimal("100.00"), currency="EUR", captured_amount=Decimal("100.01")),
        ],
        ids=["amount", "currency", "captured"],
    )
    def test_money_mismatch_changes_nothing(
        self, result: StatusResult, signal_log: SignalLog
    ) -> None:
        invoice = pending_invoice()
        before = snapshot(invoice)
        with pytest.raises(AmountMismatch):
            apply_status(invoice.pk, result, gateway_data={"x": 1})
        assert snapshot(invoice) == before
        assert signal_log.sent == []

    def test_rolled_back_transition_sends_no_signal(self, signal_log: SignalLog) -> None:
        invoice = pending_invoice()

        class Boom(Exception):
            pass

        def pay_then_fail() -> None:
            with transaction.atomic():
                apply_status(invoice.pk, paid())
                assert Invoice.objects.get(pk=invoice.pk).status == S.PAID
                raise Boom

        with pytest.raises(Boom):
            pay_then_fail()
        assert Invoice.objects.get(pk=invoice.pk).status == S.PENDING
        assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.PENDING
        assert signal_log.sent == []

    def test_signals_wait_for_outer_commit(self, signal_log: SignalLog) -> None:
        invoice = pending_invoice()
        with transaction.atomic():
            apply_status(invoice.pk, paid())
            assert signal_log.sent == []
        assert signal_log.count("order_paid") == 1

    def test_captured_amount_from_gateway(self) -> None:
        invoice = pending_invoice()
        apply_status(invoice.pk, paid(captured_amount=Decimal("60.00")))
        assert Invoice.objects.get(pk=invoice.pk).captured_amount == Decimal("60.00")

    def test_failure_reason_and_gateway_data_kept(self) -> None:
        invoice = pending_invoice()
        apply_status(
            invoice.pk,
            StatusResult(status=S.FAILED, failure_reason="card declined"),
            gateway_data={"status": "declined"},
        )
        invoice.refresh_from_db()
        assert invoice.status == S.FAILED
        assert invoice.failure_reason == "card declined"
        assert invoice.gateway_data == {"status": "declined"}
        assert invoice.captured_amount == 0
        assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.FAILED

    def test_gateway_id_filled_when_missing(self) -> None:
        order = OrderFactory(status=OrderStatus.PENDING)
        invoice = InvoiceFactory(order=order, gateway_id="")
        apply_status(invoice.pk, StatusResult(status=S.PENDING, gateway_id="pay_new"))
        assert Invoice.objects.get(pk=invoice.pk).gateway_id == "pay_new"

    def test_refund_status_from_a_status_read_counts_no_refund(self, signal_log: SignalLog) -> None:
        """Refund amounts come from Refund rows only, or a refund would count twice."""
        invoice = paid_invoice()
        signal_log.sent.clear()
        outcome = apply_status(
            invoice.pk,
            StatusResult(status=S.PARTIALLY_REFUNDED, refunded_amount=Decimal("30.00")),
        )
        assert outcome.result == NotificationResult.DUPLICATE
        invoice.refresh_from_db()
        assert (invoice.status, invoice.refunded_amount) == (S.PAID, Decimal(0))
        assert signal_log.sent == []

    def test_refund_status_on_an_open_invoice_means_paid(self) -> None:
        invoice = pending_invoice()
        outcome = apply_status(invoice.pk, StatusResult(status=S.REFUNDED))
        assert (outcome.previous, outcome.current) == (S.PENDING, S.PAID)
        invoice.refresh_from_db()
        assert (invoice.status, invoice.captured_amount, invoice.refunded_amount) == (
            S.PAID,
            invoice.amount,
            Decimal(0),
        )


@pytest.mark.django_db
def test_apply_status_query_count(django_assert_num_queries: Any) -> None:
    invoice = pending_invoice()
    # Savepoint + release (the test's transaction stands in for BEGIN/COMMIT), one statement
    # locking the invoice and its order, update invoice, update order. A paid invoice with no
    # other attempt needs no read of its siblings.
    with django_assert_num_queries(5):
        apply_status(invoice.pk, paid())
    # A repeat only locks: savepoint, lock, release.
    with django_assert_num_queries(3):
        apply_status(invoice.pk, paid())
    # The same gateway answer again costs no write; a new one is kept (one update).
    apply_status(invoice.pk, paid(), gateway_data={"seen": 1})
    with django_assert_num_queries(3):
        apply_status(invoice.pk, paid(), gateway_data={"seen": 1})
    with django_assert_num_queries(4):
        apply_status(invoice.pk, paid(), gateway_data={"seen": 2})
    assert Invoice.objects.get(pk=invoice.pk).gateway_data == {"seen": 2}


@pytest.mark.django_db
def test_order_status_reads_siblings_when_they_matter(django_assert_num_queries: Any) -> None:
    first = pending_invoice()
    second = InvoiceFactory(order=first.order, status=S.PENDING, gateway_id="pay_second")
    # Another attempt exists: its status is read before the order's is derived (savepoint,
    # lock, update invoice, read siblings, release; the order stays pending: no update).
    with django_assert_num_queries(5):
        apply_status(first.pk, StatusResult(status=S.FAILED))
    first.order.refresh_from_db()
    assert first.order.status == OrderStatus.PENDING  # the second attempt is still open
    apply_status(second.pk, paid())
    second.order.refresh_from_db()
    assert second.order.status == OrderStatus.PAID


@pytest.mark.django_db
def test_mark_pending_and_mark_failed() -> None:
    order = OrderFactory()
    invoice = InvoiceFactory(order=order, status=S.CREATED, gateway_id="")
    processing.mark_pending(invoice.pk, gateway_id="pay_9", redirect_url="https://gw/pay/9")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.gateway_id) == (S.PENDING, "pay_9")
    assert invoice.redirect_url == "https://gw/pay/9"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING
    processing.mark_failed(invoice.pk, "gateway refused")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.failure_reason) == (S.FAILED, "gateway refused")
    # Failing a failed invoice again is a no-op, not an error.
    processing.mark_failed(invoice.pk, "again")
    assert Invoice.objects.get(pk=invoice.pk).failure_reason == "gateway refused"


# -- refunds ---------------------------------------------------------------------------------


@pytest.mark.django_db
class TestReserveRefund:
    @pytest.mark.parametrize(
        ("amount", "code_or_text"),
        [
            (Decimal("100.01"), "refund_exceeds_captured"),
            (Decimal("0"), "Invalid refund amount"),
            (Decimal("-1"), "Invalid refund amount"),
            (Decimal("1.001"), "Invalid refund amount"),
        ],
    )
    def test_refused_amounts(self, amount: Decimal, code_or_text: str) -> None:
        invoice = paid_invoice()
        with pytest.raises(RefundRefused) as info:
            reserve_refund(invoice.pk, amount)
        assert info.value.code == code_or_text or code_or_text in str(info.value)
        assert not Refund.objects.exists()

    @pytest.mark.parametrize("status", [S.PENDING, S.AUTHORIZED, S.FAILED, S.REFUNDED])
    def test_unpaid_invoice_refused(self, status: str) -> None:
        invoice = InvoiceFactory(status=status)
        with pytest.raises(RefundRefused, match="Only paid invoices"):
            reserve_refund(invoice.pk, Decimal("1.00"))
        assert not Refund.objects.exists()

    def test_default_is_everything_left(self) -> None:
        invoice = paid_invoice()
        first, _ = reserve_refund(invoice.pk, Decimal("40.00"))
        rest, created = reserve_refund(invoice.pk, None)
        assert created
        assert rest.amount == Decimal("60.00")
        assert rest.currency == "EUR"
        assert rest.status == RefundStatus.REQUESTED
        assert first.amount + rest.amount == invoice.captured_amount

    def test_requested_refunds_count_against_captured(self) -> None:
        invoice = paid_invoice()
        reserve_refund(invoice.pk, Decimal("70.00"))
        with pytest.raises(RefundRefused) as info:
            reserve_refund(invoice.pk, Decimal("30.01"))
        assert info.value.code == "refund_exceeds_captured"
        assert Refund.objects.count() == 1

    def test_failed_refunds_free_the_amount(self) -> None:
        invoice = paid_invoice()
        refund, _ = reserve_refund(invoice.pk, Decimal("100.00"))
        processing.fail_refund(refund.pk, "refused")
        again, created = reserve_refund(invoice.pk, Decimal("100.00"))
        assert created
        assert again.pk != refund.pk

    def test_idempotency_key_returns_same_refund(self) -> None:
        invoice = paid_invoice()
        first, created = reserve_refund(invoice.pk, Decimal("10.00"), idempotency_key="key-1")
        second, created_again = reserve_refund(
            invoice.pk, Decimal("10.00"), idempotency_key="key-1"
        )
        assert (created, created_again) == (True, False)
        assert first.pk == second.pk
        assert Refund.objects.count() == 1
        assert first.idempotency_key == "key-1"

    def test_idempotency_key_of_other_invoice_refused(self) -> None:
        one, two = paid_invoice(), paid_invoice()
        reserve_refund(one.pk, Decimal("10.00"), idempotency_key="key-1")
        with pytest.raises(RefundRefused, match="another invoice"):
            reserve_refund(two.pk, Decimal("10.00"), idempotency_key="key-1")

    def test_whole_amount_only_and_max_refunds(self) -> None:
        invoice = paid_invoice()
        with pytest.raises(RefundRefused, match="whole amount"):
            reserve_refund(invoice.pk, Decimal("10.00"), partial_allowed=False)
        reserve_refund(invoice.pk, Decimal("10.00"), max_refunds=1)
        with pytest.raises(RefundRefused, match="at most 1"):
            reserve_refund(invoice.pk, Decimal("10.00"), max_refunds=1)
        assert Refund.objects.count() == 1


@pytest.mark.django_db(transaction=True)
class TestRefundResults:
    def test_partial_refunds_accumulate(self, signal_log: SignalLog) -> None:
        invoice = paid_invoice()
        first, _ = reserve_refund(invoice.pk, Decimal("30.00"))
        apply_refund_result(first.pk, RefundResult(status=RefundStatus.SUCCEEDED))
        invoice.refresh_from_db()
        assert invoice.status == S.PARTIALLY_REFUNDED
        assert invoice.refunded_amount == Decimal("30.00")
        assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.PARTIALLY_REFUNDED

        second, _ = reserve_refund(invoice.pk, Decimal("70.00"))
        apply_refund_result(
            second.pk, RefundResult(status=RefundStatus.SUCCEEDED, gateway_refund_id="re_2")
        )
        invoice.refresh_from_db()
        assert invoice.status == S.REFUNDED
        assert invoice.refunded_amount == Decimal("100.00")
        assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.REFUNDED
        assert Refund.objects.get(pk=second.pk).gateway_refund_id == "re_2"

        moves = [(s["previous"], s["current"]) for s in signal_log.of("refund_status_changed")]
        assert moves == [
            ("", RefundStatus.REQUESTED),
            (RefundStatus.REQUESTED, RefundStatus.SUCCEEDED),
            ("", RefundStatus.REQUESTED),
            (RefundStatus.REQUESTED, RefundStatus.SUCCEEDED),
        ]
        invoice_moves = [
            (s["previous"], s["current"]) for s in signal_log.of("invoice_status_changed")
        ]
        assert invoice_moves == [(S.PAID, S.PARTIALLY_REFUNDED), (S.PARTIALLY_REFUNDED, S.REFUNDED)]

    def test_settled_refund_never_changes(self, signal_log: SignalLog) -> None:
        invoice = paid_invoice()
        refund, _ = reserve_refund(invoice.pk, Decimal("30.00"))
        apply_refund_result(refund.pk, RefundResult(status=RefundStatus.SUCCEEDED))
        signal_log.sent.clear()
        apply_refund_result(refund.pk, RefundResult(status=RefundStatus.SUCCEEDED))
        apply_refund_result(refund.pk, RefundResult(status=RefundStatus.FAILED))
        assert Refund.objects.get(pk=refund.pk).status == RefundStatus.SUCCEEDED
        assert Invoice.objects.get(pk=invoice.pk).refunded_amount == Decimal("30.00")
        assert signal_log.sent == []

    def test_refund_amount_mismatch(self) -> None:
        invoice = paid_invoice()
        refund, _ = reserve_refund(invoice.pk, Decimal("30.00"))
        with pytest.raises(AmountMismatch):
            apply_refund_result(
                refund.pk, RefundResult(status=RefundStatus.SUCCEEDED, amount=Decimal("31.00"))
            )
        assert Refund.objects.get(pk=refund.pk).status == RefundStatus.REQUESTED
        assert Invoice.objects.get(pk=invoice.pk).refunded_amount == 0

    def test_run_refund_connection_error_leaves_requested(self, signal_log: SignalLog) -> None:
        invoice = paid_invoice()
        refund, _ = reserve_refund(invoice.pk, Decimal("30.00"))
        signal_log.sent.clear()

        def call(_: Refund) -> RefundResult:
            raise GatewayConnectionError("timed out", gateway="dummy")

        with pytest.raises(GatewayConnectionError):
            run_refund(refund, call, lambda data: data)
        refund.refresh_from_db()
        assert refund.status == RefundStatus.REQUESTED
        assert refund.failure_reason
        assert Invoice.objects.get(pk=invoice.pk).refunded_amount == 0
        assert signal_log.sent == []

    @pytest.mark.parametrize("http_status", [500, 502, None])
    def test_run_refund_server_error_outcome_unknown(
        self, signal_log: SignalLog, http_status: int | None
    ) -> None:
        """A 5xx (or an unreadable answer) may follow a refund that happened: never 'failed'."""
        invoice = paid_invoice()
        refund, _ = reserve_refund(invoice.pk, Decimal("30.00"))
        signal_log.sent.clear()

        def call(_: Refund) -> RefundResult:
            raise GatewayAPIError("HTTP 5xx", gateway="dummy", http_status=http_status)

        with pytest.raises(GatewayAPIError):
            run_refund(refund, call, lambda data: data)
        refund.refresh_from_db()
        assert refund.status == RefundStatus.REQUESTED
        assert "Outcome unknown" in refund.failure_reason
        assert signal_log.sent == []
        # Still reserved: a second refund cannot take the same money.
        with pytest.raises(RefundRefused):
            reserve_refund(invoice.pk, Decimal("80.00"))

    def test_run_refund_api_error_marks_failed(self, signal_log: SignalLog) -> None:
        invoice = paid_invoice()
        refund, _ = reserve_refund(invoice.pk, Decimal("30.00"))
        signal_log.sent.clear()

        def call(_: Refund) -> RefundResult:
            raise GatewayAPIError("HTTP 422: nope", gateway="dummy", http_status=422)

        with pytest.raises(RefundError, match="nope"):
            run_refund(refund, call, lambda data: data)
        refund.refresh_from_db()
        assert refund.status == RefundStatus.FAILED
        assert "nope" in refund.failure_reason
        invoice.refresh_from_db()
        assert (invoice.status, invoice.refunded_amount) == (S.PAID, 0)
        assert [(s["previous"], s["current"]) for s in signal_log.of("refund_status_changed")] == [
            (RefundStatus.REQUESTED, RefundStatus.FAILED)
        ]

    def test_run_refund_success_stores_redacted_answer(self) -> None:
        invoice = paid_invoice()
        refund, _ = reserve_refund(invoice.pk, Decimal("100.00"))

        def call(_: Refund) -> RefundResult:
            return RefundResult(
                status=RefundStatus.SUCCEEDED, gateway_refund_id="re_1", raw={"token": "t0p"}
            )

        done = run_refund(refund, call, lambda data: {k: "***" for k in data})
        assert done.status == RefundStatus.SUCCEEDED
        assert Refund.objects.get(pk=refund.pk).gateway_data == {"token": "***"}
        assert Invoice.objects.get(pk=invoice.pk).status == S.REFUNDED
