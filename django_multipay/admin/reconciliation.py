"""The record of reconciliation runs: when each ran and what it changed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from django_multipay.models import ReconciliationRun


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """When reconciliation ran and what it changed: recorded by each run, never edited."""

    list_display = (
        "started_at",
        "finished_at",
        "gateway",
        "dry_run",
        "invoices_checked",
        "invoices_changed",
        "invoices_expired",
        "notifications_retried",
        "refunds_settled",
        "errors",
    )
    list_filter = ("dry_run", "gateway", ("started_at", admin.DateFieldListFilter))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
