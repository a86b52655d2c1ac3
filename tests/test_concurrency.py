"""Exactly once, proven with real concurrent connections on PostgreSQL.

Every test here starts many threads, each with its own database connection, holds them at a
``threading.Barrier`` and releases them together against one invoice: repeated notifications,
a notification racing the customer's return, and refunds racing each other. Row locks
(``select_for_update``) and ``transaction.on_commit`` are what keep each transition and each
signal single; SQLite serialises writers in its own way and cannot show this, so the module is
skipped there.

The gateway's server-to-server status read goes over real HTTP to the dummy emulator, served
by Django's live-server thread on 127.0.0.1 in this process (so the test can set the emulator's
state directly in its in-memory store, without the emulator delivering a notification of its own).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import F, Sum
from django.test import Client
from django.urls import reverse

from django_multipay import payments, signals
from django_multipay.exceptions import RefundRefused
from django_multipay.gateways.dummy import SIGNATURE_HEADER, sign
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.processing import RESERVING_REFUND_STATUSES
from django_multipay.sandbox import dummy as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.concurrency import WAIT, race
from django_multipay.testing.concurrency import http_server as serve
from django_multipay.testing.factories import OrderFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: row locks across real concurrent connections "
        "(set DATABASE_URL=postgres://...)",
    ),
    pytest.mark.django_db(transaction=True),
]

ROUNDS = 20
THREADS = 20
AMOUNT = Decimal("100.00")
ALIAS = "dummy"


# -- helpers ---------------------------------------------------------------------------------


def in_fresh_connection(read: Callable[[], Any]) -> Any:
    """Run ``read`` in another thread, hence another connection: it sees only committed rows."""
    seen: list[Any] = []

    def run() -> None:
        try:
            seen.append(read())
        except BaseException as exc:  # Reported to the caller.
            seen.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=WAIT)
    return seen[0] if seen else TimeoutError("the fresh connection never answered")


@dataclass(frozen=True)
class Sent:
    """One signal as a receiver saw it."""

    name: str
    invoice_id: Any
    order_id: Any
    previous: str
    current: str
    in_atomic_block: bool
    committed_invoice_status: Any = None
    committed_order_status: Any = None


class SignalRecorder:
    """Thread-safe receivers for ``invoice_status_changed`` and ``order_paid``.

    With ``check_commit`` each receiver also reads the invoice and order from a fresh
    connection, to see what is committed at the moment the signal is sent.
    """

    def __init__(self, *, check_commit: bool = False) -> None:
        self.check_commit = check_commit
        self._lock = threading.Lock()
        self._sent: list[Sent] = []

    def _record(self, name: str, **kwargs: Any) -> None:
        invoice = kwargs["invoice"]
        committed_invoice = committed_order = None
        if self.check_commit:
            committed_invoice = in_fresh_connection(
                lambda: Invoice.objects.values_list("status", flat=True).get(pk=invoice.pk)
            )
            committed_order = in_fresh_connection(
                lambda: Order.objects.values_list("status", flat=True).get(pk=invoice.order_id)
            )
        sent = Sent(
            name=name,
            invoice_id=invoice.pk,
            order_id=invoice.order_id,
            previous=str(kwargs.get("previous", "")),
            current=str(kwargs.get("current", "")),
            in_atomic_block=connection.in_atomic_block,
            committed_invoice_status=committed_invoice,
            committed_order_status=committed_order,
        )
        with self._lock:
            self._sent.append(sent)

    def invoice_status_changed(self, sender: Any, **kwargs: Any) -> None:
        self._record("invoice_status_changed", **kwargs)

    def order_paid(self, sender: Any, **kwargs: Any) -> None:
        self._record("order_paid", **kwargs)

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()

    def of(self, name: str, invoice: Invoice) -> list[Sent]:
        with self._lock:
            return [s for s in self._sent if s.name == name and s.invoice_id == invoice.pk]


@pytest.fixture
def recorder() -> Iterator[SignalRecorder]:
    recorder = SignalRecorder()
    signals.invoice_status_changed.connect(recorder.invoice_status_changed)
    signals.order_paid.connect(recorder.order_paid)
    yield recorder
    signals.invoice_status_changed.disconnect(recorder.invoice_status_changed)
    signals.order_paid.disconnect(recorder.order_paid)


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """A real HTTP server for the test urlconf (emulator under ``/sandbox/``) on 127.0.0.1."""
    with serve() as url:
        yield url


@pytest.fixture
def emulator_server(http_server: str, settings: Any) -> Iterator[str]:
    """Point the ``dummy`` alias (and our own URLs) at the real HTTP server."""
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][ALIAS]["OPTIONS"]["base_url"] = f"{http_server}/sandbox/dummy/"
    config["BASE_URL"] = http_server
    config["HTTP_TIMEOUT"] = (10.0, WAIT)
    settings.MULTIPAY = config
    store.reset()
    yield http_server
    store.reset()


def webhook_secret() -> str:
    from django.conf import settings

    return str(settings.MULTIPAY["GATEWAYS"][ALIAS]["OPTIONS"]["webhook_secret"])


def paid_at_gateway(amount: Decimal = AMOUNT) -> Invoice:
    """A pending invoice whose payment the emulator already holds as paid, undelivered.

    (Paying on the emulator's hosted page would make it notify the shop at once, settling
    the invoice before the race starts; here nobody has told the shop yet.)
    """
    order = OrderFactory(amount=amount, currency="EUR")
    payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.PENDING
    with store.table("dummy.payments") as table:
        payment = table[invoice.gateway_id]
        payment["status"] = "paid"
        payment["captured_amount"] = payment["amount"]
    return invoice


def signed_notification(invoice: Invoice) -> tuple[bytes, str]:
    """The body and signature header the emulator would send for the payment's state."""
    with store.table("dummy.payments") as table:
        body = json.dumps(emulator.notification_for(table[invoice.gateway_id])).encode()
    return body, sign(webhook_secret(), int(time.time()), body)


