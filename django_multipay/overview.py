"""The payments overview: per alias, a period's payments, money, days, and what needs a person."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from django_multipay.conf import multipay_settings
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.status import (
    CAPTURED,
    InvoiceStatus,
    NotificationResult,
    RefundStatus,
)

#: Refunds whose outcome the gateway has not given: a person may have to find out.
UNKNOWN_REFUND_STATUSES = (RefundStatus.REQUESTED, RefundStatus.PENDING)
#: Invoices still waiting for the gateway's word on whether they were paid (a hold,
#: ``authorized``, has had it: it is shown by when it lapses).
AWAITING_STATUSES = (InvoiceStatus.PENDING,)
#: How far ahead a lapsing hold is shown.
HOLD_LAPSING_WITHIN = timedelta(hours=24)
#: The periods offered, by key: how many days back from today (today included).
PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30}
#: The longest custom range, in days: the daily charts stay readable and the query bounded.
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Days ``first`` to ``last`` (inclusive) in the shop's time zone."""

    first: date
    last: date
    key: str = "custom"

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self) -> datetime:
        """The moment after the last day (exclusive)."""
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @classmethod
    def named(cls, key: str, today: date | None = None) -> Period:
        today = today or timezone.localdate()
        return cls(today - timedelta(days=PERIOD_DAYS[key] - 1), today, key)


@dataclass
class AliasFigures:
    """One alias's payments started in the period, and what became of them."""

    alias: str
    started: int = 0
    paid: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    #: Captured amounts of the paid ones, and refunds that succeeded in the period, by currency.
    paid_amounts: dict[str, Decimal] = field(default_factory=dict)
    refunded_amounts: dict[str, Decimal] = field(default_factory=dict)

    @property
    def conversion(self) -> float | None:
        """Paid over started, 0 to 1; ``None`` with nothing started."""
        return self.paid / self.started if self.started else None


@dataclass
class Attention:
    """What needs a person now, with the moments that bound each set (for the links)."""

    now: datetime
    awaiting_before: datetime
    awaiting: int = 0
    lapsing_holds: int = 0
    unknown_refunds: int = 0
    #: (result, reason) -> count, failed and rejected notifications received in the period.
    notifications: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def lapsing_until(self) -> datetime:
        return self.now + HOLD_LAPSING_WITHIN


@dataclass
class Overview:
    """Everything the page shows, computed in a fixed number of queries."""

    period: Period
    alias: str | None
    aliases: list[AliasFigures]
    #: (alias, currency) -> day -> captured amount of the payments started that day and paid.
    paid_by_day: dict[tuple[str, str], dict[date, Decimal]]
    #: alias -> day -> (started, paid).
    conversion_by_day: dict[str, dict[date, tuple[int, int]]]
    attention: Attention


def _by_alias(qs: Any, alias: str | None, field_name: str = "gateway") -> Any:
    return qs.filter(**{field_name: alias}) if alias else qs


def build(period: Period, alias: str | None = None, *, now: datetime | None = None) -> Overview:
    """The overview of ``period``, for one alias or all. Seven queries, whatever the rows."""
    now = now or timezone.now()
    started = _by_alias(
        Invoice.objects.filter(created_at__gte=period.start, created_at__lt=period.end), alias
    )
    paid = Q(status__in=CAPTURED)
    figures: dict[str, AliasFigures] = {}
    totals = (
        started.order_by()
        .values("gateway", "currency")
        .annotate(
            started=Count("pk"),
            paid=Count("pk", filter=paid),
            failed=Count("pk", filter=Q(status=InvoiceStatus.FAILED)),
            cancelled=Count("pk", filter=Q(status=InvoiceStatus.CANCELLED)),
            expired=Count("pk", filter=Q(status=InvoiceStatus.EXPIRED)),
            paid_amount=Sum("captured_amount", filter=paid),
        )
    )
    for row in totals:
        figure = figures.setdefault(row["gateway"], AliasFigures(row["gateway"]))
        for name in ("started", "paid", "failed", "cancelled", "expired"):
            setattr(figure, name, getattr(figure, name) + row[name])
        if row["paid_amount"]:
            figure.paid_amounts[row["currency"]] = row["paid_amount"]
    refunded = (
        _by_alias(
            Refund.objects.filter(
                status=RefundStatus.SUCCEEDED,
                updated_at__gte=period.start,
                updated_at__lt=period.end,
            ),
            alias,
            "invoice__gateway",
        )
        .order_by()
        .values("invoice__gateway", "currency")
        .annotate(total=Sum("amount"))
    )
    for row in refunded:
        figure = figures.setdefault(row["invoice__gateway"], AliasFigures(row["invoice__gateway"]))
        figure.refunded_amounts[row["currency"]] = row["total"]

    paid_by_day: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
    conversion_by_day: dict[str, dict[date, tuple[int, int]]] = defaultdict(dict)
    daily = (
        started.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("day", "gateway", "currency")
        .annotate(started=Count("pk"), paid=Count("pk", filter=paid))
        .annotate(paid_amount=Sum("captured_amount", filter=paid))
    )
    for row in daily:
        day, gateway = row["day"], row["gateway"]
        if row["paid_amount"]:
            paid_by_day[(gateway, row["currency"])][day] = row["paid_amount"]
        before = conversion_by_day[gateway].get(day, (0, 0))
        conversion_by_day[gateway][day] = (before[0] + row["started"], before[1] + row["paid"])

    attention = Attention(
        now=now,
        awaiting_before=now - timedelta(seconds=float(multipay_settings.RECONCILE_PENDING_AFTER)),
    )
    attention.awaiting = awaiting_invoices(attention, alias).count()
    attention.lapsing_holds = lapsing_holds(attention, alias).count()
    attention.unknown_refunds = unknown_refunds(alias).count()
    troubled = (
        _by_alias(
            Notification.objects.filter(
                result__in=(NotificationResult.FAILED, NotificationResult.REJECTED),
                received_at__gte=period.start,
                received_at__lt=period.end,
            ),
            alias,
        )
        .order_by()
        .values("result", "reason")
        .annotate(count=Count("pk"))
        .order_by("-count", "result", "reason")
    )
    attention.notifications = {(row["result"], row["reason"]): row["count"] for row in troubled}
    return Overview(
        period=period,
        alias=alias,
        aliases=sorted(figures.values(), key=lambda f: f.alias),
        paid_by_day=dict(paid_by_day),
        conversion_by_day=dict(conversion_by_day),
        attention=attention,
    )


def awaiting_invoices(attention: Attention, alias: str | None = None) -> Any:
    """Invoices waiting for the gateway's word for longer than reconciliation waits."""
    return _by_alias(
        Invoice.objects.filter(
            status__in=AWAITING_STATUSES, created_at__lte=attention.awaiting_before
        ),
        alias,
    )


def lapsing_holds(attention: Attention, alias: str | None = None) -> Any:
    """Holds that lapse at the gateway within :data:`HOLD_LAPSING_WITHIN` unless captured."""
    return _by_alias(
        Invoice.objects.filter(
            status=InvoiceStatus.AUTHORIZED,
            hold_expires_at__gt=attention.now,
            hold_expires_at__lte=attention.lapsing_until,
        ),
        alias,
    )


def unknown_refunds(alias: str | None = None) -> Any:
    """Refunds the gateway has given no final word on."""
    return _by_alias(
        Refund.objects.filter(status__in=UNKNOWN_REFUND_STATUSES), alias, "invoice__gateway"
    )
