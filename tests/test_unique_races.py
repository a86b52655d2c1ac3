"""Every unique key a request can reach, raced on PostgreSQL: the loser gets the documented
answer (409, 400, a duplicate), never a 500 from an ``IntegrityError``.

The checks before an insert ("is this key taken?") pass for both racers; the database's unique
index is what refuses the second. To make that happen every time rather than now and then,
the racers wait for each other at a barrier placed just before the insert, after every check.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from django_multipay import payments, processing
from django_multipay.exceptions import GatewayError, InvalidRequest, RefundRefused
from django_multipay.gateways.dummy import SIGNATURE_HEADER, DummyGateway, sign
from django_multipay.gateways.results import PaymentStart
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.concurrency import WAIT, race
from django_multipay.testing.concurrency import http_server as serve
from django_multipay.testing.factories import OrderFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: unique indexes across real concurrent connections "
        "(set DATABASE_URL=postgres://...)",
    ),
    pytest.mark.django_db(transaction=True),
]

ALIAS = "dummy"
AMOUNT = Decimal("40.00")


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture
def emulator_server(http_server: str, settings: Any) -> Iterator[str]:
    """The ``dummy`` alias (and our own URLs) over real HTTP, so each racer is independent."""
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][ALIAS]["OPTIONS"]["base_url"] = f"{http_server}/sandbox/dummy/"
    config["BASE_URL"] = http_server
    config["HTTP_TIMEOUT"] = (10.0, WAIT)
    settings.MULTIPAY = config
    store.reset()
    yield http_server
    store.reset()


class InsertBarrier:
    """Hold the first ``parties`` inserts of ``model`` until all of them got there.

    Each racer has passed every check our code makes before it inserts; the barrier only
    makes sure that none of them commits before the others have checked."""

    def __init__(self, monkeypatch: Any, model: type, parties: int = 2) -> None:
        self.barrier = threading.Barrier(parties, timeout=WAIT)
        self.left = parties
        self.lock = threading.Lock()
        original = model.save

        def save(instance: Any, *args: Any, **kwargs: Any) -> Any:
            if instance._state.adding:
                with self.lock:
                    wait = self.left > 0
                    self.left -= 1
                if wait:
                    self.barrier.wait()
            return original(instance, *args, **kwargs)

        monkeypatch.setattr(model, "save", save)


def paid_invoice() -> Invoice:
    order = OrderFactory(amount=AMOUNT, currency="EUR")
    payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    with store.table("dummy.payments") as table:
        table[invoice.gateway_id].update(status="paid", captured_amount=str(AMOUNT))
    payments.refresh(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice


def staff_client(user: Any) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_multipay"))
    return user


def refund_call(user: Any, invoice: Invoice, key: str) -> Callable[[], Any]:
    def call() -> Any:
        return staff_client(user).post(
            f"/api/invoices/{invoice.pk}/refunds/",
            {"amount": "10.00", "reason": "race"},
            format="json",
            headers={"Idempotency-Key": key},
        )

    return call


def assert_no_exceptions(results: list[Any]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} racer(s) raised, first: {errors[0]!r}"


def test_one_idempotency_key_on_two_invoices_at_once_is_409(
    emulator_server: str, staff: Any, monkeypatch: Any, settings: Any
) -> None:
    settings.ROOT_URLCONF = "tests.api.urls"
    first, second = paid_invoice(), paid_invoice()
    InsertBarrier(monkeypatch, Refund)

    results = race(
        [refund_call(staff, first, "same-key-1"), refund_call(staff, second, "same-key-1")]
    )

    assert_no_exceptions(results)
    assert sorted(r.status_code for r in results) == [201, 409], [r.content for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["code"] == "idempotency_key_reused"
    assert Refund.objects.filter(idempotency_key="same-key-1").count() == 1
    winner = Refund.objects.get(idempotency_key="same-key-1")
    refunded = {}
    with store.table("dummy.payments") as table:
        for pk in (first.pk, second.pk):
            refunded[pk] = table[Invoice.objects.get(pk=pk).gateway_id].get("refunded_amount")
    assert Decimal(refunded[winner.invoice_id]) == Decimal("10.00")
    other = second.pk if winner.invoice_id == first.pk else first.pk
    assert Decimal(refunded[other] or 0) == 0


def test_unpaced_idempotency_key_races_never_answer_500(
    emulator_server: str, staff: Any, settings: Any
) -> None:
    """The run that found the 500: ten requests, one key, two invoices, no barrier."""
    settings.ROOT_URLCONF = "tests.api.urls"
    for round_ in range(3):
        first, second = paid_invoice(), paid_invoice()
        key = f"unpaced-{round_}"
        calls = [refund_call(staff, first, key), refund_call(staff, second, key)] * 5
        results = race(calls)
        assert_no_exceptions(results)
        codes = Counter(r.status_code for r in results)
        assert set(codes) <= {200, 201, 409}, [r.content for r in results]
        # Every success names the one refund the key made (a replay that raced the first
        # request may be answered 201 rather than 200: it could not see the refund yet).
        made = {r.json()["id"] for r in results if r.status_code in (200, 201)}
        assert len(made) == 1
        refused = [r.json()["code"] for r in results if r.status_code == 409]
        assert set(refused) <= {"idempotency_key_reused"}
        assert Refund.objects.filter(idempotency_key=key).count() == 1


def test_python_api_refunds_raced_on_one_key_raise_refund_error(
    emulator_server: str, monkeypatch: Any
) -> None:
    first, second = paid_invoice(), paid_invoice()
    InsertBarrier(monkeypatch, Refund)

    results = race(
        [
            lambda: payments.refund(first, Decimal("5.00"), idempotency_key="py-key"),
            lambda: payments.refund(second, Decimal("5.00"), idempotency_key="py-key"),
        ]
    )

    refused = [r for r in results if isinstance(r, RefundRefused)]
    assert len([r for r in results if isinstance(r, Refund)]) == 1, results
    assert [e.code for e in refused] == ["idempotency_key_reused"], results


def test_one_order_reference_created_twice_at_once(
    staff: Any, monkeypatch: Any, settings: Any
) -> None:
    settings.ROOT_URLCONF = "tests.api.urls"
    InsertBarrier(monkeypatch, Order)

    def create() -> Any:
        return staff_client(staff).post(
            "/api/orders/",
            {"reference": "RACE-1", "amount": "5.00", "currency": "EUR"},
            format="json",
        )

    results = race([create, create])

    assert_no_exceptions(results)
    assert sorted(r.status_code for r in results) == [201, 400], [r.content for r in results]
    loser = next(r for r in results if r.status_code == 400).json()
    assert loser["code"] == "invalid"
    assert "reference" in loser["fields"]
    assert Order.objects.filter(reference="RACE-1").count() == 1


def test_python_api_orders_raced_on_one_reference_raise_invalid_request(
    monkeypatch: Any,
) -> None:
    InsertBarrier(monkeypatch, Order)

    def create() -> Any:
        return payments.create_order(reference="RACE-2", amount="5.00", currency="EUR")

    results = race([create, create])

    refused = [r for r in results if isinstance(r, InvalidRequest)]
    assert len([r for r in results if isinstance(r, Order)]) == 1, results
    assert len(refused) == 1, results
    assert "reference" in refused[0].fields


def signed(invoice: Invoice, event_id: str) -> tuple[bytes, str]:
    from django.conf import settings

    body = json.dumps(
        {
            "id": event_id,
            "type": "payment.paid",
            "data": {"payment_id": invoice.gateway_id, "reference": str(invoice.pk)},
        }
    ).encode()
    secret = str(settings.MULTIPAY["GATEWAYS"][ALIAS]["OPTIONS"]["webhook_secret"])
    return body, sign(secret, int(time.time()), body)


@pytest.mark.parametrize("trusted", [False, True], ids=["read-back", "trusted-signature"])
def test_one_deduplication_key_on_two_invoices_at_once(
    emulator_server: str, monkeypatch: Any, settings: Any, trusted: bool
) -> None:
    """Two notifications naming one event id for two invoices: one applies, the other is a
    duplicate (200), as it is when they arrive one after the other; neither is stored failed.

    Both have found the key unclaimed (each under its own invoice's lock) and changed their
    invoice; they meet just before the claim is written: the stored row's key (read back) or
    the row itself (a trusted signature stores it with the change)."""
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][ALIAS]["OPTIONS"]["trust_signed_notifications"] = trusted
    settings.MULTIPAY = config
    invoices = []
    for _ in range(2):
        order = OrderFactory(amount=AMOUNT, currency="EUR")
        payments.start_payment(order, ALIAS)
        invoice = Invoice.objects.get(order=order)
        with store.table("dummy.payments") as table:
            table[invoice.gateway_id].update(status="paid", captured_amount=str(AMOUNT))
        invoices.append(invoice)
    barrier = threading.Barrier(2, timeout=WAIT)
    met: list[str] = []
    lock = threading.Lock()

    def meet(key: str) -> None:
        with lock:
            wait = len(met) < 2
            met.append(key)
        if wait:
            barrier.wait()

    # The notify flow writes rows through processing's statements built once: the claim is
    # an UPDATE of the stored row (read-back) or the INSERT of a new one (trusted signature).
    real_save_fields, real_insert_row = processing.save_fields, processing.insert_row

    def save_fields(instance: Any, fields: Any) -> None:
        if isinstance(instance, Notification) and "dedup_key" in fields and instance.dedup_key:
            meet(instance.dedup_key)
        real_save_fields(instance, fields)

    def insert_row(instance: Any) -> None:
        if isinstance(instance, Notification) and instance.dedup_key:
            meet(instance.dedup_key)
        real_insert_row(instance)

    monkeypatch.setattr(processing, "save_fields", save_fields)
    monkeypatch.setattr(processing, "insert_row", insert_row)
    url = reverse("django_multipay:notify", kwargs={"alias": ALIAS})

    def call(invoice: Invoice) -> Callable[[], Any]:
        body, signature = signed(invoice, "evt-shared")

        def post() -> Any:
            return Client().post(
                url,
                data=body,
                content_type="application/json",
                headers={SIGNATURE_HEADER: signature},
            )

        return post

    results = race([call(invoices[0]), call(invoices[1])])

    assert_no_exceptions(results)
    assert met[:2] == ["evt-shared", "evt-shared"]  # both got to the claim
    assert [r.status_code for r in results] == [200, 200], [r.content for r in results]
    stored = Counter(Notification.objects.values_list("result", flat=True))
    assert stored == {NotificationResult.PROCESSED: 1, NotificationResult.DUPLICATE: 1}
    assert Notification.objects.exclude(dedup_key="").count() == 1
    statuses = sorted(Invoice.objects.values_list("status", flat=True))
    assert statuses == sorted([InvoiceStatus.PAID, InvoiceStatus.PENDING])


def test_a_gateway_id_another_invoice_has_is_a_bad_gateway_answer(
    emulator_server: str, staff: Any, monkeypatch: Any, settings: Any
) -> None:
    """A gateway that answers two payments with one id: the second is refused (502), its
    invoice failed; the first keeps its id."""
    settings.ROOT_URLCONF = "tests.api.urls"
    real_start = DummyGateway.start_payment

    def same_id(self: DummyGateway, invoice: Invoice, urls: Any) -> PaymentStart:
        return dataclasses.replace(real_start(self, invoice, urls), gateway_id="pay_same")

    monkeypatch.setattr(DummyGateway, "start_payment", same_id)
    orders = [OrderFactory(amount=AMOUNT, currency="EUR", user=staff) for _ in range(2)]

    results = race(
        [
            lambda order=order: staff_client(staff).post(
                f"/api/orders/{order.public_id}/pay/", {"gateway": ALIAS}, format="json"
            )
            for order in orders
        ]
    )

    assert_no_exceptions(results)
    assert sorted(r.status_code for r in results) == [201, 502], [r.content for r in results]
    assert next(r for r in results if r.status_code == 502).json()["code"] == "gateway_api_error"
    assert Invoice.objects.filter(gateway_id="pay_same").count() == 1
    statuses = Counter(Invoice.objects.values_list("status", flat=True))
    assert statuses == {InvoiceStatus.PENDING: 1, InvoiceStatus.FAILED: 1}


def test_one_key_raced_on_one_invoice_makes_one_refund(emulator_server: str) -> None:
    """Same invoice, same key: the invoice lock serialises them; both get the one refund."""
    invoice = paid_invoice()
    results = race(
        [lambda: payments.refund(invoice, Decimal("5.00"), idempotency_key="same-invoice")] * 4
    )
    assert_no_exceptions(results)
    assert len({r.pk for r in results}) == 1
    assert not any(isinstance(r, GatewayError) for r in results)


def test_a_status_naming_another_invoices_gateway_id_still_applies(emulator_server: str) -> None:
    """A status read that gives an invoice without an id one another invoice has: the status
    is applied, the id is not recorded (its unique index would refuse the whole change)."""
    from django_multipay import processing
    from django_multipay.gateways.results import StatusResult

    first = paid_invoice()
    order = OrderFactory(amount=AMOUNT, currency="EUR")
    second = Invoice.objects.create(order=order, gateway=ALIAS, amount=AMOUNT, currency="EUR")

    outcome = processing.apply_status(
        second.pk, StatusResult(status=InvoiceStatus.PENDING, gateway_id=first.gateway_id)
    )

    second.refresh_from_db()
    assert outcome.current == InvoiceStatus.PENDING
    assert second.status == InvoiceStatus.PENDING
    assert second.gateway_id == ""
    assert Invoice.objects.filter(gateway_id=first.gateway_id).count() == 1