def notify_call(body: bytes, signature: str) -> Callable[[], Any]:
    url = reverse("django_multipay:notify", kwargs={"alias": ALIAS})

    def call() -> Any:
        return Client().post(
            url, data=body, content_type="application/json", headers={SIGNATURE_HEADER: signature}
        )

    return call


def return_call(invoice: Invoice) -> Callable[[], Any]:
    url = reverse("django_multipay:return", kwargs={"invoice_id": invoice.pk})

    def call() -> Any:
        return Client().get(url)

    return call


def assert_no_exceptions(results: list[Any]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} racing request(s) raised, first: {errors[0]!r}"


def assert_paid_once(invoice: Invoice, recorder: SignalRecorder) -> None:
    """One pending → paid transition, one order_paid, and the rows say paid."""
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == invoice.amount
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.PAID
    changes = recorder.of("invoice_status_changed", invoice)
    assert [(s.previous, s.current) for s in changes] == [
        (InvoiceStatus.PENDING, InvoiceStatus.PAID)
    ], changes
    assert len(recorder.of("order_paid", invoice)) == 1


def notification_results(invoice: Invoice) -> Counter[str]:
    return Counter(
        Notification.objects.filter(gateway=ALIAS, invoice=invoice).values_list("result", flat=True)
    )


# -- the races -------------------------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["read-back", "trusted-signature"])
def trust(request: Any, emulator_server: str, settings: Any) -> bool:
    """Run a race both ways: reading each notification back, and trusting its signature."""
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][ALIAS]["OPTIONS"]["trust_signed_notifications"] = request.param
    settings.MULTIPAY = config
    return bool(request.param)


