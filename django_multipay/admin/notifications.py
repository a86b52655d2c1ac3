"""The notification log: what each gateway notification became, and reprocessing it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from django_multipay import notifications
from django_multipay.admin.common import RecordAdmin, Tool, invoice_label, silent_alias
from django_multipay.exceptions import MultipayError
from django_multipay.models import Notification
from django_multipay.registry import gateway_aliases
from django_multipay.status import NotificationResult

#: Notifications an operator may reprocess: kept because verification failed or was refused,
#: or given up by reconciliation after its attempts.
REPROCESSABLE = (
    NotificationResult.FAILED,
    NotificationResult.REJECTED,
    NotificationResult.ABANDONED,
)


@admin.register(Notification)
class NotificationAdmin(RecordAdmin):
    list_display = (
        "id",
        "gateway",
        "invoice_reference",
        "result",
        "verified",
        "reason",
        "attempts",
        "received_at",
    )
    list_filter = (
        "result",
        "gateway",
        "verified",
        ("received_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "invoice__order__reference",
        "invoice__gateway_id",
        "invoice__order__customer_email",
        "dedup_key",
        "reason",
    )
    list_select_related = ("invoice__order",)
    date_hierarchy = "received_at"
    fieldsets = (
        (
            _("What became of it"),
            {
                "fields": (
                    "invoice_link",
                    "result",
                    "reason",
                    "verified",
                    "attempts",
                    "processed_at",
                    "dedup_key",
                )
            },
        ),
        (
            _("As received (secrets masked)"),
            {
                "fields": (
                    "gateway",
                    "received_at",
                    "remote_addr",
                    "method",
                    "path",
                    "query_string",
                    "headers_display",
                    "body",
                )
            },
        ),
    )
    actions = ("reprocess",)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # An empty log may be the gateway's silence, not ours: say so where it is known.
        if request.method == "GET":
            for alias in gateway_aliases():
                silent = silent_alias(alias)
                if silent:
                    self.message_user(request, silent, messages.WARNING)
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("invoice"), ordering="invoice__order__reference")
    def invoice_reference(self, obj: Notification) -> str:
        return invoice_label(obj.invoice) if obj.invoice is not None else "—"

    @admin.display(description=_("invoice"))
    def invoice_link(self, obj: Notification) -> str:
        if obj.invoice is None:
            return gettext("— (none: the notification named no invoice we know)")
        url = reverse("admin:django_multipay_invoice_change", args=[obj.invoice_id])
        return format_html('<a href="{}">{}</a>', url, invoice_label(obj.invoice))

    @admin.display(description=_("headers"))
    def headers_display(self, obj: Notification) -> str:
        return format_html_join(
            "\n", "<div><code>{}: {}</code></div>", sorted((obj.headers or {}).items())
        )

    def tools(self, request: HttpRequest, obj: Notification) -> list[Tool]:
        if self.has_change_permission(request, obj) and obj.result in REPROCESSABLE:
            return [
                {
                    "name": "reprocess",
                    "label": gettext("Reprocess"),
                    "url": self.url_of("reprocess", obj.pk),
                    "post": True,
                }
            ]
        return []

    def get_urls(self) -> list[Any]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/reprocess/",
                self.admin_site.admin_view(require_POST(self.reprocess_view)),
                name=f"{name}_reprocess",
            ),
            *super().get_urls(),
        ]

    def reprocess_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        notification = self.object_or_deny(request, object_id)
        if not self.has_change_permission(request, notification):
            raise PermissionDenied
        self.reprocess_one(request, notification)
        return HttpResponseRedirect(self.url_of("change", notification.pk))

    @admin.action(
        description=_("Reprocess failed, rejected or abandoned notifications"),
        permissions=["change"],
    )
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        for notification in queryset.select_related("invoice__order"):
            self.reprocess_one(request, notification)

    def reprocess_one(self, request: HttpRequest, notification: Notification) -> None:
        """Re-verify one stored notification with its gateway and report the result."""
        names = {"id": notification.pk, "gateway": notification.gateway}
        if notification.result not in REPROCESSABLE:
            self.message_user(
                request,
                gettext(
                    "Notification #%(id)s (%(gateway)s): not reprocessed; only failed or "
                    "rejected notifications (and abandoned ones) are (this one is %(result)s)."
                )
                % {**names, "result": notification.get_result_display().lower()},
                messages.WARNING,
            )
            return
        if notification.invoice_id is None:
            self.message_user(
                request,
                gettext(
                    "Notification #%(id)s (%(gateway)s) cannot be replayed: it was rejected "
                    "before an invoice was found (%(reason)s), so there is nothing to verify. "
                    "If a payment is in doubt, open its invoice and use Verify with gateway."
                )
                % {**names, "reason": notification.reason or gettext("no reason recorded")},
                messages.WARNING,
            )
            return
        before = notification.get_result_display().lower()
        try:
            notifications.reprocess(notification)
        except MultipayError as exc:
            self.message_user(
                request,
                gettext("Notification #%(id)s (%(gateway)s): reprocessing failed: %(error)s")
                % {**names, "error": exc},
                messages.ERROR,
            )
            self.log_change(request, notification, f"Reprocessing failed: {exc}")
            return
        notification.refresh_from_db()
        after = notification.get_result_display().lower()
        level = (
            messages.SUCCESS
            if notification.result in (NotificationResult.PROCESSED, NotificationResult.DUPLICATE)
            else messages.ERROR
            if notification.result in REPROCESSABLE
            else messages.INFO
        )
        shown = (
            gettext(
                "Notification #%(id)s (%(gateway)s) reprocessed: %(before)s → %(after)s: "
                "%(reason)s."
            )
            if notification.reason
            else gettext("Notification #%(id)s (%(gateway)s) reprocessed: %(before)s → %(after)s.")
        )
        names.update(before=before, after=after, reason=notification.reason)
        self.message_user(request, shown % names, level)
        reason = f": {notification.reason}" if notification.reason else ""
        self.log_change(request, notification, f"Reprocessed: {before} → {after}{reason}")
