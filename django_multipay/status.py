"""Invoice, order, refund and notification statuses, and the one table of legal invoice moves."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.utils.translation import gettext_lazy as _


class InvoiceStatus(models.TextChoices):
    CREATED = "created", _("Created")
    PENDING = "pending", _("Pending")
    AUTHORIZED = "authorized", _("Authorized")
    PAID = "paid", _("Paid")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    CHARGED_BACK = "charged_back", _("Charged back")


class OrderStatus(models.TextChoices):
    NEW = "new", _("New")
    PENDING = "pending", _("Pending")
    PAID = "paid", _("Paid")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class NotificationResult(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    DUPLICATE = "duplicate", _("Ignored as duplicate")
    IGNORED = "ignored", _("Ignored")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Failed")
    #: Failed on our side ``RECONCILE_NOTIFICATION_ATTEMPTS`` times: no longer retried.
    ABANDONED = "abandoned", _("Abandoned after retries")


S = InvoiceStatus

#: Every legal invoice move. Anything else is refused (and logged) by the processing engine.
#: Moves may skip steps a gateway does not have (pending → paid without authorized).
TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.PENDING, S.AUTHORIZED, S.PAID, S.FAILED, S.CANCELLED, S.EXPIRED}),
    S.PENDING: frozenset({S.AUTHORIZED, S.PAID, S.FAILED, S.CANCELLED, S.EXPIRED}),
    S.AUTHORIZED: frozenset({S.PAID, S.FAILED, S.CANCELLED, S.EXPIRED}),
    S.PAID: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.CHARGED_BACK}),
    S.PARTIALLY_REFUNDED: frozenset({S.REFUNDED, S.CHARGED_BACK}),
    S.REFUNDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
    S.CHARGED_BACK: frozenset(),
}

#: How far along each status is. A report of an earlier stage after a later one (a late
#: "pending" after "paid") is stale news: ignored, not an error.
STAGE: dict[str, int] = {
    S.CREATED: 0,
    S.PENDING: 1,
    S.AUTHORIZED: 2,
    S.PAID: 3,
    S.FAILED: 3,
    S.CANCELLED: 3,
    S.EXPIRED: 3,
    S.PARTIALLY_REFUNDED: 4,
    S.REFUNDED: 5,
    S.CHARGED_BACK: 5,
}

#: Statuses in which money was taken from the customer.
CAPTURED = frozenset({S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED, S.CHARGED_BACK})
#: Statuses that end an invoice's life without money.
UNPAID_FINAL = frozenset({S.FAILED, S.CANCELLED, S.EXPIRED})
OPEN = frozenset({S.CREATED, S.PENDING, S.AUTHORIZED})


def can_move(current: str, new: str) -> bool:
    """True if ``current → new`` is in :data:`TRANSITIONS`."""
    return new in TRANSITIONS.get(current, frozenset())


def is_stale(current: str, new: str) -> bool:
    """True if ``new`` is news older than ``current`` (or the same), and so to be ignored."""
    if new == current:
        return True
    return STAGE.get(new, 0) < STAGE.get(current, 0) or (new in OPEN and current not in OPEN)


def order_status_for(invoice_statuses: Iterable[str]) -> str:
    """Order status derived from its invoices' statuses (see docs/architecture.md)."""
    statuses = list(invoice_statuses)
    if not statuses:
        return OrderStatus.NEW
    if S.PARTIALLY_REFUNDED in statuses:
        return OrderStatus.PARTIALLY_REFUNDED
    if S.PAID in statuses:
        return OrderStatus.PAID
    if S.REFUNDED in statuses or S.CHARGED_BACK in statuses:
        return OrderStatus.REFUNDED
    if any(s in OPEN for s in statuses):
        return OrderStatus.PENDING
    # Every attempt ended without money: the latest attempt says whether it failed or was
    # given up (the caller passes statuses oldest first).
    return OrderStatus.CANCELLED if statuses[-1] == S.CANCELLED else OrderStatus.FAILED
