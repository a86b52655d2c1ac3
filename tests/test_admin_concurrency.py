"""Refunds submitted from the admin at the same moment, on PostgreSQL: never more than captured.

Two staff members (or one double click) post the refund form at once, each request on its own
database connection; the gateway is the dummy emulator served over real HTTP in this process.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse

from django_multipay import payments
from django_multipay.models import Invoice, Refund
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.concurrency import WAIT, http_server, race
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


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with http_server() as url:
        yield url


@pytest.fixture
def emulator(server: str, settings: Any) -> Iterator[str]:
    """The ``dummy`` alias and our own URLs on the real HTTP server."""
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["dummy"]["OPTIONS"]["base_url"] = f"{server}/sandbox/dummy/"
    config["BASE_URL"] = server
    config["HTTP_TIMEOUT"] = (10.0, WAIT)
    settings.MULTIPAY = config
    store.reset()
    yield server
    store.reset()


def paid_invoice(server: str) -> Invoice:
    invoice_order = OrderFactory(amount=Decimal("100.00"), currency="EUR")
    payments.start_payment(invoice_order, "dummy")
    invoice = Invoice.objects.get(order=invoice_order)
    paid = requests.post(
        f"{server}/sandbox/dummy/pay/{invoice.gateway_id}",
        {"outcome": "paid"},
        allow_redirects=False,
        timeout=WAIT,
    )
    assert paid.status_code == 302, paid.text  # The emulator notified us, then sends back.
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice


def staff_client(name: str) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(name, f"{name}@example.com", "x"))
    return client


def refund_form(client: Client, invoice: Invoice) -> str:
    page = client.get(reverse("admin:django_multipay_invoice_refund", args=[invoice.pk]))
    assert page.status_code == 200
    return str(page.context["form"].initial["idempotency_key"])


def submit(client: Client, invoice: Invoice, amount: str, key: str) -> Callable[[], Any]:
    url = reverse("admin:django_multipay_invoice_refund", args=[invoice.pk])

    def call() -> list[str]:
        done = client.post(url, {"amount": amount, "reason": "race", "idempotency_key": key})
        assert done.status_code == 302, done.content
        shown = client.get(done["Location"])
        # The messages of this very request: the test client's captured template context is
        # process-wide, so under a race it may hold the other thread's page.
        return [str(m) for m in get_messages(shown.wsgi_request)]

    return call


def test_two_staff_refund_more_than_is_left_at_once(emulator: str) -> None:
    invoice = paid_invoice(emulator)
    ana, ben = staff_client("ana"), staff_client("ben")
    ana_key, ben_key = refund_form(ana, invoice), refund_form(ben, invoice)

    results = race([submit(ana, invoice, "60.00", ana_key), submit(ben, invoice, "60.00", ben_key)])

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    shown = [m for messages in results for m in messages]
    assert len(shown) == 2, shown
    assert sum(m.startswith("Refunded €60.00") for m in shown) == 1, shown
    assert sum("exceeds the refundable €40.00." in m for m in shown) == 1, shown
    [refund] = Refund.objects.filter(invoice=invoice)
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.requested_by is not None
    assert refund.requested_by.username in ("ana", "ben")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert invoice.refunded_amount == Decimal("60.00")
    with store.table("dummy.payments") as table:
        assert table[invoice.gateway_id]["refunded_amount"] == "60.00"


def test_a_double_click_refunds_once(emulator: str) -> None:
    invoice = paid_invoice(emulator)
    ana = staff_client("ana")
    key = refund_form(ana, invoice)
    other = Client()
    other.force_login(User.objects.get(username="ana"))  # the same user, a second request

    results = race([submit(ana, invoice, "25.00", key), submit(other, invoice, "25.00", key)])

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    [refund] = Refund.objects.filter(invoice=invoice)
    assert refund.idempotency_key == key
    assert refund.status == RefundStatus.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("25.00")
    with store.table("dummy.payments") as table:
        payment = table[invoice.gateway_id]
        assert payment["refunded_amount"] == "25.00"
        assert len(payment["_refunds"]) == 1
