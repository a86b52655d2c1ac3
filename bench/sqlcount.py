"""SQL statements per operation, counted on the wire (libpq's trace), BEGIN and COMMIT included."""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import django

#: What libpq's trace calls a statement sent by the client: a simple query, or the parse
#: step of an extended-protocol one (psycopg's server-side binding).
STATEMENT_MESSAGES = ("\tQuery\t", "\tParse\t")


@contextmanager
def wire_statements() -> Iterator[list[str]]:
    """Every statement the default connection sends to PostgreSQL inside the block.

    Read from libpq's own protocol trace, so BEGIN, COMMIT and SAVEPOINT count as they do
    on the server, whatever Django logs."""
    from django.db import connection

    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    statements: list[str] = []
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        try:
            yield statements
        finally:
            pgconn.untrace()
            trace.seek(0)
            for line in trace.read().decode("utf-8", "replace").splitlines():
                fields = line.split("\t")
                if len(fields) > 4 and fields[1] == "F" and fields[3] in ("Query", "Parse"):
                    statements.append(fields[-1].strip()[:160])
    # A connection opened inside the block would have escaped the trace.
    assert connection.connection.pgconn is pgconn, "the connection changed while counting"


def count(operation: Callable[[], Any]) -> tuple[int, list[str]]:
    with wire_statements() as statements:
        operation()
    return len(statements), statements


def measure() -> dict[str, Any]:
    """Count each operation's statements on the bench database (which it adds rows to)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench.seed import Target
    from bench.throughput import dummy_notification
    from django_multipay import money, payments
    from django_multipay.models import Invoice
    from django_multipay.sandbox import portpos as portpos_emulator
    from django_multipay.sandbox.store import store
    from django_multipay.status import InvoiceStatus
    from django_multipay.testing.factories import OrderFactory
    from django_multipay.testing.router import route_to_django

    results: dict[str, Any] = {}

    def record(name: str, operation: Callable[[], Any], expect: int = 200) -> None:
        def checked() -> None:
            status = operation()
            assert status == expect, f"{name}: answered {status}, expected {expect}"

        total, statements = count(checked)
        results[name] = {"statements": total, "sql": statements}

    _clear()
    store.reset()
    # The emulators' notifications are meant to go nowhere here; their warnings are noise.
    logging.getLogger("django_multipay.sandbox").setLevel(logging.ERROR)
    User = get_user_model()
    admin = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "admin@example.com", "bench-admin"
    )
    staff = Client()
    staff.force_login(admin)
    shop = Client()

    # The emulators answer in this process, and only their API: the notifications they would
    # send back (to our BASE_URL) go nowhere, so each operation counts its own statements.
    with route_to_django(urlsplit(settings.EMULATOR_URL).netloc):
        order = OrderFactory(amount=Decimal("50.00"), currency="EUR")
        record(
            "pay",
            lambda: (
                shop.post(f"/payments/pay/{order.public_id}/", {"gateway": "dummy"}).status_code
            ),
            expect=302,
        )
        invoice = Invoice.objects.get(order=order)
        with store.table("dummy.payments") as table:  # the customer paid at the gateway
            table[invoice.gateway_id].update(status="paid", captured_amount="50.00")
        body, headers = dummy_notification(
            Target(
                str(invoice.pk),
                invoice.gateway_id,
                money.format_decimal(invoice.amount, invoice.currency),
                invoice.currency,
            )
        )
        content_type = headers.pop("Content-Type")

        def notify() -> int:
            return shop.post(
                "/payments/notify/dummy/", body, content_type=content_type, headers=headers
            ).status_code

        record("notification_first", notify)
        record("notification_duplicate", notify)

        # PortPos: its IPN is validated server-to-server before anything changes.
        other = OrderFactory(amount=Decimal("500.00"), currency="BDT")
        payments.start_payment(other, "portpos")
        portpos_invoice = Invoice.objects.get(order=other)
        with store.table(portpos_emulator.TABLE) as table:
            held = table[portpos_invoice.gateway_id]
            portpos_emulator.settle_payment(held, "pay")
            fields = portpos_emulator.ipn_fields(held)
        record(
            "portpos_ipn_first",
            lambda: (
                shop.post(
                    "/payments/notify/portpos/",
                    urlencode(fields),
                    content_type="application/x-www-form-urlencoded",
                ).status_code
            ),
        )

        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        record(
            "refund",
            lambda: (
                staff.post(
                    f"/api/invoices/{invoice.pk}/refunds/",
                    {"amount": "10.00"},
                    content_type="application/json",
                ).status_code
            ),
            expect=201,
        )

    # Lists: the same statements for 1 item as for 50 (API) or 100 (admin) rows.
    lists: dict[str, tuple[Callable[[], str], Callable[[int], None], int]] = {
        "api_orders": (lambda: "/api/orders/?page_size=100", _orders, 50),
        "api_notifications": (lambda: "/api/notifications/?page_size=100", _notifications, 50),
        "api_invoice_refunds": (_refunds_url, _refunds, 50),
        "admin_invoices": (lambda: "/admin/django_multipay/invoice/", _invoices, 100),
    }
    for name, (url, fill, many) in lists.items():
        for rows in (1, many):
            _clear()
            fill(rows)
            address = url()
            record(f"{name}_{rows}", lambda address=address: staff.get(address).status_code)
    _clear()
    return results


def _clear() -> None:
    from django_multipay.models import Invoice, Notification, Order, OrderItem, Refund

    for model in (Refund, Notification, OrderItem, Invoice, Order):
        model.objects.all().delete()


def _orders(rows: int) -> None:
    from django_multipay.testing.factories import InvoiceFactory, OrderItemFactory

    for _ in range(rows):
        OrderItemFactory(order=InvoiceFactory().order)


def _notifications(rows: int) -> None:
    from django_multipay.testing.factories import InvoiceFactory, NotificationFactory

    NotificationFactory.create_batch(rows, gateway="dummy", invoice=InvoiceFactory())


def _refunds(rows: int) -> None:
    from django_multipay.testing.factories import InvoiceFactory, RefundFactory

    invoice = InvoiceFactory(paid=True, amount=Decimal("100.00"))
    RefundFactory.create_batch(rows, invoice=invoice, amount=Decimal("1.00"))


def _refunds_url() -> str:
    from django_multipay.models import Invoice

    return f"/api/invoices/{Invoice.objects.get().pk}/refunds/?page_size=100"


def _invoices(rows: int) -> None:
    from django_multipay.testing.factories import InvoiceFactory

    InvoiceFactory.create_batch(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sql", action="store_true", help="print each statement too")
    args = parser.parse_args()
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    for name, result in measure().items():
        print(f"{name:28} {result['statements']:3}")
        if args.sql:
            for statement in result["sql"]:
                print(f"    {statement}")


if __name__ == "__main__":
    main()