def test_identical_notifications_apply_once(
    emulator_server: str, trust: bool, recorder: SignalRecorder
) -> None:
    for _ in range(ROUNDS):
        invoice = paid_at_gateway()
        body, signature = signed_notification(invoice)
        recorder.clear()  # Only what the race sends counts.

        results = race([notify_call(body, signature) for _ in range(THREADS)])

        assert_no_exceptions(results)
        assert_paid_once(invoice, recorder)
        assert [r.status_code for r in results] == [200] * THREADS, [
            r.content for r in results if r.status_code != 200
        ]
        assert notification_results(invoice) == {
            NotificationResult.PROCESSED: 1,
            NotificationResult.DUPLICATE: THREADS - 1,
        }
        claimed = Notification.objects.filter(invoice=invoice).exclude(dedup_key="")
        assert claimed.count() == 1


def test_notification_racing_return_applies_once(
    emulator_server: str, trust: bool, recorder: SignalRecorder
) -> None:
    half = THREADS // 2
    for _ in range(ROUNDS):
        invoice = paid_at_gateway()
        body, signature = signed_notification(invoice)
        recorder.clear()  # Only what the race sends counts.
        calls = [notify_call(body, signature), return_call(invoice)] * half

        results = race(calls)

        assert_no_exceptions(results)
        assert_paid_once(invoice, recorder)
        notified, returned = results[0::2], results[1::2]
        assert [r.status_code for r in notified] == [200] * half
        assert [r.status_code for r in returned] == [302] * half
        thanks = f"/shop/thanks/{invoice.order.reference}/"
        assert {r["Location"] for r in returned} == {thanks}
        stored = notification_results(invoice)
        assert sum(stored.values()) == half
        assert set(stored) <= {NotificationResult.PROCESSED, NotificationResult.DUPLICATE}
        assert stored[NotificationResult.PROCESSED] <= 1


def test_signals_are_sent_after_commit(emulator_server: str) -> None:
    recorder = SignalRecorder(check_commit=True)
    signals.invoice_status_changed.connect(recorder.invoice_status_changed)
    signals.order_paid.connect(recorder.order_paid)
    try:
        for _ in range(5):
            invoice = paid_at_gateway()
            body, signature = signed_notification(invoice)
            recorder.clear()
            results = race([notify_call(body, signature), return_call(invoice)] * 5)
            assert_no_exceptions(results)

            assert_paid_once(invoice, recorder)
            for sent in (
                *recorder.of("invoice_status_changed", invoice),
                *recorder.of("order_paid", invoice),
            ):
                assert sent.in_atomic_block is False, f"{sent.name} sent inside a transaction"
                assert sent.committed_invoice_status == InvoiceStatus.PAID, sent
                assert sent.committed_order_status == OrderStatus.PAID, sent
    finally:
        signals.invoice_status_changed.disconnect(recorder.invoice_status_changed)
        signals.order_paid.disconnect(recorder.order_paid)


def test_racing_refunds_never_exceed_captured(emulator_server: str) -> None:
    invoice = paid_at_gateway()
    payments.refresh(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == AMOUNT
    share = AMOUNT * Decimal("0.30")

    def refund() -> Any:
        return payments.refund(Invoice.objects.get(pk=invoice.pk), share)

    results = race([refund] * 10)

    refused = [r for r in results if isinstance(r, RefundRefused)]
    refunded = [r for r in results if isinstance(r, Refund)]
    others = [r for r in results if not isinstance(r, (Refund, RefundRefused))]
    assert not others, others
    assert len(refunded) == 3, results
    assert {r.status for r in refunded} == {RefundStatus.SUCCEEDED}
    assert len(refused) == 7
    assert all(e.code == "refund_exceeds_captured" for e in refused), refused
    invoice.refresh_from_db()
    assert invoice.refunded_amount == 3 * share
    assert invoice.refunded_amount <= invoice.captured_amount
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    reserved = Refund.objects.filter(
        invoice=invoice, status__in=RESERVING_REFUND_STATUSES
    ).aggregate(total=Sum("amount"))["total"]
    assert reserved == 3 * share
    # The database's own check (refunded within captured) holds for the committed row.
    assert Invoice.objects.filter(pk=invoice.pk, refunded_amount__lte=F("captured_amount")).exists()
    with store.table("dummy.payments") as table:
        assert Decimal(table[invoice.gateway_id]["refunded_amount"]) == 3 * share
