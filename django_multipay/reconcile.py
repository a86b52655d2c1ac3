"""Reconciliation: settle what callbacks left open, by asking the gateways (command and tasks)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, DateTimeField, F, Q, QuerySet, Value, When
from django.utils import timezone

from django_multipay import logs, metrics, notifications, payments, processing
from django_multipay.conf import multipay_settings
from django_multipay.exceptions import (
    AmountMismatch,
    GatewayConfigurationError,
    GatewayError,
)
from django_multipay.gateways.results import StatusResult
from django_multipay.models import Invoice, Notification, ReconciliationRun, Refund
from django_multipay.registry import get_gateway
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus

logger = logs.get_logger("django_multipay.reconcile")

#: Invoices whose status may still move at the gateway without us hearing of it.
RECHECK_STATUSES = (InvoiceStatus.PENDING, InvoiceStatus.AUTHORIZED)
#: Invoices that expire with their payment page (``expires_at``). A hold (``authorized``) is
#: not one of them: it has its own lifetime (``hold_expires_at``) and ends only on the
#: gateway's word (:func:`check_hold`).
EXPIRABLE_STATUSES = (InvoiceStatus.CREATED, InvoiceStatus.PENDING)
#: Refunds whose outcome the gateway has not told us yet.
UNSETTLED_REFUNDS = (RefundStatus.REQUESTED, RefundStatus.PENDING)
#: Notifications whose processing is not finished (deferred, or failed on our side).
PENDING_NOTIFICATION_RESULTS = (NotificationResult.RECEIVED, NotificationResult.FAILED)

Progress = Callable[[str], None]

#: Change lines a summary keeps (the counts are always complete).
MAX_CHANGES = 1000


@dataclass
class Summary:
    """What one reconciliation run looked at and what it changed."""

    dry_run: bool = False
    invoices_checked: int = 0
    invoices_changed: int = 0
    invoices_expired: int = 0
    #: Holds past their lifetime that the gateway was asked about, and those it still holds.
    holds_checked: int = 0
    holds_held: int = 0
    notifications_retried: int = 0
    notifications_settled: int = 0
    refunds_checked: int = 0
    refunds_settled: int = 0
    skipped: int = 0
    errors: int = 0
    #: What changed, one line each, up to ``MAX_CHANGES``: a run over millions of invoices
    #: must not hold a line for each in memory. ``changes_omitted`` counts the rest.
    changes: list[str] = field(default_factory=list)
    changes_omitted: int = 0

    def note(self, change: str) -> None:
        if len(self.changes) < MAX_CHANGES:
            self.changes.append(change)
        else:
            self.changes_omitted += 1

    def merge(self, other: Summary) -> None:
        for name in (
            "invoices_checked",
            "invoices_changed",
            "invoices_expired",
            "holds_checked",
            "holds_held",
            "notifications_retried",
            "notifications_settled",
            "refunds_checked",
            "refunds_settled",
            "skipped",
            "errors",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for change in other.changes:
            self.note(change)
        self.changes_omitted += other.changes_omitted

    def lines(self) -> list[str]:
        verb = "would be checked" if self.dry_run else "checked"
        return [
            f"Invoices: {self.invoices_checked} {verb}, {self.invoices_changed} changed, "
            f"{self.invoices_expired} expired.",
            f"Holds past their lifetime: {self.holds_checked} asked, "
            f"{self.holds_held} still held by the gateway.",
            f"Notifications: {self.notifications_retried} retried, "
            f"{self.notifications_settled} settled.",
            f"Refunds: {self.refunds_checked} checked, {self.refunds_settled} settled.",
            f"Skipped (gateway cannot tell): {self.skipped}. Errors: {self.errors}.",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def backoff(attempts: int) -> timedelta:
    """How long to wait before asking the gateway about an invoice again."""
    base = float(multipay_settings.RECONCILE_BACKOFF)
    cap = float(multipay_settings.RECONCILE_BACKOFF_MAX)
    return timedelta(seconds=min(cap, base * 2 ** max(attempts - 1, 0)))


def _gateway(alias: str) -> Any:
    try:
        return get_gateway(alias)
    except GatewayConfigurationError:
        # An alias removed from settings: its rows stay as they are, for an operator.
        return None


def _filter(qs: QuerySet[Any], gateway: str | None, limit: int | None) -> Iterable[Any]:
    if gateway:
        qs = qs.filter(gateway=gateway)
    size = int(multipay_settings.RECONCILE_CHUNK_SIZE)
    if limit is not None:
        qs = qs[:limit]
    return qs.iterator(chunk_size=size)


def _tick(progress: Progress | None, done: int, what: str) -> None:
    size = int(multipay_settings.RECONCILE_CHUNK_SIZE)
    if progress is not None and done and done % size == 0:
        progress(f"{what}: {done} done")


# -- invoices -----------------------------------------------------------------------------


def stale_invoices(*, older_than: timedelta | None = None, now: datetime | None = None) -> Any:
    """Open invoices made more than ``older_than`` ago whose back-off has run out."""
    now = now or timezone.now()
    if older_than is None:
        older_than = timedelta(seconds=float(multipay_settings.RECONCILE_PENDING_AFTER))
    return (
        Invoice.objects.filter(status__in=RECHECK_STATUSES, created_at__lte=now - older_than)
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .order_by("created_at")
    )


def expired_invoices(*, now: datetime | None = None) -> Any:
    """Unpaid invoices (created, pending) whose payment page (``expires_at``) has expired."""
    return Invoice.objects.filter(
        status__in=EXPIRABLE_STATUSES, expires_at__lt=now or timezone.now()
    ).order_by("expires_at")


def lapsed_holds(*, now: datetime | None = None) -> Any:
    """Holds (authorized invoices) past their own lifetime (``hold_expires_at``) whose
    back-off has run out: the gateway is asked whether it still holds them."""
    now = now or timezone.now()
    return (
        Invoice.objects.filter(status=InvoiceStatus.AUTHORIZED, hold_expires_at__lte=now)
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .order_by("hold_expires_at")
    )


def _schedule(invoice: Invoice, attempts: int, *, claim: bool = False) -> bool:
    """Count an attempt and set when to ask again: after the back-off, but no later than
    the moment a hold's lifetime ends. Bookkeeping only, never the status: a plain update,
    outside the processing engine.

    With ``claim`` the update is made only if no other run has counted an attempt since
    the invoice was read: the run that wins it alone asks (and may capture); returns
    whether it won."""
    now = timezone.now()
    later = now + backoff(attempts)
    next_check = Case(
        When(
            status=InvoiceStatus.AUTHORIZED,
            hold_expires_at__gt=now,
            hold_expires_at__lt=later,
            then=F("hold_expires_at"),
        ),
        default=Value(later),
        output_field=DateTimeField(),
    )
    rows = Invoice.objects.filter(pk=invoice.pk)
    if claim:
        rows = rows.filter(reconcile_attempts=invoice.reconcile_attempts)
    return bool(rows.update(reconcile_attempts=attempts, next_check_at=next_check))


def _listed_statuses(alias: str, invoices: Sequence[Invoice]) -> Mapping[Any, StatusResult]:
    """What the alias's gateway listing says of these invoices, in a few calls for all of
    them (``fetch_statuses``); empty when it has none, when there is only one invoice (one
    status read is cheaper than a listing), when the alias captures on reconciliation (each
    capture is claimed and made alone) or when the listing fails (each is then read alone)."""
    gateway = _gateway(alias)
    if gateway is None or len(invoices) < 2 or not gateway.supports("fetch_status"):
        return {}
    if gateway.auto_capture and gateway.supports("capture"):
        return {}
    try:
        listed = gateway.fetch_statuses(invoices)
    except GatewayError as exc:
        logger.warning("Listing %s invoices of %s failed: %s", len(invoices), alias, exc)
        return {}
    return listed or {}


def check_invoices(invoices: Sequence[Invoice], *, dry_run: bool = False) -> Summary:
    """:func:`check_invoice` for a batch: each alias whose gateway lists payments is asked
    once for all of its invoices in the batch; the ones its listing leaves out are read
    alone, as are every other alias's."""
    summary = Summary(dry_run=dry_run)
    by_alias: dict[str, list[Invoice]] = {}
    for invoice in invoices:
        by_alias.setdefault(invoice.gateway, []).append(invoice)
    for alias, group in by_alias.items():
        listed = {} if dry_run else _listed_statuses(alias, group)
        for invoice in group:
            summary.merge(check_invoice(invoice, dry_run=dry_run, known=listed.get(invoice.pk)))
    return summary


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@logs.for_invoice
def check_invoice(
    invoice: Invoice, *, dry_run: bool = False, known: StatusResult | None = None
) -> Summary:
    """Ask the gateway for the invoice's status and apply it; back off while it stays open.
    ``known`` is the gateway's word already read for it by a listing (:func:`check_invoices`).

    For an alias that captures automatically (``auto_capture``) the gateway is asked
    through ``reconcile_status``, which captures a hold no callback captured. Two runs
    reading the invoice at once cannot both do so: the attempt is counted first, by the
    one run whose count is still the one it read (the other skips the invoice), and a
    capture racing a callback's is settled by the gateway's answer."""
    summary = Summary(dry_run=dry_run)
    gateway = _gateway(invoice.gateway)
    if gateway is None or not gateway.supports("fetch_status"):
        summary.skipped += 1
        return summary
    if dry_run:
        summary.invoices_checked += 1
        summary.note(f"invoice {invoice.pk}: would ask {invoice.gateway}")
        return summary
    attempts = invoice.reconcile_attempts + 1
    captures = gateway.auto_capture and gateway.supports("capture")
    if captures and not _schedule(invoice, attempts, claim=True):
        summary.note(f"invoice {invoice.pk}: taken by another reconciliation")
        return summary
    summary.invoices_checked += 1
    try:
        if known is None or captures:
            known = gateway.reconcile_status(invoice)
        outcome = payments.apply_verified(invoice, known)
    except (GatewayError, AmountMismatch) as exc:
        logger.warning("Reconciling invoice %s failed: %s", invoice.pk, exc)
        summary.errors += 1
    else:
        if outcome.changed:
            summary.invoices_changed += 1
            summary.note(f"invoice {invoice.pk}: {outcome.previous} -> {outcome.current}")
    if not captures:
        _schedule(invoice, attempts)
    return summary


