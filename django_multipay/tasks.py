"""Reconciliation and deferred notification processing as tasks of Django's Tasks API."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_tasks import task
else:
    try:  # Django 6
        from django.tasks import task
    except ImportError:  # Django 5.2: the backport (pip install "django-multipay[tasks]")
        from django_tasks import task

from django_multipay import logs, reconcile, retention
from django_multipay.models import Invoice, Notification

logger = logs.get_logger("django_multipay.tasks")


def _counts(summary: reconcile.Summary) -> dict[str, Any]:
    # Task results must be JSON: the summary's numbers and what changed.
    data = {k: v for k, v in vars(summary).items() if k != "changes"}
    data["changes"] = list(summary.changes)
    return data


@task()
def reconcile_all(
    gateway: str | None = None, older_than_seconds: float | None = None, limit: int | None = None
) -> dict[str, Any]:
    """One whole reconciliation run (what ``manage.py multipay_reconcile`` does)."""
    older_than = timedelta(seconds=older_than_seconds) if older_than_seconds is not None else None
    summary = reconcile.run(gateway=gateway, older_than=older_than, limit=limit)
    logger.info("Reconciliation: %s", " ".join(summary.lines()))
    return _counts(summary)


@task()
def check_invoice(invoice_id: str) -> dict[str, Any]:
    """Re-check one open invoice at its gateway (with the same back-off as the command)."""
    invoice = Invoice.objects.filter(pk=invoice_id, status__in=reconcile.RECHECK_STATUSES).first()
    return _counts(reconcile.check_invoice(invoice)) if invoice else {}


@task()
def expire_invoice(invoice_id: str) -> dict[str, Any]:
    """Expire one invoice past its validity (after asking the gateway, where it can tell)."""
    invoice = reconcile.expired_invoices().filter(pk=invoice_id).first()
    return _counts(reconcile.expire_invoice(invoice)) if invoice else {}


@task()
def settle_refunds(invoice_id: str) -> dict[str, Any]:
    """Settle one invoice's open refunds from the gateway's refund list (never re-sends one)."""
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    return _counts(reconcile.settle_refunds(invoice)) if invoice else {}


@task()
def process_notification(notification_id: int) -> str:
    """Finish a stored notification: verify it with the gateway and apply it.

    Idempotent: a notification already finished (by another worker, or a repeated task) is
    left alone, and applying a status is locked and de-duplicated by the processing engine."""
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None:
        return ""
    if notification.result not in reconcile.PENDING_NOTIFICATION_RESULTS:
        return str(notification.result)
    return reconcile.process_stored(notification)


@task()
def prune_notifications(older_than_seconds: float | None = None) -> dict[str, Any]:
    """Delete finished notifications past the retention (what ``multipay_prune_notifications``
    does); nothing when ``NOTIFICATION_RETENTION`` is ``None`` and no age is given."""
    older_than = timedelta(seconds=older_than_seconds) if older_than_seconds is not None else None
    if older_than is None and retention.retention() is None:
        return {"deleted": {}, "total": 0}
    summary = retention.prune(older_than=older_than)
    logger.info("Notification retention: %s", summary)
    return {"deleted": dict(summary.deleted), "total": summary.total, "batches": summary.batches}
