"""The public factories build valid, consistent objects."""

from __future__ import annotations

from decimal import Decimal

import pytest

from django_multipay.models import Invoice, Order
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.factories import (
    InvoiceFactory,
    NotificationFactory,
    OrderFactory,
    OrderItemFactory,
    RefundFactory,
)

pytestmark = pytest.mark.django_db


def test_order_factory_builds_a_valid_order() -> None:
    order = OrderFactory()
    order.full_clean()
    other = OrderFactory()
    assert order.reference != other.reference
    assert order.public_id != other.public_id
    assert order.shipping_address == order.billing_address
    assert order.shipping_address is not order.billing_address
    assert Order.objects.count() == 2


@pytest.mark.parametrize(("amount", "currency"), [("500", "JPY"), ("1.234", "KWD"), ("10", "BDT")])
def test_order_factory_other_currencies(amount: str, currency: str) -> None:
    order = OrderFactory(amount=Decimal(amount), currency=currency)
    order.full_clean()


def test_order_item_factory() -> None:
    item = OrderItemFactory(quantity=3, unit_price=Decimal("2.50"))
    item.full_clean()
    assert item.total == Decimal("7.50")
    assert item.order.items.get() == item


def test_invoice_factory_follows_its_order() -> None:
    invoice = InvoiceFactory(order__amount=Decimal("12.34"), order__currency="USD")
    invoice.full_clean()
    assert (invoice.amount, invoice.currency) == (Decimal("12.34"), "USD")
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.captured_amount == 0
    assert invoice.gateway == "dummy"
    assert invoice.gateway_id
    assert InvoiceFactory().gateway_id != invoice.gateway_id


def test_paid_invoice_trait() -> None:
    invoice = InvoiceFactory(paid=True)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == invoice.amount
    assert invoice.is_captured
    assert invoice.refundable_amount == invoice.amount


def test_refund_factory_refunds_a_paid_invoice() -> None:
    refund = RefundFactory()
    refund.full_clean()
    assert refund.status == RefundStatus.REQUESTED
    assert refund.invoice.status == InvoiceStatus.PAID
    assert (refund.amount, refund.currency) == (refund.invoice.amount, refund.invoice.currency)
    assert len(refund.idempotency_key) == 32
    assert RefundFactory().idempotency_key != refund.idempotency_key


def test_notification_factory() -> None:
    notification = NotificationFactory()
    notification.full_clean()
    assert notification.result == NotificationResult.RECEIVED
    assert notification.invoice is None
    assert notification.dedup_key == ""
    assert Invoice.objects.count() == 0
