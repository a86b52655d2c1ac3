"""The order pages: an order, its items and its invoices, fixed once a payment is attempted."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from django_multipay.admin.common import ReadOnlyInline, form_amount, money_column, status_label
from django_multipay.models import Invoice, Order, OrderItem
from django_multipay.models.order import ADDRESS_KEYS

#: Shops type addresses without a scheme; https is what they mean (Django 6's default).
URL_FIELDS: Mapping[type[models.Field[Any, Any]], Mapping[str, Any]] = {
    models.URLField: {"assume_scheme": "https"}
}


def payment_attempted(order: Order | None) -> bool:
    """Whether the order has an invoice: from then on the gateway may hold its amount, items
    and addresses (Postpay and Paylands are sent the items), so the admin no longer edits them."""
    return order is not None and order.pk is not None and order.invoices.exists()


def address_lines(address: Any) -> str:
    """An address dict as the lines a person reads, in the order of ``ADDRESS_KEYS``."""
    if not isinstance(address, dict) or not address:
        return "—"
    lines = [str(address[key]) for key in ADDRESS_KEYS if address.get(key)]
    return format_html_join("", "<div>{}</div>", ((line,) for line in lines)) if lines else "—"


class AmountsInCurrencyForm(forms.ModelForm):  # type: ignore[type-arg]
    """Shows stored amounts with their currency's decimals (``24.90``, not ``24.9000``)."""

    amount_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        currency = self.currency()
        for name in self.amount_fields:
            value = self.initial.get(name)
            if currency and isinstance(value, Decimal):
                self.initial[name] = form_amount(value, currency)

    def currency(self) -> str:
        return str(getattr(self.instance, "currency", "") or "")


class OrderItemForm(AmountsInCurrencyForm):
    amount_fields = ("unit_price",)

    def currency(self) -> str:
        order = getattr(self.instance, "order", None) if self.instance.order_id else None
        return str(order.currency) if order is not None else ""


class OrderForm(AmountsInCurrencyForm):
    amount_fields = ("amount", "tax_amount", "shipping_amount")


class OrderItemInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OrderItem
    form = OrderItemForm
    extra = 0
    formfield_overrides = URL_FIELDS

    # Once a payment was attempted the items are what the gateway was told: shown, not edited.
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not payment_attempted(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not payment_attempted(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not payment_attempted(obj) and super().has_delete_permission(request, obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if payment_attempted(obj):
            # Read-only, a DecimalField would show all four stored decimals.
            fields = [
                "unit_price_display" if name == "unit_price" else name
                for name in fields
                if name not in ("unit_price_display", "total_display")
            ] + ["total_display"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if payment_attempted(obj):
            fields += ["unit_price_display", "total_display"]
        return fields

    unit_price_display = money_column("unit_price", _("unit price"), currency="order.currency")
    total_display = money_column("total", _("total"), currency="order.currency")


class InvoiceInline(ReadOnlyInline):
    model = Invoice
    fields = ("gateway", "gateway_id", "status", "amount_display", "refunded", "created_at")
    readonly_fields = fields

    amount_display = money_column("amount", _("amount"))
    refunded = money_column("refunded_amount", _("refunded"))


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "reference",
        "customer",
        "amount_display",
        "invoice_links",
        "status",
        "created_at",
        "updated_at",
    )
    list_filter = (
        "status",
        ("invoices__gateway", admin.AllValuesFieldListFilter),
        "currency",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "reference",
        "public_id",
        "customer_email",
        "customer_name",
        "invoices__gateway_id",
    )
    readonly_fields = ("public_id", "status", "created_at", "updated_at")
    inlines = (OrderItemInline, InvoiceInline)
    date_hierarchy = "created_at"
    formfield_overrides = URL_FIELDS

    form = OrderForm

    #: Fixed once a payment was attempted (see :func:`payment_attempted`): the invoices keep
    #: what the customer was asked for. Each is shown instead by the read-only field named.
    LOCKED_FIELDS = {
        "amount": "amount_display",
        "currency": "currency_display",
        "tax_amount": "tax_display",
        "shipping_amount": "shipping_display",
        "billing_address": "billing_display",
        "shipping_address": "shipping_address_display",
    }
    MONEY_FIELDS = tuple(LOCKED_FIELDS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).prefetch_related("invoices")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = [str(name) for name in super().get_fields(request, obj)]
        if payment_attempted(obj):
            fields = [self.LOCKED_FIELDS.get(name, name) for name in fields]
        return list(dict.fromkeys(fields))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if payment_attempted(obj):
            fields += [f for f in self.LOCKED_FIELDS.values() if f not in fields]
        return fields

    @admin.display(description=_("currency"))
    def currency_display(self, obj: Order) -> str:
        return str(obj.currency)

    tax_display = money_column("tax_amount", _("tax amount"))
    shipping_display = money_column("shipping_amount", _("shipping amount"))

    @admin.display(description=_("billing address"))
    def billing_display(self, obj: Order) -> str:
        return address_lines(obj.billing_address)

    @admin.display(description=_("shipping address"))
    def shipping_address_display(self, obj: Order) -> str:
        return address_lines(obj.shipping_address)

    @admin.display(description=_("customer"), ordering="customer_email")
    def customer(self, obj: Order) -> str:
        return " ".join(p for p in (obj.customer_name, f"<{obj.customer_email}>") if p != "<>")

    amount_display = money_column("amount", _("amount"), ordering="amount")

    @admin.display(description=_("gateways"))
    def gateways(self, obj: Order) -> str:
        return ", ".join(sorted({i.gateway for i in obj.invoices.all()}))

    @admin.display(description=_("invoices"))
    def invoice_links(self, obj: Order) -> str:
        """Each attempt to pay, oldest first, as a link to its invoice: ``dummy (failed)``."""
        invoices = sorted(obj.invoices.all(), key=lambda invoice: invoice.created_at)
        if not invoices:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">{} ({})</a>',
            (
                (
                    reverse("admin:django_multipay_invoice_change", args=[invoice.pk]),
                    invoice.gateway,
                    status_label(invoice.status),
                )
                for invoice in invoices
            ),
        )
