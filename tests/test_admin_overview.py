"""The admin's payments overview: figures, charts, links to exactly the rows, queries, access."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_multipay import overview
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.factories import InvoiceFactory, OrderFactory

URL = "/admin/django_multipay/paymentsoverview/"
S = InvoiceStatus


def invoice(status: str, *, age: timedelta = timedelta(hours=1), **fields: Any) -> Invoice:
    paid = status in (S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED)
    made = InvoiceFactory(
        status=status, captured_amount=Decimal("50.00") if paid else Decimal(0), **fields
    )
    Invoice.objects.filter(pk=made.pk).update(created_at=timezone.now() - age)
    made.refresh_from_db()
    return made


@pytest.fixture
def staff(db) -> Client:
    user = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client = Client()
    client.force_login(user)
    return client


def test_figures_per_alias(staff):
    for status in (S.PAID, S.PAID, S.FAILED, S.CANCELLED, S.EXPIRED, S.PENDING):
        invoice(status)
    invoice(S.PAID, gateway="portpos", order=OrderFactory(amount=Decimal("50.00"), currency="BDT"))
    invoice(S.PAID, age=timedelta(days=10))  # before the period
    refunded = invoice(S.PARTIALLY_REFUNDED)
    Refund.objects.create(
        invoice=refunded, amount=Decimal("20.00"), currency="EUR", status=RefundStatus.SUCCEEDED
    )

    response = staff.get(URL, {"period": "7d"})

    assert response.status_code == 200
    rows = {row["alias"]: row for row in response.context["rows"]}
    dummy = rows["dummy"]
    assert (dummy["started"], dummy["paid"], dummy["failed"]) == (7, 3, 1)
    assert (dummy["cancelled"], dummy["expired"]) == (1, 1)
    assert dummy["conversion"] == "42.9%"
    assert dummy["paid_amounts"] == ["€150.00"]
    assert dummy["refunded_amounts"] == ["€20.00"]
    assert rows["portpos"]["paid_amounts"] == ["BDT\xa050.00"]
    html = response.content.decode()
    assert 'role="img"' in html
    assert '<title id="mp-paid-eur-title">Paid per day, EUR</title>' in html
    assert "mp-conversion-desc" in html


def test_one_alias_and_a_custom_range(staff):
    invoice(S.PAID, age=timedelta(days=40))
    invoice(S.PAID, gateway="portpos")
    today = timezone.localdate()
    first = today - timedelta(days=45)
    response = staff.get(
        URL,
        {
            "period": "custom",
            "start": first.isoformat(),
            "end": today.isoformat(),
            "gateway": "dummy",
        },
    )
    rows = response.context["rows"]
    assert [(row["alias"], row["started"]) for row in rows] == [("dummy", 1)]
    assert response.context["overview"].period.first == first


def test_a_range_that_ends_before_it_starts_is_said_and_the_default_shown(staff):
    today = timezone.localdate()
    response = staff.get(
        URL,
        {
            "period": "custom",
            "start": today.isoformat(),
            "end": (today - timedelta(days=2)).isoformat(),
        },
    )
    assert response.status_code == 200
    assert "The range ends before it starts." in response.content.decode()
    assert response.context["overview"].period == overview.Period.named("7d")


def follow(client: Client, url: str) -> tuple[int, set[Any]]:
    """The changelist a link opens: its row count and its rows' primary keys."""
    response = client.get(url)
    assert response.status_code == 200, url
    changelist = response.context["cl"]
    return changelist.result_count, {row.pk for row in changelist.result_list}


def test_each_attention_link_opens_exactly_its_rows(staff, settings):
    superuser = get_user_model().objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(superuser)
    now = timezone.now()
    awaiting = [
        invoice(S.PENDING, age=timedelta(hours=2)),
        invoice(S.PENDING, age=timedelta(hours=3)),
    ]
    invoice(S.PENDING, age=timedelta(minutes=5))  # young: its callback may still come
    lapsing = invoice(S.AUTHORIZED, hold_expires_at=now + timedelta(hours=5))
    invoice(S.AUTHORIZED, hold_expires_at=now + timedelta(days=3))
    unknown = Refund.objects.create(
        invoice=invoice(S.PAID),
        amount=Decimal("5.00"),
        currency="EUR",
        status=RefundStatus.REQUESTED,
    )
    Refund.objects.create(
        invoice=invoice(S.PAID),
        amount=Decimal("5.00"),
        currency="EUR",
        status=RefundStatus.SUCCEEDED,
    )
    rejected = [
        Notification.objects.create(
            gateway="dummy",
            method="POST",
            path="/",
            result=NotificationResult.REJECTED,
            reason="bad signature",
        )
        for _ in range(2)
    ]
    Notification.objects.create(
        gateway="dummy", method="POST", path="/", result=NotificationResult.PROCESSED
    )

    response = client.get(URL)
    items = {item["label"]: item for item in response.context["attention"]}
    expected = {
        "Invoices awaiting the gateway's word for over 15 minutes": {i.pk for i in awaiting},
        "Holds lapsing within 24 hours": {lapsing.pk},
        "Refunds whose outcome is unknown": {unknown.pk},
        "Notifications rejected: bad signature": {n.pk for n in rejected},
    }
    assert set(items) == set(expected)
    for label, rows in expected.items():
        assert items[label]["count"] == len(rows)
        assert follow(client, items[label]["url"]) == (len(rows), rows), label
        # The link names its moments: it opens the same rows whenever it is followed.
        query = dict(parse_qsl(urlsplit(items[label]["url"]).query))
        assert not any(value == "" for value in query.values()), query


def add_invoices(order: Any, first: int, last: int) -> None:
    Invoice.objects.bulk_create(
        Invoice(
            order=order,
            gateway=("dummy", "portpos")[n % 2],
            gateway_id=f"bulk_{n}",
            amount=Decimal("50.00"),
            currency="EUR",
            status=(S.PAID, S.FAILED, S.PENDING)[n % 3],
            captured_amount=Decimal("50.00") if n % 3 == 0 else Decimal(0),
        )
        for n in range(first, last)
    )
    Invoice.objects.update(created_at=timezone.now() - timedelta(hours=2))


def test_its_queries_do_not_grow_with_the_invoices(staff):
    order = OrderFactory(amount=Decimal("50.00"), currency="EUR")
    staff.get(URL)  # the session and the user are read once
    counts = []
    for first, last in ((0, 10), (10, 10_000)):
        add_invoices(order, first, last)
        with CaptureQueriesContext(connection) as queries:
            response = staff.get(URL)
        assert sum(row["started"] for row in response.context["rows"]) == last
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[0] <= 12


def test_staff_without_the_invoice_view_permission_get_403(db):
    user = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 403
    index = client.get("/admin/").content.decode()
    assert "Payments overview" not in index


def test_it_is_listed_for_those_who_may_see_it(staff):
    assert "Payments overview" in staff.get("/admin/").content.decode()
    assert "Payments overview" in staff.get("/admin/django_multipay/").content.decode()


def test_nobody_signed_out_sees_it(db):
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
