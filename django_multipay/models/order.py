"""What a customer pays for: the shop's order, with its items and addresses."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from django_multipay import money
from django_multipay.models.fields import amount_field, currency_field
from django_multipay.status import OrderStatus

#: Keys an address dict may carry (billing_address, shipping_address).
ADDRESS_KEYS = (
    "name",
    "email",
    "phone",
    "line1",
    "line2",
    "city",
    "state",
    "postal_code",
    "country",
)


def validate_address(value: Any) -> None:
    if value in (None, {}):
        return
    if not isinstance(value, dict):
        raise ValidationError("An address is a mapping of fields.", code="address")
    unknown = sorted(set(value) - set(ADDRESS_KEYS))
    if unknown:
        raise ValidationError(
            "Unknown address fields: %(fields)s.", code="address", params={"fields": unknown}
        )
    if not all(isinstance(v, str) for v in value.values()):
        raise ValidationError("Address fields are strings.", code="address")


class Order(models.Model):
    """The shop's order. Its status is derived from its invoices by the processing engine."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(
        _("reference"), max_length=100, unique=True, help_text=_("The shop's own order number.")
    )
    amount = amount_field(_("amount"))
    currency = currency_field()
    tax_amount = amount_field(_("tax amount"), default=Decimal(0))
    shipping_amount = amount_field(_("shipping amount"), default=Decimal(0))
    description = models.CharField(_("description"), max_length=300, blank=True)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=OrderStatus.choices,
        default=OrderStatus.NEW,
        db_index=True,
        editable=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="multipay_orders",
    )
    customer_name = models.CharField(_("customer name"), max_length=150, blank=True)
    customer_email = models.EmailField(_("customer email"), blank=True)
    customer_phone = models.CharField(_("customer phone"), max_length=30, blank=True)
    billing_address = models.JSONField(
        _("billing address"), default=dict, blank=True, validators=[validate_address]
    )
    shipping_address = models.JSONField(
        _("shipping address"), default=dict, blank=True, validators=[validate_address]
    )
    success_url = models.CharField(
        _("success URL"), max_length=500, blank=True, help_text=_("Overrides MULTIPAY SUCCESS_URL.")
    )
    failure_url = models.CharField(
        _("failure URL"), max_length=500, blank=True, help_text=_("Overrides MULTIPAY FAILURE_URL.")
    )
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="multipay_order_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(tax_amount__gte=0) & Q(shipping_amount__gte=0),
                name="multipay_order_extras_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.amount} {self.currency})"

    def clean(self) -> None:
        super().clean()
        errors: dict[str, list[ValidationError]] = {}
        for field in ("amount", "tax_amount", "shipping_amount"):
            try:
                money.validate_amount(
                    getattr(self, field), self.currency, allow_zero=field != "amount"
                )
            except ValidationError as exc:
                errors.setdefault(field, []).append(exc)
        if errors:
            raise ValidationError(errors)


class OrderItem(models.Model):
    """One line of an order; gateways that take line items (Postpay, Paylands) send these."""

    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="items"
    )
    reference = models.CharField(_("reference"), max_length=100, blank=True, help_text=_("SKU"))
    name = models.CharField(_("name"), max_length=150)
    description = models.CharField(_("description"), max_length=300, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit_price = amount_field(_("unit price"))
    url = models.URLField(_("URL"), blank=True)
    image_url = models.URLField(_("image URL"), blank=True)

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_price__gte=0) & Q(quantity__gt=0),
                name="multipay_item_price_and_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"

    @property
    def total(self) -> Decimal:
        return Decimal(self.unit_price) * self.quantity
