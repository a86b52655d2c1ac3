"""The invoice pages: refund, read settlement, verify, capture and cancel."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from django_multipay import payments
from django_multipay.admin.common import (
    ReadOnlyInline,
    RecordAdmin,
    Tool,
    form_amount,
    invoice_label,
    money_column,
    pretty_json,
    silent_alias,
    status_label,
)
from django_multipay.admin.forms import (
    RefundForm,
    gateway_name,
    localized_amount,
    new_admin_key,
    operation_refusal,
    refund_state,
)
from django_multipay.exceptions import (
    AmountMismatch,
    GatewayConfigurationError,
    GatewayError,
    InvalidRequest,
    MultipayError,
    RefundError,
    RefundRefused,
)
from django_multipay.gateways.results import Outcome
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.registry import get_gateway
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.templatetags.multipay import money

#: Where the settlement read by the "Read settlement" action is kept: a key of the invoice's
#: ``gateway_data``, with when it was read. The next gateway answer applied to the invoice
#: replaces ``gateway_data`` and with it this (the settlement may have changed too).
SETTLEMENT_KEY = "multipay_settlement"


def settles(invoice: Invoice) -> bool:
    """Whether the invoice's gateway reports settlement lines (a configured alias that does)."""
    try:
        return get_gateway(invoice.gateway).supports("settlement")
    except GatewayConfigurationError:
        return False


def stored_settlement(invoice: Invoice) -> Mapping[str, Any] | None:
    """The settlement last read for ``invoice`` (``fetched_at``, ``lines``), or ``None``."""
    data = invoice.gateway_data
    stored = data.get(SETTLEMENT_KEY) if isinstance(data, dict) else None
    return stored if isinstance(stored, Mapping) else None


def read_settlement(invoice: Invoice) -> int:
    """Ask the gateway for the invoice's settlement lines and store them with the time they
    were read (:data:`SETTLEMENT_KEY`); the number of lines. The call is made before the row
    is locked, so a slow gateway holds no lock. Raises what the gateway raises."""
    gateway = get_gateway(invoice.gateway)
    gateway.require("settlement")
    lines = gateway.settlement(invoice)
    record = {
        "fetched_at": timezone.now().isoformat(),
        "lines": gateway.redact(
            [
                {
                    "id": line.id,
                    "type": line.type,
                    "currency": line.currency,
                    "amount": str(line.amount),
                    "fee": str(line.fee),
                    "net": str(line.net),
                    "created": line.created.isoformat() if line.created else None,
                    "paid_out": line.paid_out.isoformat() if line.paid_out else None,
                    "description": line.description,
                }
                for line in lines
            ]
        ),
    }
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        data = dict(locked.gateway_data) if isinstance(locked.gateway_data, dict) else {}
        data[SETTLEMENT_KEY] = record
        locked.gateway_data = data
        locked.save(update_fields=["gateway_data", "updated_at"])
    return len(lines)


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = (
        "amount_display",
        "status",
        "reason",
        "gateway_refund_id",
        "requested_by",
        "failure_reason",
        "created_at",
    )
    readonly_fields = fields

    amount_display = money_column("amount", _("amount"))


class NotificationInline(ReadOnlyInline):
    model = Notification
    fields = ("received_at", "result", "verified", "reason", "attempts")
    readonly_fields = fields
    ordering = ("-received_at", "-id")


#: How soon a lapsing hold shows under the hold filter's "lapsing within 24 hours".
HOLD_LAPSING_WITHIN = timedelta(hours=24)

#: What the invoice page calls the parts of a reference the customer pays another way
#: (:meth:`~django_multipay.gateways.base.BaseGateway.payment_instructions`); a part not
#: named here is shown by its key.
INSTRUCTION_LABELS = {
    # Translators: a Multibanco or Payshop payment reference the customer types to pay.
    "reference": _("reference"),
    # Translators: the Multibanco "entidade", the number naming who is paid.
    "entity": _("entity"),
    "deadline": _("deadline"),
}


