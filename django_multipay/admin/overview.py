"""The admin's payments overview: a period's payments per alias, charts, what needs a person."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_multipay import charts, display, overview
from django_multipay.conf import multipay_settings
from django_multipay.models import PaymentsOverview
from django_multipay.status import NotificationResult


class OverviewForm(forms.Form):
    """The period and the alias, from the query string."""

    period = forms.ChoiceField(
        label=_("Period"),
        choices=[
            ("today", _("Today")),
            ("7d", _("Last 7 days")),
            ("30d", _("Last 30 days")),
            ("custom", _("Custom range")),
        ],
        initial="7d",
        required=False,
    )
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput({"type": "date"}))
    gateway = forms.ChoiceField(label=_("Gateway"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        aliases = sorted(multipay_settings.GATEWAYS)
        gateway = self.fields["gateway"]
        assert isinstance(gateway, forms.ChoiceField)
        gateway.choices = [("", gettext("All gateways"))] + [(a, a) for a in aliases]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError(gettext("A custom range needs both dates."))
            if end < start:
                raise forms.ValidationError(gettext("The range ends before it starts."))
            if (end - start).days + 1 > overview.MAX_DAYS:
                raise forms.ValidationError(
                    gettext("A range is at most %(days)s days.") % {"days": overview.MAX_DAYS}
                )
        return data

    def chosen(self) -> tuple[overview.Period, str | None]:
        """The period and alias asked for, or the last 7 days of every alias."""
        if not self.is_valid():
            return overview.Period.named("7d"), None
        data = self.cleaned_data
        alias = data.get("gateway") or None
        key = data.get("period") or "7d"
        if key == "custom":
            return overview.Period(data["start"], data["end"]), alias
        return overview.Period.named(key), alias


#: Shown where there is no figure.
NONE = "\u2013"


def _moment(value: datetime) -> str:
    """A moment as the admin's filters read it from the query string."""
    return timezone.localtime(value).isoformat()


def _money_label(currency: str, value: float) -> str:
    return display.format_money(Decimal(round(value)), currency)


def _money_cell(value: Decimal | float | None, currency: str) -> str:
    return display.format_money(Decimal(str(value or 0)), currency)


def _money(amounts: dict[str, Decimal]) -> list[str]:
    return [display.format_money(amount, currency) for currency, amount in sorted(amounts.items())]