@logs.for_invoice
def check_hold(invoice: Invoice, *, dry_run: bool = False) -> Summary:
    """Ask the gateway about a hold past its lifetime, and move it only on the gateway's word:
    still held, it stays ``authorized`` (logged and reported, asked again after the
    back-off); released, expired or failed there, that is applied. Never ended here."""
    summary = check_invoice(invoice, dry_run=dry_run)
    if not summary.invoices_checked:
        return summary
    summary.holds_checked += 1
    if dry_run or summary.errors:
        return summary
    if Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.AUTHORIZED).exists():
        summary.holds_held += 1
        logger.warning(
            "Invoice %s: its hold passed its lifetime (%s) but %s still holds it; it stays "
            "authorized and is asked about again later",
            invoice.pk,
            invoice.hold_expires_at.isoformat() if invoice.hold_expires_at else "?",
            invoice.gateway,
        )
        summary.note(f"invoice {invoice.pk}: hold past its lifetime, still held by the gateway")
    return summary


@logs.for_invoice
def expire_invoice(invoice: Invoice, *, dry_run: bool = False) -> Summary:
    """Expire an unpaid invoice whose payment page expired, unless the gateway says it was
    paid (or is held) after all. A hold is never expired here."""
    summary = Summary(dry_run=dry_run)
    if invoice.status not in EXPIRABLE_STATUSES:
        return summary
    if dry_run:
        summary.invoices_expired += 1
        summary.note(f"invoice {invoice.pk}: would expire")
        return summary
    gateway = _gateway(invoice.gateway)
    if gateway is None:
        summary.skipped += 1
        return summary
    if invoice.gateway_id and gateway.supports("fetch_status"):
        # Money may have arrived just before the deadline: the gateway's word comes first.
        try:
            outcome = payments.refresh(invoice)
        except (GatewayError, AmountMismatch) as exc:
            logger.warning("Invoice %s not expired: the gateway could not say: %s", invoice.pk, exc)
            summary.errors += 1
            return summary
        summary.invoices_checked += 1
        if outcome.changed:
            summary.invoices_changed += 1
            summary.note(f"invoice {invoice.pk}: {outcome.previous} -> {outcome.current}")
        if outcome.current and outcome.current not in EXPIRABLE_STATUSES:
            return summary
    try:
        # Only while it is still unpaid: a hold that began meanwhile is not the page's to end.
        outcome = processing.apply_status(
            Q(pk=invoice.pk, status__in=EXPIRABLE_STATUSES),
            StatusResult(status=InvoiceStatus.EXPIRED, failure_reason="expired before payment"),
        )
    except Invoice.DoesNotExist:
        return summary
    if outcome.changed:
        summary.invoices_expired += 1
        summary.note(f"invoice {invoice.pk}: {outcome.previous} -> expired")
    return summary


