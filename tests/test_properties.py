"""Property tests: any mix of status reports, refunds and reconciliations keeps the books right."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_multipay import processing
from django_multipay.exceptions import AmountMismatch, RefundRefused
from django_multipay.gateways.results import RefundResult, StatusResult
from django_multipay.models import Invoice, Refund
from django_multipay.status import TRANSITIONS, InvoiceStatus, RefundStatus
from django_multipay.testing.factories import InvoiceFactory

AMOUNT = Decimal("100.00")

#: What a gateway may say an invoice costs: ours, another amount, or nothing at all.
reported_amounts = st.sampled_from([None, AMOUNT, Decimal("99.99"), Decimal("100.01")])
reported_currencies = st.sampled_from([None, "EUR", "BDT"])
status_reports = st.tuples(
    st.just("status"),
    st.sampled_from(list(InvoiceStatus)),
    reported_amounts,
    reported_currencies,
    st.sampled_from([None, Decimal("0"), Decimal("50.00"), AMOUNT, Decimal("150.00")]),
)
refund_requests = st.tuples(
    st.just("refund"),
    st.one_of(st.none(), st.decimals(min_value="0.01", max_value="120.00", places=2)),
    st.sampled_from(
        [None, RefundStatus.PENDING, RefundStatus.SUCCEEDED, RefundStatus.FAILED, "wrong-amount"]
    ),
)
refund_settlements = st.tuples(
    st.just("settle"),
    st.integers(min_value=0, max_value=5),
    st.sampled_from([RefundStatus.PENDING, RefundStatus.SUCCEEDED, RefundStatus.FAILED]),
)
reconciliations = st.tuples(st.just("reconcile"))
operations = st.lists(
    st.one_of(status_reports, refund_requests, refund_settlements, reconciliations), max_size=25
)


def reachable() -> set[str]:
    """Every status the table reaches from ``created``."""
    seen, todo = {InvoiceStatus.CREATED.value}, [InvoiceStatus.CREATED.value]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def snapshot(invoice: Invoice) -> tuple:
    invoice.refresh_from_db()
    refunds = tuple(Refund.objects.filter(invoice=invoice).values_list("pk", "status", "amount"))
    return (invoice.status, invoice.captured_amount, invoice.refunded_amount, refunds)


def run(invoice: Invoice, op: tuple) -> None:
    kind = op[0]
    if kind == "status":
        _, status, amount, currency, captured = op
        before = snapshot(invoice)
        try:
            processing.apply_status(
                invoice.pk,
                StatusResult(
                    status=status, amount=amount, currency=currency, captured_amount=captured
                ),
            )
        except AmountMismatch:
            assert snapshot(invoice) == before, "a refused status report changed something"
    elif kind == "refund":
        _, amount, outcome = op
        try:
            refund, _created = processing.reserve_refund(invoice.pk, amount)
        except RefundRefused:
            return
        if outcome == "wrong-amount":
            before = snapshot(invoice)
            with pytest.raises(AmountMismatch):
                processing.apply_refund_result(
                    refund.pk,
                    RefundResult(status=RefundStatus.SUCCEEDED, amount=refund.amount + 1),
                )
            assert snapshot(invoice) == before
        elif outcome is not None:
            processing.apply_refund_result(refund.pk, RefundResult(status=outcome))
    elif kind == "settle":
        _, index, outcome = op
        refunds = list(Refund.objects.filter(invoice=invoice).order_by("created_at", "pk"))
        if refunds:
            refund = refunds[index % len(refunds)]
            processing.apply_refund_result(refund.pk, RefundResult(status=outcome))
    else:
        # Reconciliation: the gateway's truth is what we already hold; it must change nothing.
        before = snapshot(invoice)
        invoice.refresh_from_db()
        processing.apply_status(
            invoice.pk,
            StatusResult(status=invoice.status, amount=invoice.amount, currency=invoice.currency),
        )
        assert snapshot(invoice) == before


def check_books(invoice: Invoice) -> None:
    invoice.refresh_from_db()
    assert 0 <= invoice.refunded_amount <= invoice.captured_amount <= invoice.amount
    succeeded = sum(
        (r.amount for r in invoice.refunds.filter(status=RefundStatus.SUCCEEDED)), Decimal(0)
    )
    assert succeeded == invoice.refunded_amount
    promised = sum(
        (r.amount for r in invoice.refunds.filter(status__in=processing.RESERVING_REFUND_STATUSES)),
        Decimal(0),
    )
    assert promised <= invoice.captured_amount


@pytest.mark.django_db
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(start=st.sampled_from([InvoiceStatus.CREATED, InvoiceStatus.PENDING]), ops=operations)
def test_any_sequence_keeps_refunds_within_capture_and_moves_by_the_table(
    start, ops, signal_log, django_capture_on_commit_callbacks
):
    invoice = InvoiceFactory(status=start, amount=AMOUNT, currency="EUR", order__amount=AMOUNT)
    order_id = invoice.order_id
    for op in ops:
        with django_capture_on_commit_callbacks(execute=True):
            run(invoice, op)
        check_books(invoice)

    moves = [
        (sent["previous"], sent["current"])
        for sent in signal_log.of("invoice_status_changed")
        if sent["invoice"].pk == invoice.pk
    ]
    # Every move is in the table, and the moves chain from where the invoice started.
    current = start.value
    for previous, new in moves:
        assert previous == current
        assert new in TRANSITIONS[previous], f"{previous} -> {new} is not in the table"
        current = new
    invoice.refresh_from_db()
    assert invoice.status == current
    assert invoice.status in reachable()
    paid = [sent for sent in signal_log.of("order_paid") if sent["order"].pk == order_id]
    assert len(paid) <= 1
    if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.PARTIALLY_REFUNDED):
        assert len(paid) == 1
