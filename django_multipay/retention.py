"""Retention of the notification log: old finished notifications deleted in batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from django_multipay.conf import multipay_settings
from django_multipay.models import Notification, ReconciliationRun
from django_multipay.status import NotificationResult

#: Results of notifications whose story is over: nothing reads them again. ``received``
#: (not processed yet), ``failed`` (to be retried) and ``abandoned`` (waiting for a person)
#: are never pruned.
PRUNABLE_RESULTS = (
    NotificationResult.PROCESSED,
    NotificationResult.DUPLICATE,
    NotificationResult.IGNORED,
    NotificationResult.REJECTED,
)

#: Rows deleted per statement (and per transaction).
DEFAULT_BATCH_SIZE = 1000


@dataclass
class PruneSummary:
    """What one pruning run deleted (or would delete), by result."""

    dry_run: bool
    older_than: datetime
    deleted: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    #: Reconciliation runs recorded before the same moment (the latest one always stays).
    runs_deleted: int = 0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

    def __str__(self) -> str:
        verb = "Would delete" if self.dry_run else "Deleted"
        counts = ", ".join(f"{result}: {n}" for result, n in sorted(self.deleted.items()))
        return (
            f"{verb} {self.total} notification(s) received before "
            f"{self.older_than.isoformat(timespec='seconds')}"
            + (f" ({counts})." if counts else ".")
            + (
                f" {verb} {self.runs_deleted} old reconciliation run(s)."
                if self.runs_deleted
                else ""
            )
        )


def retention() -> timedelta | None:
    """``NOTIFICATION_RETENTION`` as a duration; ``None`` keeps every notification."""
    seconds = multipay_settings.NOTIFICATION_RETENTION
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError("MULTIPAY['NOTIFICATION_RETENTION'] must be a positive number of seconds")
    return timedelta(seconds=seconds)


def prunable(before: datetime) -> QuerySet[Notification]:
    """Notifications that may go: finished (:data:`PRUNABLE_RESULTS`), received before
    ``before``, and not the latest of their invoice, which stays as the invoice's last word
    from its gateway however old it is."""
    newer_of_same_invoice = Notification.objects.filter(
        invoice_id=OuterRef("invoice_id"), pk__gt=OuterRef("pk")
    )
    return Notification.objects.filter(
        Q(invoice__isnull=True) | Exists(newer_of_same_invoice),
        result__in=PRUNABLE_RESULTS,
        received_at__lt=before,
    )


def prune(
    *,
    older_than: timedelta | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[PruneSummary], None] | None = None,
) -> PruneSummary:
    """Delete prunable notifications older than ``older_than`` (default the retention
    setting), ``batch_size`` at a time, oldest id first. Each batch is chosen and deleted in
    one short transaction, with the conditions checked again in the delete, so a row that
    changed meanwhile (retried, say) is left alone. Memory stays at one batch of ids."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if older_than is None:
        older_than = retention()
        if older_than is None:
            raise ValueError("MULTIPAY['NOTIFICATION_RETENTION'] is None: nothing is pruned")
    before = (now or timezone.now()) - older_than
    summary = PruneSummary(dry_run=dry_run, older_than=before)
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = prunable(before).filter(pk__gt=last_pk).order_by("pk")
            if not dry_run:
                # Locked until deleted; a row another process holds (a retry) is skipped.
                batch = batch.select_for_update(skip_locked=True)
            rows = list(batch.values_list("pk", "result")[:batch_size])
            if not rows:
                break
            last_pk = rows[-1][0]
            if not dry_run:
                Notification.objects.filter(pk__in=[pk for pk, _result in rows]).delete()
            summary.deleted.update(result for _pk, result in rows)
        summary.batches += 1
        if progress is not None:
            progress(summary)
    runs = ReconciliationRun.objects.filter(started_at__lt=before)
    latest = ReconciliationRun.objects.order_by("-started_at", "-id").values("pk")[:1]
    runs = runs.exclude(pk__in=latest)
    summary.runs_deleted = runs.count() if dry_run else runs.delete()[0]
    return summary
