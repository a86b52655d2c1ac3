"""Pruning the notification log: what goes, what always stays, in batches, and replays after."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_multipay import retention, tasks
from django_multipay.models import Invoice, Notification
from django_multipay.status import InvoiceStatus, NotificationResult
from tests.test_signed_notifications import event_body, pending_invoice, post, trusting

R = NotificationResult
OLD = timedelta(days=91)


def stored(result: str, *, age: timedelta = OLD, invoice: Invoice | None = None) -> Notification:
    row = Notification.objects.create(
        gateway="dummy", method="POST", path="/notify/dummy/", result=result, invoice=invoice
    )
    Notification.objects.filter(pk=row.pk).update(received_at=timezone.now() - age)
    return row


def prune_cmd(*args: str) -> str:
    out = StringIO()
    call_command("multipay_prune_notifications", *args, stdout=out)
    return out.getvalue()


def remaining() -> set[int]:
    return set(Notification.objects.values_list("pk", flat=True))


@pytest.mark.django_db
def test_only_old_finished_notifications_go_and_an_invoices_latest_stays(router):
    invoice = pending_invoice()
    gone = [stored(result) for result in (R.PROCESSED, R.DUPLICATE, R.IGNORED, R.REJECTED)]
    gone.append(stored(R.PROCESSED, invoice=invoice))
    # Never: unfinished ones, however old; young ones; the latest of an invoice.
    kept = [stored(result) for result in (R.RECEIVED, R.FAILED, R.ABANDONED)]
    kept.append(stored(R.PROCESSED, age=timedelta(days=89)))
    kept.append(stored(R.PROCESSED, invoice=invoice))

    output = prune_cmd()

    assert remaining() == {row.pk for row in kept}
    assert "Deleted 5 notification(s) received before" in output
    assert "(duplicate: 1, ignored: 1, processed: 2, rejected: 1)." in output
    # The invoice keeps its last word from the gateway, and its own row is untouched.
    assert Notification.objects.filter(invoice=invoice).count() == 1
    assert Invoice.objects.filter(pk=invoice.pk).exists()


@pytest.mark.django_db
def test_dry_run_counts_and_deletes_nothing(router):
    rows = [stored(R.PROCESSED) for _ in range(3)]
    output = prune_cmd("--dry-run")
    assert remaining() == {row.pk for row in rows}
    assert "Would delete 3 notification(s)" in output


@pytest.mark.django_db
def test_batches_keep_the_statements_per_batch_flat(router):
    for _ in range(25):
        stored(R.REJECTED)
    summary = retention.prune(batch_size=10)
    assert (summary.total, summary.batches) == (25, 3)
    assert remaining() == set()

    # The statements a run makes depend on the batches, not on the rows in them.
    def statements(rows: int) -> int:
        for _ in range(rows):
            stored(R.REJECTED)
        with CaptureQueriesContext(connection) as queries:
            assert retention.prune(batch_size=1000).total == rows
        return len(queries.captured_queries)

    assert statements(10) == statements(300)


@pytest.mark.django_db
def test_older_than_overrides_the_setting_and_none_keeps_everything(router):
    young = stored(R.PROCESSED, age=timedelta(hours=3))
    with override_settings(MULTIPAY={**_multipay(), "NOTIFICATION_RETENTION": None}):
        assert "every notification is kept" in prune_cmd()
        assert remaining() == {young.pk}
        assert tasks.prune_notifications.enqueue().return_value == {"deleted": {}, "total": 0}
        prune_cmd("--older-than", "2h")
    assert remaining() == set()


@pytest.mark.django_db
@pytest.mark.parametrize("value", [0, -5, "90d", True])
def test_a_bad_retention_setting_is_a_clear_error(router, value: Any):
    with (
        override_settings(MULTIPAY={**_multipay(), "NOTIFICATION_RETENTION": value}),
        pytest.raises(CommandError, match="NOTIFICATION_RETENTION'] must be a positive"),
    ):
        prune_cmd()


@pytest.mark.django_db
def test_bad_batch_size_is_refused(router):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        prune_cmd("--batch-size", "0")


@pytest.mark.django_db
def test_the_task_prunes_and_returns_the_counts(router):
    stored(R.PROCESSED)
    stored(R.REJECTED)
    result = tasks.prune_notifications.enqueue()
    assert result.status == "SUCCESSFUL"
    assert result.return_value == {
        "deleted": {"processed": 1, "rejected": 1},
        "total": 2,
        "batches": 1,
    }


@pytest.mark.django_db
@override_settings(MULTIPAY=trusting())
def test_a_notification_replayed_after_its_row_was_pruned_changes_nothing(router, signal_log):
    # The de-duplication key goes with the pruned row: exactly once then rests on the
    # invoice's own status, as it does for a replay under a new id.
    invoice = pending_invoice()
    payload = event_body(invoice)
    assert post(router, payload).status_code == 200
    assert post(router, {**payload, "id": payload["id"] + "-again"}).status_code == 200
    first = Notification.objects.order_by("pk").first()
    Notification.objects.update(received_at=timezone.now() - OLD)
    assert retention.prune().total == 1
    assert not Notification.objects.filter(pk=first.pk).exists()
    signal_log.sent.clear()

    response = post(router, payload)

    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert signal_log.count("invoice_status_changed") == 0
    assert signal_log.count("order_paid") == 0


def _multipay() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.MULTIPAY)


@pytest.mark.django_db
def test_old_reconciliation_runs_go_too_but_the_latest_stays(router):
    from django_multipay.models import ReconciliationRun

    long_ago = timezone.now() - OLD
    runs = [
        ReconciliationRun.objects.create(started_at=long_ago + timedelta(minutes=n))
        for n in range(3)
    ]
    assert retention.prune(dry_run=True).runs_deleted == 2
    assert retention.prune().runs_deleted == 2
    assert list(ReconciliationRun.objects.values_list("pk", flat=True)) == [runs[-1].pk]