# -- notifications ------------------------------------------------------------------------


def retryable_notifications(*, older_than: timedelta | None = None) -> Any:
    """Notifications that failed to process, and deferred ones no worker has finished."""
    if older_than is None:
        older_than = timedelta(seconds=float(multipay_settings.RECONCILE_PENDING_AFTER))
    cutoff = timezone.now() - older_than
    return (
        Notification.objects.filter(
            attempts__lt=int(multipay_settings.RECONCILE_NOTIFICATION_ATTEMPTS)
        )
        .filter(
            Q(result=NotificationResult.FAILED)
            | Q(result=NotificationResult.RECEIVED, received_at__lte=cutoff)
        )
        .order_by("received_at", "id")
    )


def process_stored(notification: Notification) -> str:
    """Run the notify flow on a stored notification; return its result.

    With an invoice already known (authenticated by the notify view, or identified by an
    earlier attempt) the invoice's status is read from the gateway; otherwise the stored
    request is parsed again as if it had just arrived."""
    gateway = _gateway(notification.gateway)
    if gateway is None:
        return notification.result
    attempts = notification.attempts + 1  # this run, however it ends
    try:
        with logs.scope(
            alias=notification.gateway,
            notification_id=notification.pk,
            invoice_id=notification.invoice_id,
        ):
            notifications.reprocess(notification)
    except Exception as exc:
        # The run still counts (a task's or a retry's), or a row that fails the same way
        # every time would be retried for ever. Kept failed, for the next retry.
        Notification.objects.filter(pk=notification.pk).update(
            result=NotificationResult.FAILED,
            reason=f"internal error: {type(exc).__name__}; will be retried",
            attempts=attempts,
            processed_at=timezone.now(),
        )
        metrics.notification_finished(notification.gateway, NotificationResult.FAILED)
        raise
    notification.refresh_from_db(fields=["result"])
    return notification.result


