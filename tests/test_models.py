"""Database constraints on the models (enforced by the database, not by Python) and clean()."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from django_multipay.models import Invoice, Notification, Order, OrderItem, Refund
from django_multipay.testing.factories import (
    InvoiceFactory,
    NotificationFactory,
    OrderFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1.00")])
def test_order_amount_must_be_positive_on_create(amount: Decimal) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(reference="R-1", amount=amount, currency="EUR")
    assert not Order.objects.exists()


def test_order_amount_must_be_positive_on_update() -> None:
    order = OrderFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(amount=Decimal("0"))
    order.refresh_from_db()
    assert order.amount == Decimal("100.00")


def test_order_extras_not_negative() -> None:
    order = OrderFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(tax_amount=Decimal("-1"))


def test_order_reference_unique() -> None:
    OrderFactory(reference="SAME")
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(reference="SAME", amount=Decimal("1.00"), currency="EUR")
    assert Order.objects.filter(reference="SAME").count() == 1


def test_order_item_price_and_quantity() -> None:
    order = OrderFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderItem.objects.create(order=order, name="x", quantity=1, unit_price=Decimal("-1"))
    item = OrderItem.objects.create(order=order, name="x", quantity=2, unit_price=Decimal("3"))
    assert item.total == Decimal("6")


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5.00")])
def test_invoice_amount_positive(amount: Decimal) -> None:
    order = OrderFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(order=order, gateway="dummy", amount=amount, currency="EUR")
    invoice = InvoiceFactory(order=order)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(amount=amount)


def test_invoice_captured_not_above_amount() -> None:
    invoice = InvoiceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(captured_amount=Decimal("100.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(captured_amount=Decimal("-0.01"))
    Invoice.objects.filter(pk=invoice.pk).update(captured_amount=Decimal("100.00"))
    invoice.refresh_from_db()
    assert invoice.captured_amount == Decimal("100.00")


def test_invoice_refunded_not_above_captured() -> None:
    invoice = InvoiceFactory(paid=True, amount=Decimal("100.00"))
    Invoice.objects.filter(pk=invoice.pk).update(captured_amount=Decimal("50.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(refunded_amount=Decimal("50.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            order=invoice.order,
            gateway="dummy",
            amount=Decimal("10.00"),
            currency="EUR",
            captured_amount=Decimal("5.00"),
            refunded_amount=Decimal("6.00"),
        )
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("0")
    assert invoice.refundable_amount == Decimal("50.00")


def test_duplicate_gateway_id_for_one_alias_refused() -> None:
    first = InvoiceFactory(gateway="dummy", gateway_id="pay_1")
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceFactory(order=first.order, gateway="dummy", gateway_id="pay_1")
    assert Invoice.objects.filter(gateway_id="pay_1").count() == 1


def test_same_gateway_id_on_other_alias_allowed() -> None:
    first = InvoiceFactory(gateway="dummy", gateway_id="pay_1")
    InvoiceFactory(order=first.order, gateway="dummy-manual", gateway_id="pay_1")
    assert Invoice.objects.filter(gateway_id="pay_1").count() == 2


def test_empty_gateway_ids_may_repeat() -> None:
    first = InvoiceFactory(gateway="dummy", gateway_id="")
    InvoiceFactory(order=first.order, gateway="dummy", gateway_id="")
    assert Invoice.objects.filter(gateway="dummy", gateway_id="").count() == 2


def test_refund_amount_positive() -> None:
    invoice = InvoiceFactory(paid=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Refund.objects.create(invoice=invoice, amount=Decimal("0"), currency="EUR")
    assert not Refund.objects.exists()


def test_refund_idempotency_key_unique() -> None:
    invoice = InvoiceFactory(paid=True)
    Refund.objects.create(
        invoice=invoice, amount=Decimal("1.00"), currency="EUR", idempotency_key="k"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Refund.objects.create(
            invoice=invoice, amount=Decimal("1.00"), currency="EUR", idempotency_key="k"
        )


def test_notification_dedup_key_unique_per_gateway() -> None:
    NotificationFactory(gateway="dummy", dedup_key="evt_1")
    with pytest.raises(IntegrityError), transaction.atomic():
        NotificationFactory(gateway="dummy", dedup_key="evt_1")
    other = NotificationFactory(gateway="dummy")
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.filter(pk=other.pk).update(dedup_key="evt_1")
    NotificationFactory(gateway="dummy-manual", dedup_key="evt_1")
    NotificationFactory(gateway="dummy", dedup_key="")
    NotificationFactory(gateway="dummy", dedup_key="")
    assert Notification.objects.filter(dedup_key="evt_1").count() == 2
    assert Notification.objects.filter(dedup_key="").count() == 3


def test_order_clean_refuses_three_decimals_for_eur() -> None:
    order = Order(reference="C-1", amount=Decimal("10.123"), currency="EUR")
    with pytest.raises(ValidationError) as info:
        order.full_clean()
    assert "amount" in info.value.message_dict


def test_order_clean_accepts_three_decimals_for_kwd() -> None:
    order = Order(reference="C-2", amount=Decimal("10.123"), currency="KWD")
    order.full_clean()


@pytest.mark.parametrize("currency", ["eur", "XYZ"])
def test_order_clean_refuses_bad_currency(currency: str) -> None:
    order = Order(reference="C-3", amount=Decimal("10.00"), currency=currency)
    with pytest.raises(ValidationError) as info:
        order.full_clean()
    assert "currency" in info.value.message_dict


def test_order_clean_refuses_unknown_address_fields() -> None:
    order = Order(
        reference="C-4",
        amount=Decimal("10.00"),
        currency="EUR",
        billing_address={"street": "x"},
    )
    with pytest.raises(ValidationError) as info:
        order.full_clean()
    assert "billing_address" in info.value.message_dict
