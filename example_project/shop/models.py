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