def retry_notification(notification: Notification, *, dry_run: bool = False) -> Summary:
    """Retry one stored notification that failed (or was never finished)."""
    summary = Summary(dry_run=dry_run)
    summary.notifications_retried += 1
    if dry_run:
        summary.note(f"notification {notification.pk}: would retry")
        return summary
    try:
        result = process_stored(notification)
    except Exception:
        # Never let one row stop the run; the row is kept failed, this attempt counted.
        logger.exception("Retrying notification #%s failed", notification.pk)
        summary.errors += 1
        result = NotificationResult.FAILED
    if result in (NotificationResult.FAILED, NotificationResult.RECEIVED):
        summary.merge(abandon_exhausted(Notification.objects.filter(pk=notification.pk)))
    else:
        summary.notifications_settled += 1
        summary.note(f"notification {notification.pk}: {result}")
    return summary


def abandon_exhausted(notifications: Any = None, *, dry_run: bool = False) -> Summary:
    """Give up on notifications retried ``RECONCILE_NOTIFICATION_ATTEMPTS`` times that still
    failed (or that no worker ever finished): they become ``abandoned``, a terminal result
    that staff find in the admin and may still reprocess by hand."""
    summary = Summary(dry_run=dry_run)
    limit = int(multipay_settings.RECONCILE_NOTIFICATION_ATTEMPTS)
    cutoff = timezone.now() - timedelta(seconds=float(multipay_settings.RECONCILE_PENDING_AFTER))
    queryset = Notification.objects.all() if notifications is None else notifications
    exhausted = queryset.filter(attempts__gte=limit).filter(
        Q(result=NotificationResult.FAILED)
        | Q(result=NotificationResult.RECEIVED, received_at__lte=cutoff)
    )
    rows = exhausted.values_list("pk", "gateway", "attempts", "reason")
    for pk, alias, attempts, reason in rows:
        summary.note(f"notification {pk}: abandoned after {attempts} attempts")
        if dry_run:
            continue
        # Conditional on the row still being exhausted: a worker may have finished it since.
        if exhausted.filter(pk=pk).update(
            result=NotificationResult.ABANDONED,
            reason=f"abandoned after {attempts} attempts: {reason}"[:500],
            processed_at=timezone.now(),
        ):
            metrics.notification_finished(alias, NotificationResult.ABANDONED)
    return summary


