"""The refund pages: each refund's record, and staff's decision on an unknown outcome."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from django_multipay import payments
from django_multipay.admin.common import RecordAdmin, Tool, invoice_label, money_column, pretty_json
from django_multipay.admin.forms import RefundResolutionForm, gateway_name, gateway_report
from django_multipay.exceptions import RefundRefused
from django_multipay.models import Refund
from django_multipay.processing import RESOLVABLE_REFUND_STATUSES
from django_multipay.templatetags.multipay import money


@admin.register(Refund)
class RefundAdmin(RecordAdmin):
    list_display = (
        "short_id",
        "order_reference",
        "customer",
        "amount_display",
        "gateway",
        "status",
        "requested_by",
        "created_at",
        "updated_at",
    )
    list_filter = (
        "status",
        ("invoice__gateway", admin.AllValuesFieldListFilter),
        "currency",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "invoice__order__reference",
        "invoice__gateway_id",
        "gateway_refund_id",
        "invoice__order__customer_email",
        "idempotency_key",
        "id",
    )
    list_select_related = ("invoice__order", "requested_by")
    date_hierarchy = "created_at"
    fieldsets = (
        (
            pgettext_lazy("noun", "Refund"),
            {
                "fields": (
                    "invoice_link",
                    "amount_display",
                    "status",
                    "reason",
                    "requested_by",
                    "failure_reason",
                )
            },
        ),
        (_("Staff decision"), {"fields": ("resolved_by", "resolved_at", "resolution_note")}),
        (
            _("At the gateway"),
            {"fields": ("id", "gateway_refund_id", "idempotency_key", "last_answer")},
        ),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )
    actions = ("resolve_outcome",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # Refunds settle from the gateway's answers and notifications only.

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        """Deciding a refund's outcome moves money on our books: ``add_refund`` and staff."""
        user = request.user
        return bool(
            user.is_active and user.is_staff and user.has_perm("django_multipay.add_refund")
        )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/resolve/",
                view(self.resolve_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_resolve",
            ),
            *super().get_urls(),
        ]

    def tools(self, request: HttpRequest, obj: Refund) -> list[Tool]:
        if obj.status in RESOLVABLE_REFUND_STATUSES and self.has_resolve_permission(request):
            return [
                {
                    "name": "resolve",
                    "label": gettext("Resolve outcome…"),
                    "url": self.url_of("resolve", obj.pk),
                }
            ]
        return []

    @admin.action(description=_("Resolve outcome of one refund…"), permissions=["resolve"])
    def resolve_outcome(
        self, request: HttpRequest, queryset: QuerySet[Refund]
    ) -> HttpResponse | None:
        selected = list(queryset[:2])
        if len(selected) != 1:
            self.message_user(
                request,
                gettext("Select exactly one refund to resolve its outcome."),
                messages.WARNING,
            )
            return None
        return HttpResponseRedirect(self.url_of("resolve", selected[0].pk))

    def resolve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """What the gateway reports now, then staff's decision with a required reason."""
        refund = self.object_or_deny(request, object_id)
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        change_url = self.url_of("change", refund.pk)
        if refund.status not in RESOLVABLE_REFUND_STATUSES:
            self.message_user(
                request,
                gettext("This refund is already %(status)s; there is nothing to resolve.")
                % {"status": refund.get_status_display().lower()},
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        form = RefundResolutionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            refunded = form.cleaned_data["decision"] == "refunded"
            try:
                settled = payments.resolve_refund(
                    refund, refunded=refunded, user=request.user, reason=form.cleaned_data["reason"]
                )
            except RefundRefused as exc:
                self.message_user(
                    request, gettext("Not resolved: %(error)s") % {"error": exc}, messages.ERROR
                )
                return HttpResponseRedirect(change_url)
            decision = "refunded" if refunded else "not refunded"
            self.log_change(request, settled, f"Resolved as {decision}: {settled.resolution_note}")
            recorded = (
                gettext("Refund of %(amount)s recorded as refunded.")
                if refunded
                else gettext(
                    "Refund of %(amount)s recorded as not refunded; "
                    "its amount can be refunded again."
                )
            )
            self.message_user(
                request,
                recorded % {"amount": money(settled.amount, settled.currency)},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(change_url)
        return self.admin_page(
            request,
            "admin/django_multipay/refund/resolve.html",
            title=gettext("Resolve the outcome of a refund"),
            original=refund,
            refund=refund,
            invoice=refund.invoice,
            form=form,
            change_url=change_url,
            gateway_name=gateway_name(refund.invoice.gateway),
            report=gateway_report(refund.invoice),
        )

    @admin.display(description=_("refund"), ordering="created_at")
    def short_id(self, obj: Refund) -> str:
        return str(obj.pk)[:8]

    @admin.display(description=_("order"), ordering="invoice__order__reference")
    def order_reference(self, obj: Refund) -> str:
        return obj.invoice.order.reference

    @admin.display(description=_("customer"), ordering="invoice__order__customer_email")
    def customer(self, obj: Refund) -> str:
        return obj.invoice.order.customer_email

    @admin.display(description=_("gateway"), ordering="invoice__gateway")
    def gateway(self, obj: Refund) -> str:
        return obj.invoice.gateway

    amount_display = money_column("amount", _("amount"), ordering="amount")

    @admin.display(description=_("invoice"))
    def invoice_link(self, obj: Refund) -> str:
        url = reverse("admin:django_multipay_invoice_change", args=[obj.invoice_id])
        return format_html('<a href="{}">{}</a>', url, invoice_label(obj.invoice))

    @admin.display(description=_("last gateway answer (secrets removed)"))
    def last_answer(self, obj: Refund) -> str:
        return pretty_json(obj.gateway_data)