@admin.register(PaymentsOverview)
class PaymentsOverviewAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """One page, no rows: staff who may view invoices see it; there is nothing to change."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(
            request.user.is_active and request.user.has_perm("django_multipay.view_invoice")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name="{}_{}_changelist".format(*info))]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = OverviewForm(request.GET or None)
        period, alias = form.chosen()
        data = overview.build(period, alias)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Payments overview"),
            "form": form,
            "overview": data,
            "rows": [self._row(figures) for figures in data.aliases],
            "charts": self._charts(data),
            "attention": self._attention(data),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/django_multipay/overview.html", context)

    # -- what the template shows -----------------------------------------------------------

    def _row(self, figures: overview.AliasFigures) -> dict[str, Any]:
        conversion = figures.conversion
        return {
            "alias": figures.alias,
            "started": figures.started,
            "paid": figures.paid,
            "failed": figures.failed,
            "cancelled": figures.cancelled,
            "expired": figures.expired,
            "conversion": display.format_percent(conversion) if conversion is not None else NONE,
            "paid_amounts": _money(figures.paid_amounts),
            "refunded_amounts": _money(figures.refunded_amounts),
        }

    def _charts(self, data: overview.Overview) -> list[dict[str, Any]]:
        days = data.period.days

        def day_label(day: date) -> str:
            return date_format(day, "j M")

        made = []
        currencies = sorted({currency for _alias, currency in data.paid_by_day})
        for currency in currencies:
            series = [
                charts.Series(alias, values)
                for (alias, cur), values in sorted(data.paid_by_day.items())
                if cur == currency
            ]
            title = gettext("Paid per day, %(currency)s") % {"currency": currency}
            made.append(
                {
                    "title": title,
                    "svg": charts.line_chart(
                        chart_id=f"mp-paid-{currency.lower()}",
                        title=title,
                        description=gettext(
                            "Amount captured per day from payments started that day, one line "
                            "per gateway; the table below gives the figures."
                        ),
                        days=days,
                        series=series,
                        y_label=partial(_money_label, currency),
                        day_label=day_label,
                    ),
                    "series": [s.label for s in series],
                    "table": [
                        [day_label(day)]
                        + [_money_cell(s.values.get(day), currency) for s in series]
                        for day in days
                    ],
                }
            )
        conversion = [
            charts.Series(
                alias,
                {day: (paid / started) for day, (started, paid) in by_day.items() if started},
            )
            for alias, by_day in sorted(data.conversion_by_day.items())
        ]
        if conversion:
            title = gettext("Conversion per day")
            made.append(
                {
                    "title": title,
                    "svg": charts.line_chart(
                        chart_id="mp-conversion",
                        title=title,
                        description=gettext(
                            "Share of the payments started each day that were paid, one line per "
                            "gateway; the table below gives the figures."
                        ),
                        days=days,
                        series=conversion,
                        y_label=display.format_percent,
                        y_max=1.0,
                        gaps=True,
                        day_label=day_label,
                    ),
                    "series": [s.label for s in conversion],
                    "table": [
                        [day_label(day)]
                        + [
                            display.format_percent(float(s.values[day]))
                            if day in s.values
                            else NONE
                            for s in conversion
                        ]
                        for day in days
                    ],
                }
            )
        return made

    def _changelist(self, model: str, params: dict[str, str]) -> str:
        url = reverse(f"{self.admin_site.name}:django_multipay_{model}_changelist")
        return f"{url}?{urlencode(params)}"

    def _attention(self, data: overview.Overview) -> list[dict[str, Any]]:
        """Each set that needs a person, with a link to exactly its rows."""
        seen = data.attention
        alias = {"gateway": data.alias} if data.alias else {}
        items = [
            {
                "label": gettext(
                    "Invoices awaiting the gateway's word for over %(minutes)s minutes"
                )
                % {"minutes": round(float(multipay_settings.RECONCILE_PENDING_AFTER) / 60)},
                "count": seen.awaiting,
                "url": self._changelist(
                    "invoice",
                    {
                        "status__in": ",".join(overview.AWAITING_STATUSES),
                        "created_at__lte": _moment(seen.awaiting_before),
                        **alias,
                    },
                ),
            },
            {
                "label": gettext("Holds lapsing within 24 hours"),
                "count": seen.lapsing_holds,
                "url": self._changelist(
                    "invoice",
                    {
                        "status": "authorized",
                        "hold_expires_at__gt": _moment(seen.now),
                        "hold_expires_at__lte": _moment(seen.lapsing_until),
                        **alias,
                    },
                ),
            },
            {
                "label": gettext("Refunds whose outcome is unknown"),
                "count": seen.unknown_refunds,
                "url": self._changelist(
                    "refund",
                    {
                        "status__in": ",".join(str(s) for s in overview.UNKNOWN_REFUND_STATUSES),
                        **({"invoice__gateway": data.alias} if data.alias else {}),
                    },
                ),
            },
        ]
        labels = dict(NotificationResult.choices)
        for (result, reason), count in seen.notifications.items():
            items.append(
                {
                    "label": gettext("Notifications %(result)s: %(reason)s")
                    % {"result": str(labels[result]).lower(), "reason": reason or NONE},
                    "count": count,
                    "url": self._changelist(
                        "notification",
                        {
                            "result": result,
                            "reason": reason,
                            "received_at__gte": _moment(data.period.start),
                            "received_at__lt": _moment(data.period.end),
                            **alias,
                        },
                    ),
                }
            )
        return items
