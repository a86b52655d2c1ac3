"""Query-string filters of the order and notification lists (django-filter)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import django_filters  # type: ignore[import-untyped]
from django import forms

from django_multipay.models import Notification, Order
from django_multipay.status import NotificationResult, OrderStatus


class SafeIsoDateTimeField(django_filters.fields.IsoDateTimeField):  # type: ignore[misc]
    """An ISO 8601 date-time that the database can store (no overflow when made UTC)."""

    def to_python(self, value: Any) -> datetime | None:
        if value == "":
            # Given but empty is a mistake, not "no filter".
            raise forms.ValidationError("Give a date and time (ISO 8601).", code="required")
        parsed = super().to_python(value)
        if parsed is not None:
            try:
                parsed.astimezone(timezone.utc)
            except (OverflowError, ValueError):
                raise forms.ValidationError("Date out of range.", code="invalid") from None
        return parsed  # type: ignore[no-any-return]


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` (also ``1``/``0``); anything else is an error, not "no filter"."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value: Any) -> bool | None:
        if value is None:
            return None
        try:
            return self.VALUES[str(value).lower()]
        except KeyError:
            raise forms.ValidationError("Give true or false.", code="invalid") from None


class StrictUUIDField(forms.UUIDField):
    def to_python(self, value: Any) -> Any:
        if value == "":
            raise forms.ValidationError("Give a UUID.", code="required")
        return super().to_python(value)


class UUIDFilter(django_filters.UUIDFilter):  # type: ignore[misc]
    field_class = StrictUUIDField


class BooleanFilter(django_filters.BooleanFilter):  # type: ignore[misc]
    field_class = StrictBooleanField


class DateTimeFilter(django_filters.IsoDateTimeFilter):  # type: ignore[misc]
    field_class = SafeIsoDateTimeField


class UpperCaseFilter(django_filters.CharFilter):  # type: ignore[misc]
    """Exact match on an upper-case column (currency codes), whatever case is given."""

    def filter(self, qs: Any, value: Any) -> Any:
        return super().filter(qs, value.upper() if isinstance(value, str) else value)


class OrderFilter(django_filters.FilterSet):  # type: ignore[misc]
    status = django_filters.MultipleChoiceFilter(
        choices=OrderStatus.choices, help_text="Repeat for several: `?status=paid&status=pending`."
    )
    currency = UpperCaseFilter(max_length=3, help_text="ISO 4217 code.")
    reference = django_filters.CharFilter(max_length=100, help_text="The shop's order number.")
    created_after = DateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = DateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601)."
    )

    class Meta:
        model = Order
        fields = ("status", "currency", "reference", "created_after", "created_before")


class NotificationFilter(django_filters.FilterSet):  # type: ignore[misc]
    gateway = django_filters.CharFilter(max_length=50, help_text="Gateway alias.")
    result = django_filters.MultipleChoiceFilter(choices=NotificationResult.choices)
    verified = BooleanFilter()
    invoice = UUIDFilter(field_name="invoice_id")
    received_after = DateTimeFilter(
        field_name="received_at", lookup_expr="gte", help_text="Received at or after (ISO 8601)."
    )
    received_before = DateTimeFilter(
        field_name="received_at", lookup_expr="lt", help_text="Received before (ISO 8601)."
    )

    class Meta:
        model = Notification
        fields = ("gateway", "result", "verified", "invoice", "received_after", "received_before")