class HoldFilter(admin.SimpleListFilter):
    """Held (authorized) payments, by when their hold lapses at the gateway."""

    title = _("hold")
    parameter_name = "hold"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("lapsing", gettext("lapsing within 24 hours")),
            ("lapsed", gettext("lapsed")),
            ("held", gettext("every hold")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        held = queryset.filter(status=InvoiceStatus.AUTHORIZED)
        value = self.value()
        if value == "lapsing":
            return held.filter(
                hold_expires_at__gt=now, hold_expires_at__lte=now + HOLD_LAPSING_WITHIN
            )
        if value == "lapsed":
            return held.filter(hold_expires_at__lte=now)
        if value == "held":
            return held
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(RecordAdmin):
    # Listed by what a person searches with (the shop's order reference, then where and how
    # it was paid); the first column opens the invoice, the "order" column its order.
    list_display = (
        "order_reference",
        "gateway",
        "status",
        "amount_display",
        "refunded_display",
        "customer",
        "order_column",
        "hold_lapses",
        "created_at",
        "updated_at",
    )
    list_filter = (
        "status",
        HoldFilter,
        "gateway",
        "currency",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "order__reference",
        "gateway_id",
        "order__customer_email",
        "order__customer_name",
        "id",
    )
    list_select_related = ("order",)
    date_hierarchy = "created_at"
    fieldsets = (
        (
            _("Payment"),
            {
                "fields": (
                    "order_link",
                    "customer",
                    "gateway_display",
                    "gateway_id",
                    "status",
                    "amount_display",
                    "captured_display",
                    "refunded_display",
                    "refundable_display",
                    "failure_reason",
                    "notifications_note",
                )
            },
        ),
        (
            _("At the gateway"),
            {
                "fields": (
                    "id",
                    "redirect_url",
                    "payment_instructions",
                    "expires_at",
                    "hold_lapses",
                    "settlement",
                    "options_chosen",
                    "last_answer",
                )
            },
        ),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )
    inlines = (RefundInline, NotificationInline)
    actions = ("refund_in_full", "refund_part", "verify_with_gateway", "capture", "cancel")

    # -- columns and fields --------------------------------------------------------------

    @admin.display(description=_("invoice"), ordering="created_at")
    def short_id(self, obj: Invoice) -> str:
        return str(obj.pk)[:8]

    @admin.display(description=_("invoice for order"), ordering="order__reference")
    def order_reference(self, obj: Invoice) -> str:
        return obj.order.reference

    @admin.display(description=_("order"), ordering="order__status")
    def order_column(self, obj: Invoice) -> str:
        url = reverse("admin:django_multipay_order_change", args=[obj.order_id])
        return format_html(
            '<a href="{}">{}</a> ({})',
            url,
            obj.order.reference,
            obj.order.get_status_display().lower(),
        )

    @admin.display(description=_("order"))
    def order_link(self, obj: Invoice) -> str:
        url = reverse("admin:django_multipay_order_change", args=[obj.order_id])
        return format_html(
            '<a href="{}">{}</a> ({})',
            url,
            obj.order.reference,
            obj.order.get_status_display().lower(),
        )

    @admin.display(description=_("customer"), ordering="order__customer_email")
    def customer(self, obj: Invoice) -> str:
        order = obj.order
        return " ".join(
            p for p in (order.customer_name, f"<{order.customer_email}>") if p not in ("", "<>")
        )

    @admin.display(description=_("gateway"))
    def gateway_display(self, obj: Invoice) -> str:
        return f"{obj.gateway} ({gateway_name(obj.gateway)})"

    amount_display = money_column("amount", _("amount"), ordering="amount")
    captured_display = money_column("captured_amount", _("captured"))

    @admin.display(description=_("hold lapses"), ordering="hold_expires_at")
    def hold_lapses(self, obj: Invoice) -> str:
        """When a held (authorized) payment lapses at the gateway unless captured."""
        lapses = obj.hold_expires_at
        if obj.status != InvoiceStatus.AUTHORIZED or lapses is None:
            return "—"
        now = timezone.now()
        stamp = timezone.localtime(lapses).strftime("%Y-%m-%d %H:%M")
        if lapses <= now:
            text = gettext("%(time)s (lapsed %(age)s ago)") % {
                "time": stamp,
                "age": timesince(lapses, now, depth=1),
            }
        else:
            text = gettext("%(time)s (in %(delay)s)") % {
                "time": stamp,
                "delay": timeuntil(lapses, now, depth=2),
            }
        return text.replace("\xa0", " ")

    refunded_display = money_column("refunded_amount", _("refunded"), ordering="refunded_amount")

    @admin.display(description=_("notifications"))
    def notifications_note(self, obj: Invoice) -> str:
        """How many notifications arrived for this invoice, or why none can arrive."""
        silent = silent_alias(obj.gateway)
        if silent:
            return silent
        count = obj.notifications.count()
        if not count:
            return gettext("none received yet")
        return ngettext(
            "%(count)d received (listed below)", "%(count)d received (listed below)", count
        ) % {"count": count}

    @admin.display(description=_("refundable now"))
    def refundable_display(self, obj: Invoice) -> str:
        state = refund_state(obj)
        if state.refusal:
            return gettext("nothing (%(reason)s)") % {"reason": state.refusal}
        # Independent facts, each a phrase of its own, listed with "; ".
        parts = [money(state.remaining, obj.currency)]
        if state.in_flight:
            parts.append(
                gettext("%(amount)s in progress at the gateway")
                % {"amount": money(state.in_flight, obj.currency)}
            )
        if state.max_refunds is not None:
            parts.append(
                ngettext(
                    "%(used)d of at most %(count)d refunds used",
                    "%(used)d of at most %(count)d refunds used",
                    state.max_refunds,
                )
                % {"used": state.count, "count": state.max_refunds}
            )
        return "; ".join(parts)

    @admin.display(description=_("last gateway answer (secrets removed)"))
    def last_answer(self, obj: Invoice) -> str:
        data = obj.gateway_data
        if isinstance(data, dict) and SETTLEMENT_KEY in data:
            # The stored settlement has its own field.
            data = {k: v for k, v in data.items() if k != SETTLEMENT_KEY}
        return pretty_json(data)

    @admin.display(description=_("gateway options chosen for this payment"))
    def options_chosen(self, obj: Invoice) -> str:
        return pretty_json(obj.gateway_options) if obj.gateway_options else "—"

    @admin.display(description=_("settlement (as last read from the gateway)"))
    def settlement(self, obj: Invoice) -> str:
        """What the gateway pays out for this payment, where it reports it (Postpay), as
        stored by the "Read settlement" action: rendering never calls the gateway."""
        try:
            gateway = get_gateway(obj.gateway)
        except GatewayConfigurationError:
            return "—"
        if not gateway.supports("settlement"):
            return "—"
        stored = stored_settlement(obj)
        if stored is None:
            return gettext("Not read yet: use “Read settlement” to ask the gateway.")
        fetched = parse_datetime(str(stored.get("fetched_at") or ""))
        when = {"age": timesince(fetched), "time": f"{fetched:%Y-%m-%d %H:%M}"} if fetched else {}
        lines = [line for line in stored.get("lines") or () if isinstance(line, Mapping)]
        if not lines:
            if not when:
                return gettext("No settlement lines yet (read at an unknown time).")
            return gettext("No settlement lines yet (read %(age)s ago (%(time)s UTC)).") % when
        age = (
            gettext("read %(age)s ago (%(time)s UTC)") % when
            if when
            else gettext("read at an unknown time")
        )

        def shown(line: Mapping[str, Any], name: str) -> str:
            value = line.get(name)
            return money(Decimal(str(value)), str(line.get("currency") or "")) if value else ""

        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    str(line.get("type") or ""),
                    shown(line, "amount"),
                    shown(line, "fee"),
                    shown(line, "net"),
                    str(line.get("created") or "")[:10],
                    str(line.get("paid_out") or "")[:10] or gettext("not yet"),
                )
                for line in lines
            ),
        )
        return format_html(
            "<p>{age}</p><table><thead><tr><th>{type}</th><th>{amount}</th><th>{fee}</th>"
            "<th>{net}</th><th>{created}</th><th>{paid_out}</th></tr></thead>"
            "<tbody>{rows}</tbody></table>",
            age=capfirst(age),
            # Translators: column headers of a payment's settlement lines (a charge, its
            # fee, what is paid out net of the fee, when created, when paid out).
            type=gettext("type"),
            amount=gettext("amount"),
            fee=gettext("fee"),
            net=gettext("net"),
            created=gettext("created"),
            paid_out=gettext("paid out"),
            rows=rows,
        )

    @admin.display(description=_("customer pays with"))
    def payment_instructions(self, obj: Invoice) -> str:
        """A pushed reference (Payshop, Multibanco) the customer pays another way."""
        try:
            found = get_gateway(obj.gateway).payment_instructions(obj)
        except GatewayConfigurationError:
            return "—"
        if not found:
            return "—"
        return ", ".join(
            f"{INSTRUCTION_LABELS.get(key, key)}: {value}" for key, value in found.items() if value
        )

    def subtitle(self, obj: Invoice) -> str:
        return (
            f"{invoice_label(obj)}: {money(obj.amount, obj.currency)}, {status_label(obj.status)}"
        )

    # -- permissions ---------------------------------------------------------------------

    def has_refund_permission(self, request: HttpRequest) -> bool:
        """Refund actions need ``add_refund`` (they create refunds)."""
        return bool(request.user.has_perm(f"{self.opts.app_label}.add_refund"))

    def tools(self, request: HttpRequest, obj: Invoice) -> list[Tool]:
        tools: list[Tool] = []
        if self.has_refund_permission(request) and not refund_state(obj).refusal:
            tools.append(
                {
                    "name": "refund",
                    "label": gettext("Refund…"),
                    "url": self.url_of("refund", obj.pk),
                }
            )
        if self.has_change_permission(request, obj):
            for name, label, operation, post in (
                ("verify", gettext("Verify with gateway"), "fetch_status", True),
                ("capture", gettext("Capture…"), "capture", False),
                ("cancel", gettext("Cancel…"), "cancel", False),
            ):
                if not operation_refusal(obj, operation):
                    tools.append(
                        {
                            "name": name,
                            "label": label,
                            "url": self.url_of(name, obj.pk),
                            "post": post,
                        }
                    )
            if settles(obj):
                tools.append(
                    {
                        "name": "settlement",
                        "label": gettext("Read settlement"),
                        "url": self.url_of("settlement", obj.pk),
                        "post": True,
                    }
                )
        return tools

    def get_urls(self) -> list[Any]:
        wrap: Callable[[Any], Any] = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/refund/", wrap(self.refund_view), name=f"{name}_refund"),
            path("<path:object_id>/verify/", wrap(self.verify_view), name=f"{name}_verify"),
            path(
                "<path:object_id>/settlement/",
                wrap(self.settlement_view),
                name=f"{name}_settlement",
            ),
            path(
                "<path:object_id>/capture/",
                wrap(self.operation_view),
                {"operation": "capture"},
                name=f"{name}_capture",
            ),
            path(
                "<path:object_id>/cancel/",
                wrap(self.operation_view),
                {"operation": "cancel"},
                name=f"{name}_cancel",
            ),
            *super().get_urls(),
        ]

    # -- refunds -------------------------------------------------------------------------

    @admin.action(description=_("Refund in full…"), permissions=["refund"])
    def refund_in_full(
        self, request: HttpRequest, queryset: QuerySet[Invoice]
    ) -> HttpResponse | None:
        invoices = list(queryset.select_related("order"))
        if request.POST.get("post") == "yes":
            # Not translated: the reason is recorded on the refund and sent to the gateway.
            reason = request.POST.get("reason", "").strip() or "Refund in full"
            for invoice in invoices:
                key = request.POST.get(f"key-{invoice.pk}", "")
                amount = request.POST.get(f"amount-{invoice.pk}", "")
                if not key.startswith("admin-") or not amount:
                    continue  # Shown as not refundable: nothing was offered for it.
                self.submit_refund(request, invoice, amount, reason, key)
            return None
        states = [refund_state(invoice) for invoice in invoices]
        ready: list[dict[str, Any]] = [
            {"invoice": s.invoice, "state": s, "amount": s.remaining, "key": new_admin_key()}
            for s in states
            if s.can_refund
        ]
        refused = [{"invoice": s.invoice, "reason": s.refusal} for s in states if s.refusal]
        total: dict[str, Decimal] = {}
        for item in ready:
            currency = item["invoice"].currency
            total[currency] = total.get(currency, Decimal(0)) + item["amount"]
        return self.admin_page(
            request,
            "admin/django_multipay/invoice/confirm_action.html",
            title=gettext("Refund in full"),
            action="refund_in_full",
            question=gettext(
                "Refund these invoices in full? The money goes back to each customer."
            ),
            ready=ready,
            refused=refused,
            totals=[money(v, k) for k, v in sorted(total.items())],
            ask_reason=True,
            # Not translated: recorded on each refund and sent to the gateway (see above).
            default_reason="Refund in full",
            submit_label=gettext("Yes, refund in full"),
            invoices=invoices,
        )

    @admin.action(description=_("Refund part of one invoice…"), permissions=["refund"])
    def refund_part(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse | None:
        selected = list(queryset[:2])
        if len(selected) != 1:
            self.message_user(
                request,
                gettext("Select exactly one invoice to refund part of it."),
                messages.WARNING,
            )
            return None
        return HttpResponseRedirect(self.url_of("refund", selected[0].pk))

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Refund part (or all) of one invoice: the form, then the refund."""
        invoice = self.object_or_deny(request, object_id)
        if not self.has_refund_permission(request):
            raise PermissionDenied
        change_url = self.url_of("change", invoice.pk)
        state = refund_state(invoice)
        if request.method == "POST":
            form = RefundForm(request.POST, state=state)
            key = str(request.POST.get("idempotency_key", ""))
            if Refund.objects.filter(idempotency_key=key).exists():
                # A reload or a second click of a page already submitted: never a second refund.
                self.report_repeat(request, key)
                return HttpResponseRedirect(change_url)
            if form.is_valid():
                self.submit_refund(
                    request,
                    invoice,
                    form.cleaned_data["amount"],
                    form.cleaned_data["reason"],
                    form.cleaned_data["idempotency_key"],
                )
                return HttpResponseRedirect(change_url)
        else:
            form = RefundForm(
                initial={
                    # As the staff's language writes it, which is what the form reads back.
                    "amount": localized_amount(state.remaining, invoice.currency),
                    "idempotency_key": new_admin_key(),
                },
                state=state,
            )
        return self.admin_page(
            request,
            "admin/django_multipay/invoice/refund_form.html",
            title=gettext("Refund invoice %(reference)s") % {"reference": invoice.order.reference},
            original=invoice,
            invoice=invoice,
            state=state,
            form=form,
            gateway_name=gateway_name(invoice.gateway),
            change_url=change_url,
            captured=money(invoice.captured_amount, invoice.currency),
            refunded=money(invoice.refunded_amount, invoice.currency),
            in_flight=money(state.in_flight, invoice.currency),
            unknown=money(state.unknown, invoice.currency),
            remaining=money(state.remaining, invoice.currency),
        )

    def report_repeat(self, request: HttpRequest, key: str) -> None:
        refund = Refund.objects.get(idempotency_key=key)
        self.message_user(
            request,
            gettext(
                "This refund was already submitted (%(amount)s, now %(status)s); "
                "nothing was sent again."
            )
            % {
                "amount": money(refund.amount, refund.currency),
                "status": refund.get_status_display().lower(),
            },
            messages.WARNING,
        )

    def submit_refund(
        self, request: HttpRequest, invoice: Invoice, amount: Any, reason: str, key: str
    ) -> Refund | None:
        """Refund through the Python API and report the outcome; never raises for the gateway."""
        label = invoice_label(invoice)
        if Refund.objects.filter(idempotency_key=key).exists():
            self.report_repeat(request, key)
            return None
        asked = money(amount, invoice.currency)
        # The admin's history is a record: English, amounts as the machine writes them.
        logged = f"{form_amount(amount, invoice.currency)} {invoice.currency}"
        try:
            refund = payments.refund(
                invoice, amount, reason=reason, user=request.user, idempotency_key=key
            )
        except (RefundRefused, RefundError, AmountMismatch, InvalidRequest) as exc:
            self.message_user(
                request,
                gettext("Refund of %(amount)s on %(invoice)s refused: %(error)s")
                % {"amount": asked, "invoice": label, "error": exc},
                messages.ERROR,
            )
            self.log_change(request, invoice, f"Refund of {logged} refused: {exc}")
            return None
        except GatewayError as exc:
            # No clear answer: the refund row stays requested and must not be sent again.
            self.message_user(
                request,
                gettext(
                    "Refund of %(amount)s on %(invoice)s: no clear answer from the gateway "
                    "(%(error)s). It stays requested; do not refund again. Check it at the "
                    "gateway, or let reconciliation settle it."
                )
                % {"amount": asked, "invoice": label, "error": exc},
                messages.WARNING,
            )
            self.log_change(request, invoice, f"Refund of {logged} sent, outcome unknown: {exc}")
            return None
        except MultipayError as exc:
            self.message_user(
                request,
                gettext("Refund of %(amount)s on %(invoice)s refused: %(error)s")
                % {"amount": asked, "invoice": label, "error": exc},
                messages.ERROR,
            )
            return None
        invoice.refresh_from_db()
        self.log_addition(request, refund, f"Requested {logged}: {reason}")
        self.log_change(request, invoice, f"Refund {refund.pk} of {logged}: {refund.status}")
        names = {"amount": money(refund.amount, refund.currency), "invoice": label}
        if refund.status == RefundStatus.SUCCEEDED:
            self.message_user(
                request,
                gettext("Refunded %(amount)s on %(invoice)s. The invoice is now %(status)s.")
                % {**names, "status": status_label(invoice.status)},
                messages.SUCCESS,
            )
        elif refund.status == RefundStatus.FAILED:
            self.message_user(
                request,
                gettext("Refund of %(amount)s on %(invoice)s failed: %(reason)s.")
                % {
                    **names,
                    "reason": refund.failure_reason or gettext("the gateway gave no reason"),
                },
                messages.ERROR,
            )
        else:
            self.message_user(
                request,
                gettext(
                    "Refund of %(amount)s on %(invoice)s is %(status)s: the gateway has not "
                    "settled it yet; its notification (or reconciliation) will."
                )
                % {**names, "status": refund.get_status_display().lower()},
                messages.WARNING,
            )
        return refund

    # -- settlement ----------------------------------------------------------------------

    def settlement_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._settlement)(request, object_id)

    def _settlement(self, request: HttpRequest, object_id: str) -> HttpResponse:
        invoice = self.object_or_deny(request, object_id)
        if not self.has_change_permission(request, invoice):
            raise PermissionDenied
        self.store_settlement(request, invoice)
        return HttpResponseRedirect(self.url_of("change", invoice.pk))

    def store_settlement(self, request: HttpRequest, invoice: Invoice) -> None:
        """Read one invoice's settlement from its gateway and keep it; report what happened."""
        label = invoice_label(invoice)
        if not settles(invoice):
            self.message_user(
                request,
                gettext("Read settlement %(invoice)s: its gateway reports none.")
                % {"invoice": label},
                messages.WARNING,
            )
            return
        try:
            count = read_settlement(invoice)
        except MultipayError as exc:
            # The stored settlement, if any, stays as it was, and says how old it is.
            self.message_user(
                request,
                gettext("Read settlement %(invoice)s failed: %(error)s")
                % {"invoice": label, "error": exc},
                messages.ERROR,
            )
            return
        self.message_user(
            request,
            ngettext(
                "Read settlement %(invoice)s: %(count)d line(s) stored.",
                "Read settlement %(invoice)s: %(count)d line(s) stored.",
                count,
            )
            % {"invoice": label, "count": count},
            messages.SUCCESS,
        )
        self.log_change(request, invoice, f"Settlement read from the gateway: {count} line(s)")

    # -- verify, capture, cancel ---------------------------------------------------------

    @admin.action(description=_("Verify with gateway"), permissions=["change"])
    def verify_with_gateway(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        for invoice in queryset.select_related("order"):
            self.run_operation(request, invoice, "fetch_status")

    @admin.action(description=_("Capture…"), permissions=["change"])
    def capture(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse | None:
        return self.confirm_or_run(request, queryset, "capture")

    @admin.action(description=_("Cancel…"), permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse | None:
        return self.confirm_or_run(request, queryset, "cancel")

    OPERATION_PAGES = {
        "capture": (
            _("Capture"),
            _("Capture these payments? The customer's held money is taken."),
            _("Yes, capture"),
        ),
        "cancel": (
            # Cancelling payments, not leaving the page (a button's "Cancel").
            pgettext_lazy("cancel payments", "Cancel"),
            _(
                "Cancel these payments? The customer can no longer pay them; "
                "held money is released."
            ),
            _("Yes, cancel"),
        ),
    }

    #: What the admin tells of an operation on one invoice, as whole sentences: refused
    #: before any call, failed, changed, unchanged, or the gateway's answer not applied.
    OPERATION_MESSAGES = {
        "fetch_status": {
            "refused": _("Verify %(invoice)s: not done, %(reason)s."),
            "failed": _("Verify %(invoice)s failed: %(error)s"),
            "changed": _(
                "Verify %(invoice)s: %(previous)s → %(current)s (confirmed by the gateway)."
            ),
            "unchanged": _(
                "Verify %(invoice)s: no change: the gateway confirms it is %(current)s."
            ),
            "not_applied": _(
                "Verify %(invoice)s: the gateway's answer was not applied: %(reason)s."
            ),
        },
        "capture": {
            "refused": _("Capture %(invoice)s: not done, %(reason)s."),
            "failed": _("Capture %(invoice)s failed: %(error)s"),
            "changed": _(
                "Capture %(invoice)s: %(previous)s → %(current)s (confirmed by the gateway)."
            ),
            "unchanged": _(
                "Capture %(invoice)s: no change: the gateway confirms it is %(current)s."
            ),
            "not_applied": _(
                "Capture %(invoice)s: the gateway's answer was not applied: %(reason)s."
            ),
        },
        "cancel": {
            "refused": _("Cancel %(invoice)s: not done, %(reason)s."),
            "failed": _("Cancel %(invoice)s failed: %(error)s"),
            "changed": _(
                "Cancel %(invoice)s: %(previous)s → %(current)s (confirmed by the gateway)."
            ),
            "unchanged": _(
                "Cancel %(invoice)s: no change: the gateway confirms it is %(current)s."
            ),
            "not_applied": _(
                "Cancel %(invoice)s: the gateway's answer was not applied: %(reason)s."
            ),
        },
    }

    def confirm_or_run(
        self,
        request: HttpRequest,
        queryset: Iterable[Invoice],
        operation: str,
        *,
        single: Invoice | None = None,
    ) -> HttpResponse | None:
        invoices = list(queryset)
        if request.POST.get("post") == "yes":
            for invoice in invoices:
                self.run_operation(request, invoice, operation)
            return None
        title, question, submit = self.OPERATION_PAGES[operation]
        ready = [
            {"invoice": i, "amount": i.amount}
            for i in invoices
            if not operation_refusal(i, operation)
        ]
        refused = [
            {"invoice": i, "reason": operation_refusal(i, operation)}
            for i in invoices
            if operation_refusal(i, operation)
        ]
        return self.admin_page(
            request,
            "admin/django_multipay/invoice/confirm_action.html",
            title=title,
            action="" if single else operation,
            form_url=self.url_of(operation, single.pk) if single else "",
            question=question,
            ready=ready,
            refused=refused,
            submit_label=submit,
            invoices=invoices,
            original=single,
        )

    def operation_view(self, request: HttpRequest, object_id: str, operation: str) -> HttpResponse:
        """Capture or cancel one invoice: a confirmation page, then the operation."""
        invoice = self.object_or_deny(request, object_id)
        if not self.has_change_permission(request, invoice):
            raise PermissionDenied
        response = self.confirm_or_run(request, [invoice], operation, single=invoice)
        return response or HttpResponseRedirect(self.url_of("change", invoice.pk))

    def verify_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._verify)(request, object_id)

    def _verify(self, request: HttpRequest, object_id: str) -> HttpResponse:
        invoice = self.object_or_deny(request, object_id)
        if not self.has_change_permission(request, invoice):
            raise PermissionDenied
        self.run_operation(request, invoice, "fetch_status")
        return HttpResponseRedirect(self.url_of("change", invoice.pk))

    def run_operation(self, request: HttpRequest, invoice: Invoice, operation: str) -> None:
        """Verify, capture or cancel one invoice; report and log what happened."""
        label = invoice_label(invoice)
        said = self.OPERATION_MESSAGES[operation]
        # The admin log stays in English (a record, like the application's logs).
        verb = {"fetch_status": "Verify", "capture": "Capture", "cancel": "Cancel"}[operation]
        refusal = operation_refusal(invoice, operation)
        if refusal:
            self.message_user(
                request,
                said["refused"] % {"invoice": label, "reason": refusal},
                messages.WARNING,
            )
            return
        calls: dict[str, Callable[[Invoice], Outcome]] = {
            "fetch_status": payments.refresh,
            "capture": payments.capture,
            "cancel": payments.cancel,
        }
        call = calls[operation]
        try:
            outcome = call(invoice)
        except MultipayError as exc:
            self.message_user(
                request, said["failed"] % {"invoice": label, "error": exc}, messages.ERROR
            )
            self.log_change(request, invoice, f"{verb} failed: {exc}")
            return
        names = {
            "invoice": label,
            "previous": status_label(outcome.previous),
            "current": status_label(outcome.current),
            "reason": outcome.reason,
        }
        if outcome.changed:
            level, shown = messages.SUCCESS, said["changed"] % names
            text = f"{names['previous']} → {names['current']} (confirmed by the gateway)"
        elif outcome.result == NotificationResult.DUPLICATE:
            level, shown = messages.INFO, said["unchanged"] % names
            text = f"no change: the gateway confirms it is {names['current']}"
        else:
            level, shown = messages.WARNING, said["not_applied"] % names
            text = f"the gateway's answer was not applied: {outcome.reason}"
        self.message_user(request, shown, level)
        self.log_change(request, invoice, f"{verb} with gateway: {text}")
