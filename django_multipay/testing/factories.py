"""factory-boy factories for every model, for the project's and shops' own tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory

from django_multipay.models import Invoice, Notification, Order, OrderItem, Refund
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus


class OrderFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]
    class Meta:
        model = Order

    reference = factory.Sequence(lambda n: f"ORDER-{n:06d}")
    amount = Decimal("100.00")
    currency = "EUR"
    description = "Test order"
    customer_name = "Ada Lovelace"
    customer_email = factory.Sequence(lambda n: f"customer{n}@example.com")
    customer_phone = "+8801700000000"
    billing_address = factory.LazyFunction(
        lambda: {
            "name": "Ada Lovelace",
            "line1": "12 Example Road",
            "city": "Dhaka",
            "state": "Dhaka",
            "postal_code": "1207",
            "country": "BD",
        }
    )
    shipping_address = factory.LazyAttribute(lambda o: dict(o.billing_address))


class OrderItemFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]
    class Meta:
        model = OrderItem

    order = factory.SubFactory(OrderFactory)
    reference = factory.Sequence(lambda n: f"SKU-{n}")
    name = "Test product"
    quantity = 1
    unit_price = Decimal("100.00")


class InvoiceFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]
    """An invoice in any status. For a realistic flow use ``payments.start_payment`` instead."""

    class Meta:
        model = Invoice

    order = factory.SubFactory(OrderFactory)
    gateway = "dummy"
    gateway_id = factory.Sequence(lambda n: f"pay_test_{n}")
    amount = factory.LazyAttribute(lambda o: o.order.amount)
    currency = factory.LazyAttribute(lambda o: o.order.currency)
    status = InvoiceStatus.PENDING

    class Params:
        paid = factory.Trait(
            status=InvoiceStatus.PAID, captured_amount=factory.LazyAttribute(lambda o: o.amount)
        )


class RefundFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]
    class Meta:
        model = Refund

    invoice = factory.SubFactory(InvoiceFactory, paid=True)
    amount = factory.LazyAttribute(lambda o: o.invoice.amount)
    currency = factory.LazyAttribute(lambda o: o.invoice.currency)
    status = RefundStatus.REQUESTED


class NotificationFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]
    class Meta:
        model = Notification

    gateway = "dummy"
    method = "POST"
    path = "/payments/notify/dummy/"
    headers: Any = factory.LazyFunction(lambda: {"Content-Type": "application/json"})
    body = "{}"
    result = NotificationResult.RECEIVED