# -- refunds ------------------------------------------------------------------------------


def unsettled_refund_invoices() -> Any:
    """Invoices with a refund still requested or pending (each is asked once per run)."""
    ids = Refund.objects.filter(status__in=UNSETTLED_REFUNDS).values("invoice_id")
    return Invoice.objects.filter(pk__in=ids).order_by("created_at")


@logs.for_invoice
def settle_refunds(invoice: Invoice, *, dry_run: bool = False) -> Summary:
    """Settle an invoice's open refunds from the gateway's refund list. Never sends a refund."""
    summary = Summary(dry_run=dry_run)
    gateway = _gateway(invoice.gateway)
    if gateway is None or not gateway.supports("list_refunds"):
        summary.skipped += 1
        return summary
    summary.refunds_checked += invoice.refunds.filter(status__in=UNSETTLED_REFUNDS).count()
    if dry_run:
        summary.note(f"invoice {invoice.pk}: would read its refunds")
        return summary
    try:
        settled = payments.sync_refunds(invoice)
    except GatewayError as exc:
        logger.warning("Reading refunds of invoice %s failed: %s", invoice.pk, exc)
        summary.errors += 1
        return summary
    summary.refunds_settled += len(settled)
    summary.changes.extend(f"refund {r.pk}: {r.status}" for r in settled)
    return summary


# -- the whole run ------------------------------------------------------------------------


def run(
    *,
    gateway: str | None = None,
    older_than: timedelta | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Summary:
    """Every reconciliation step, in order: expire unpaid invoices whose payment page
    expired, ask about holds past their lifetime, re-check, retry notifications, refunds.

    ``limit`` caps the rows each step looks at; ``progress`` is called every chunk."""
    summary = Summary(dry_run=dry_run)
    record = ReconciliationRun.objects.create(
        started_at=timezone.now(), gateway=gateway or "", dry_run=dry_run
    )
    # Rows that ran out of attempts (in an earlier run, or before abandoning existed).
    exhausted = Notification.objects.filter(gateway=gateway) if gateway else None
    summary.merge(abandon_exhausted(exhausted, dry_run=dry_run))
    steps: list[tuple[str, Any, Callable[..., Summary]]] = [
        ("Expiring invoices", expired_invoices(), expire_invoice),
        ("Checking holds past their lifetime", lapsed_holds(), check_hold),
        ("Re-checking invoices", stale_invoices(older_than=older_than), check_invoice),
        (
            "Retrying notifications",
            retryable_notifications(older_than=older_than),
            retry_notification,
        ),
        ("Settling refunds", unsettled_refund_invoices(), settle_refunds),
    ]
    for label, qs, step in steps:
        done = 0
        rows = _filter(qs, gateway, limit)
        if step is check_invoice:
            # Re-checked a chunk at a time, so a gateway that lists payments is asked once
            # per chunk instead of once per invoice.
            for batch in _batches(rows, int(multipay_settings.RECONCILE_CHUNK_SIZE)):
                summary.merge(check_invoices(batch, dry_run=dry_run))
                for _row in batch:
                    done += 1
                    _tick(progress, done, label)
        else:
            for row in rows:
                summary.merge(step(row, dry_run=dry_run))
                done += 1
                _tick(progress, done, label)
        if progress is not None:
            progress(f"{label}: {done} looked at")
    ReconciliationRun.objects.filter(pk=record.pk).update(
        finished_at=timezone.now(),
        invoices_checked=summary.invoices_checked + summary.holds_checked,
        invoices_changed=summary.invoices_changed,
        invoices_expired=summary.invoices_expired,
        notifications_retried=summary.notifications_retried,
        refunds_settled=summary.refunds_settled,
        errors=summary.errors,
    )
    metrics.reconciliation_finished(summary)
    return summary
