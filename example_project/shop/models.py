"""Products, and the shop's side of an order (its fulfilment), next to the payments order."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from django_multipay.models import Order


class Product(models.Model):
    name = models.CharField(max_length=150)
    slug = models.SlugField(unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("shop:product", args=[self.slug])


class ShopOrder(models.Model):
    """What the shop does with an order. The payment receivers move ``fulfilment_status``."""

    class Fulfilment(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        PAID = "paid", "Paid, to be shipped"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="shop_order")
    fulfilment_status = models.CharField(
        max_length=20, choices=Fulfilment.choices, default=Fulfilment.AWAITING_PAYMENT
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.order.reference

    def get_absolute_url(self) -> str:
        return reverse("shop:order", args=[self.order.reference])

    @property
    def reference(self) -> str:
        return self.order.reference


class PaymentEvent(models.Model):
    """The shop's audit trail: one row each time a payment signal reached the shop.

    Signals are sent once per transition, so a transition appears here once, even when
    several app servers handled callbacks for the same payment at the same moment.
    """

    signal = models.CharField(max_length=40)
    order_reference = models.CharField(max_length=100, db_index=True)
    invoice_id = models.UUIDField(null=True, blank=True, db_index=True)
    refund_id = models.UUIDField(null=True, blank=True)
    previous = models.CharField(max_length=30, blank=True)
    current = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "pk")

    def __str__(self) -> str:
        return f"{self.signal} {self.order_reference}: {self.previous} -> {self.current}"
