"""The hot path's statements built once hold to what the ORM would write, column for column."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.db.models.signals import post_save
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from django_multipay import processing
from django_multipay.models import Invoice, Notification, Order
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.factories import InvoiceFactory, OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)

FIXED = datetime(2026, 12, 4, 8, 0, 0, 123456, tzinfo=timezone.utc)


def _row(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def _select(captured: CaptureQueriesContext) -> str:
    return next(q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT"))


def _selected(sql: str) -> list[str]:
    """The columns the locking read (or the ORM's select_related read) takes, in order."""
    table = connection.ops.quote_name(Invoice._meta.db_table)
    head = sql.split(f" FROM {table} INNER JOIN ", 1)[0].removeprefix("SELECT ")
    return [c.strip() for c in head.split(", ")]


@pytest.fixture
def invoice() -> Invoice:
    order = OrderFactory(amount=Decimal("12.34"), currency="EUR", metadata={"é": [1, 2]})
    return InvoiceFactory(
        order=order,
        gateway="dummy",
        gateway_id="pay_1",
        amount=Decimal("12.34"),
        currency="EUR",
        status=InvoiceStatus.PENDING,
        gateway_options={"x": "y"},
        gateway_data={"a": {"b": None}},
    )


@pytest.mark.parametrize(
    "lookup",
    [
        "pk",
        "pk-and-alias",
        "gateway-id",
    ],
)
@pytest.mark.parametrize("dedup_key", ["", "seen", "unseen"])
def test_locked_read_matches_the_orm(invoice: Invoice, lookup: str, dedup_key: str) -> None:
    if dedup_key == "seen":
        Notification.objects.create(gateway="dummy", method="POST", path="/", dedup_key="seen")
    shapes = {
        "pk": invoice.pk,
        "pk-and-alias": Q(pk=invoice.pk, gateway="dummy"),
        "gateway-id": Q(gateway="dummy", gateway_id="pay_1"),
    }
    with transaction.atomic():
        order, locked = processing.lock_invoice(shapes[lookup], dedup_key=dedup_key)
        by_orm_order, by_orm = processing._lock_with_orm(shapes[lookup], dedup_key)
    assert _row(locked) == _row(by_orm)
    assert _row(order) == _row(by_orm_order)
    assert locked.order is order  # as select_related leaves it: no second read
    assert locked.has_siblings is False
    assert getattr(locked, "key_seen", None) == getattr(by_orm, "key_seen", None)
    if dedup_key:
        assert locked.key_seen is (dedup_key == "seen")
    assert (locked._state.adding, locked._state.db) == (False, "default")
    assert (order._state.adding, order._state.db) == (False, "default")
    assert isinstance(locked.amount, Decimal)
    assert locked.amount == Decimal("12.34")
    assert locked.gateway_data == {"a": {"b": None}}
    assert order.metadata == {"é": [1, 2]}


def test_locked_read_selects_the_columns_the_orm_selects(invoice: Invoice) -> None:
    with CaptureQueriesContext(connection) as ours, transaction.atomic():
        processing.lock_invoice(invoice.pk)
    orm = str(Invoice.objects.select_related("order").order_by().filter(pk=invoice.pk).query)
    columns = _selected(_select(ours))
    assert columns[:-1] == _selected(orm)
    assert columns[-1].startswith("EXISTS (SELECT 1 FROM")  # has_siblings


def test_locked_read_sees_siblings_and_takes_the_lock(invoice: Invoice) -> None:
    InvoiceFactory(order=invoice.order, gateway="dummy", amount=invoice.amount)
    with CaptureQueriesContext(connection) as ours, transaction.atomic():
        _order, locked = processing.lock_invoice(invoice.pk)
    assert locked.has_siblings is True
    sql = _select(ours)
    assert sql.endswith(" FOR UPDATE") is connection.features.has_select_for_update


def test_locked_read_refuses_what_the_orm_refuses(invoice: Invoice) -> None:
    with transaction.atomic(), pytest.raises(Invoice.DoesNotExist):
        processing.lock_invoice(Q(gateway="dummy", gateway_id="nobody"))
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            processing.lock_invoice(invoice.pk)


def test_lookups_it_does_not_write_go_to_the_orm(invoice: Invoice) -> None:
    with transaction.atomic():
        _order, locked = processing.lock_invoice(Q(gateway_id__startswith="pay_"))
    assert locked.pk == invoice.pk
    assert processing._exact_terms(Q(gateway_id__startswith="pay_")) is None
    assert processing._exact_terms(~Q(pk=invoice.pk)) is None
    assert processing._exact_terms(Q(pk=invoice.pk) | Q(gateway="x")) is None
    assert processing._exact_terms(Q(order=invoice.order)) is None


def _captured_update(instance: Any, fields: list[str], write: Any) -> tuple[str, dict[str, Any]]:
    with (
        mock.patch("django.utils.timezone.now", return_value=FIXED),
        CaptureQueriesContext(connection) as captured,
    ):
        write(instance, fields)
    instance.refresh_from_db()
    return captured.captured_queries[-1]["sql"], _row(instance)


@pytest.mark.parametrize(
    "fields",
    [
        ["status", "updated_at"],
        ["captured_amount", "failure_reason", "gateway_id", "status", "updated_at"],
        ["gateway_data", "hold_expires_at", "updated_at"],
    ],
)
def test_update_writes_what_the_orm_writes(invoice: Invoice, fields: list[str]) -> None:
    def change(target: Invoice) -> Invoice:
        target.status = InvoiceStatus.AUTHORIZED
        target.captured_amount = Decimal("12.34")
        target.failure_reason = "ü"
        target.gateway_id = "pay_2"
        target.gateway_data = {"k": [1, "2"]}
        target.hold_expires_at = None
        return target

    twin = Invoice.objects.get(pk=invoice.pk)
    orm_sql, orm_row = _captured_update(
        change(invoice), fields, lambda i, f: i.save(update_fields=f)
    )
    Invoice.objects.filter(pk=invoice.pk).update(
        **{k: v for k, v in _row(twin).items() if k != "id"}
    )
    ours_sql, ours_row = _captured_update(change(twin), fields, processing.save_fields)
    assert ours_sql == orm_sql
    assert ours_row == orm_row
    assert ours_row["updated_at"] == FIXED


def test_update_of_a_missing_row_fails_as_the_orm_does(invoice: Invoice) -> None:
    gone = Invoice.objects.get(pk=invoice.pk)
    Invoice.objects.filter(pk=invoice.pk).delete()
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        processing.save_fields(gone, ["status", "updated_at"])


def test_insert_writes_what_the_orm_writes(invoice: Invoice) -> None:
    def notification() -> Notification:
        return Notification(
            gateway="dummy",
            invoice=invoice,
            method="POST",
            path="/payments/notify/dummy/",
            query_string="a=1",
            headers={"Content-Type": "application/json", "X-Ü": "ä"},
            body='{"ü": 1}',
            remote_addr="127.0.0.1",
            verified=True,
            result=NotificationResult.PROCESSED,
            dedup_key="",
            attempts=1,
            processed_at=FIXED,
        )

    captured = []
    rows = []
    for write in (lambda n: n.save(force_insert=True), processing.insert_row):
        made = notification()
        with (
            mock.patch("django.utils.timezone.now", return_value=FIXED),
            CaptureQueriesContext(connection) as queries,
        ):
            write(made)
        assert made.pk is not None
        assert (made._state.adding, made._state.db) == (False, "default")
        captured.append(queries.captured_queries[-1]["sql"])
        stored = Notification.objects.get(pk=made.pk)
        rows.append({k: v for k, v in _row(stored).items() if k != "id"})
    # The same statement but for the new row's own id, where a backend interpolates it.
    orm_sql, ours_sql = (re.sub(r"\b\d+\b", "N", sql) for sql in captured)
    assert ours_sql == orm_sql
    assert rows[0] == rows[1]


def test_models_with_save_receivers_are_saved_by_the_orm(invoice: Invoice) -> None:
    heard: list[tuple[type, bool]] = []

    def receiver(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
        heard.append((sender, created))

    post_save.connect(receiver, sender=Invoice)
    post_save.connect(receiver, sender=Notification)
    try:
        invoice.status = InvoiceStatus.PAID
        processing.save_fields(invoice, ["status", "updated_at"])
        processing.insert_row(Notification(gateway="dummy", method="POST", path="/"))
    finally:
        post_save.disconnect(receiver, sender=Invoice)
        post_save.disconnect(receiver, sender=Notification)
    assert heard == [(Invoice, False), (Notification, True)]
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_order_fields_are_written_as_the_orm_writes_them() -> None:
    order = OrderFactory()
    twin = Order.objects.get(pk=order.pk)
    order.status = twin.status = "paid"
    orm_sql, orm_row = _captured_update(
        order, ["status", "updated_at"], lambda o, f: o.save(update_fields=f)
    )
    ours_sql, ours_row = _captured_update(twin, ["status", "updated_at"], processing.save_fields)
    assert (ours_sql, ours_row) == (orm_sql, orm_row)
