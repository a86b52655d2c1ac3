"""Admin pages for orders, invoices, refunds and notifications (money moves elsewhere)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from django_multipay.models import Invoice, Notification, Order, OrderItem, Refund


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderItemInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OrderItem
    extra = 0


class InvoiceInline(ReadOnlyInline):
    model = Invoice
    fields = (
        "gateway",
        "gateway_id",
        "status",
        "amount",
        "currency",
        "captured_amount",
        "refunded_amount",
        "created_at",
    )
    readonly_fields = fields


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = (
        "amount",
        "currency",
        "status",
        "reason",
        "gateway_refund_id",
        "requested_by",
        "created_at",
    )
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("reference", "amount", "currency", "status", "customer_email", "created_at")
    list_filter = ("status", "currency", "invoices__gateway")
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


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "order",
        "gateway",
        "gateway_id",
        "status",
        "amount",
        "currency",
        "created_at",
    )
    list_filter = ("status", "gateway", "currency")
    search_fields = ("id", "gateway_id", "order__reference")
    list_select_related = ("order",)
    readonly_fields = (
        "id",
        "order",
        "gateway",
        "gateway_id",
        "amount",
        "currency",
        "status",
        "captured_amount",
        "refunded_amount",
        "redirect_url",
        "expires_at",
        "gateway_data",
        "failure_reason",
        "created_at",
        "updated_at",
    )
    inlines = (RefundInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Invoices are created by starting a payment.

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # The record of a payment attempt is kept.


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "invoice", "amount", "currency", "status", "requested_by", "created_at")
    list_filter = ("status", "invoice__gateway")
    search_fields = (
        "id",
        "gateway_refund_id",
        "idempotency_key",
        "invoice__gateway_id",
        "invoice__order__reference",
    )
    list_select_related = ("invoice", "requested_by")
    readonly_fields = (
        "id",
        "invoice",
        "amount",
        "currency",
        "status",
        "gateway_refund_id",
        "idempotency_key",
        "requested_by",
        "gateway_data",
        "failure_reason",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Refunds go through the refund flow, which calls the gateway.

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "gateway", "invoice", "result", "verified", "reason", "received_at")
    list_filter = ("result", "gateway", "verified")
    search_fields = (
        "invoice__id",
        "invoice__gateway_id",
        "invoice__order__reference",
        "dedup_key",
        "reason",
    )
    list_select_related = ("invoice",)
    readonly_fields = (
        "gateway",
        "invoice",
        "method",
        "path",
        "query_string",
        "headers",
        "body",
        "remote_addr",
        "received_at",
        "verified",
        "result",
        "reason",
        "dedup_key",
        "attempts",
        "processed_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # Nothing is lost: every received notification stays.
