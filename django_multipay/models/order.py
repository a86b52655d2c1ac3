"""What a customer pays for: the shop's order, with its items and addresses."""

from __future__ import annotations

import json
import math
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
        raise ValidationError(_("An address is a mapping of fields."), code="address")
    unknown = sorted(set(value) - set(ADDRESS_KEYS))
    if unknown:
        raise ValidationError(
            _("Unknown address fields: %(fields)s."), code="address", params={"fields": unknown}
        )
    if not all(isinstance(v, str) for v in value.values()):
        raise ValidationError(_("Address fields are strings."), code="address")


def validate_metadata(value: Any) -> None:
    """Refuse metadata nested deeper than ``MAX_METADATA_DEPTH`` or larger than
    ``MAX_METADATA_BYTES`` of JSON, or that a database cannot store (NUL characters, numbers
    that are not finite, values that are not JSON).

    Walked with a stack, not by recursion: a value nested thousands of levels deep is refused
    as quickly as any other, where every recursive check (``json.dumps`` included) would
    raise ``RecursionError``. The walk also stops once it has met more values than the size
    limit has bytes, since each takes at least one byte of JSON."""
    from django_multipay.conf import multipay_settings  # models load before settings helpers

    max_depth = int(multipay_settings.MAX_METADATA_DEPTH)
    max_bytes = int(multipay_settings.MAX_METADATA_BYTES)
    too_large = ValidationError(
        _("Metadata is larger than %(limit)s bytes of JSON."),
        code="too_large",
        params={"limit": max_bytes},
    )
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > max_bytes:
            raise too_large
        if isinstance(node, dict):
            children: list[Any] = list(node.values())
            if any(isinstance(key, str) and "\x00" in key for key in node):
                raise ValidationError(_("Metadata may not contain NUL characters."), code="null")
        elif isinstance(node, (list, tuple)):
            children = list(node)
        else:
            if isinstance(node, str) and "\x00" in node:
                raise ValidationError(_("Metadata may not contain NUL characters."), code="null")
            if isinstance(node, float) and not math.isfinite(node):
                raise ValidationError(
                    _("Metadata numbers must be finite; %(value)s is not."),
                    code="invalid",
                    params={"value": node},
                )
            continue
        if children and depth >= max_depth:
            raise ValidationError(
                _("Metadata nests deeper than %(limit)s levels."),
                code="too_deep",
                params={"limit": max_depth},
            )
        stack.extend((child, depth + 1) for child in children)
    try:
        # Bounded in depth now, so the encoder's recursion is safe.
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            _("Metadata must be JSON: %(reason)s"), code="invalid", params={"reason": exc}
        ) from None
    if size > max_bytes:
        raise too_large


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
        try:
            amount = money.format_decimal(self.amount, self.currency)
        except ValidationError:  # an unsaved order with a bad amount or currency
            amount = str(self.amount)
        return f"{self.reference} ({amount} {self.currency})"

    def clean_fields(self, exclude: Any = None) -> None:
        # The metadata bounds come first: the field's own check encodes the value, which
        # recursion cannot survive on deep nesting.
        excluded = set(exclude or ())
        errors: dict[str, Any] = {}
        if "metadata" not in excluded:
            try:
                validate_metadata(self.metadata)
            except ValidationError as exc:
                errors["metadata"] = exc.error_list
                excluded.add("metadata")
        try:
            super().clean_fields(exclude=excluded)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

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
