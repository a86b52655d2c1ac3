"""What several admin pages share: the read-only record admin, labels, money columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext

from django_multipay import money as money_module
from django_multipay.admin.forms import gateway_for
from django_multipay.models import Invoice, Notification
from django_multipay.status import InvoiceStatus
from django_multipay.templatetags.multipay import money

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


Tool = dict[str, Any]


def silent_alias(alias: str) -> str:
    """Why ``alias`` may be receiving no notifications, naming the command that registers
    its webhook; empty when nothing says so. Read from the settings and the stored
    notifications only: rendering a page never calls the gateway."""
    gateway = gateway_for(alias)
    command = gateway.webhook_command if gateway is not None else ""
    if gateway is None or not command:
        return ""
    register = f"python manage.py {command.format(alias=alias)}"
    names = {"alias": alias, "gateway": gateway.display_name, "command": register}
    if not gateway.option("webhook_secret"):
        # Translators: webhook_secret and OPTIONS are setting names: keep them as they are.
        unsigned = gettext(
            "%(alias)s (%(gateway)s) has no webhook_secret in its OPTIONS, so every "
            "notification from it is refused. Set it, then register the webhook: %(command)s"
        )
        return unsigned % names
    if Notification.objects.filter(gateway=alias).exists():
        return ""
    unregistered = gettext(
        "No notification has been received from %(alias)s (%(gateway)s) yet: it "
        "notifies only a webhook registered with it, and none may be registered. "
        "Register one with: %(command)s"
    )
    return unregistered % names


def status_label(status: str) -> str:
    try:
        return str(InvoiceStatus(status).label).lower()
    except ValueError:
        return status


def invoice_label(invoice: Invoice) -> str:
    """How messages name an invoice: the order reference, the alias and the gateway's id."""
    return f"{invoice.order.reference} ({invoice.gateway} {invoice.gateway_id or invoice.pk})"


def pretty_json(value: Any) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str),
    )


def money_column(
    field: str,
    description: StrOrPromise,
    *,
    ordering: str | None = None,
    currency: str = "currency",
) -> Callable[[Any, Any], str]:
    """An admin column (or read-only field) showing ``obj.<field>`` with its currency's decimal
    places; ``currency`` is the dotted path to the currency from the object."""

    @admin.display(description=description, ordering=ordering)
    def column(admin_obj: Any, obj: Any) -> str:
        code: Any = obj
        for part in currency.split("."):
            code = getattr(code, part)
        return money(getattr(obj, field), code)

    return column


def form_amount(amount: Decimal, currency: str) -> str:
    """The amount as the form shows it: the currency's decimal places, no code."""
    try:
        return money_module.format_decimal(amount, currency)
    except ValidationError:
        return f"{amount}"  # not an amount in that currency (more places, a typo): as given


# -- shared pieces ---------------------------------------------------------------------------


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


class RecordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A record changed only through actions: never added, saved or deleted from a form.

    The change permission is kept, because the actions need it; the form has no save button
    and a POST to it is refused, since saving would write a stale copy over a status the
    processing engine may just have changed.
    """

    change_form_template = "admin/django_multipay/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # The record of what happened is kept.

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*self.fields_shown(), *super().get_readonly_fields(request, obj)]

    def fields_shown(self) -> list[str]:
        names: list[str] = []
        for _title, options in self.fieldsets or ():
            for name in options["fields"]:
                names.extend(name if isinstance(name, (list, tuple)) else [name])
        return names

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            raise PermissionDenied(gettext("These records change only through their actions."))
        context = {
            "title": capfirst(str(self.opts.verbose_name)),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
            **(extra_context or {}),
        }
        return super().changeform_view(request, object_id, form_url, context)

    def tools(self, request: HttpRequest, obj: Any) -> list[Tool]:
        """Buttons for the change page: ``{"label", "url", "post", "name"}``."""
        return []

    def subtitle(self, obj: Any) -> str:
        return str(obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if obj is not None:
            context["multipay_tools"] = self.tools(request, obj)
            context.setdefault("subtitle", self.subtitle(obj))
        return super().change_view(request, object_id, form_url, context)

    def url_of(self, name: str, *args: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args)

    def admin_page(self, request: HttpRequest, template: str, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "app_label": self.opts.app_label,
                **context,
            },
        )

    def object_or_deny(self, request: HttpRequest, object_id: str) -> Any:
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied(gettext("No such record, or not yours to see."))
        return obj
