"""The reconciliation steps and deferred notifications as tasks (immediate backend)."""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from django_multipay import payments, processing, tasks
from django_multipay.models import Invoice, Notification
from django_multipay.registry import get_gateway
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.factories import OrderFactory
from tests.test_reconcile import at_gateway, paid_invoice, pending_invoice, status_reads


def test_reconcile_all_task_returns_the_summary(router, signal_log):
    invoice = pending_invoice()
    at_gateway(invoice, status="paid", captured_amount="50.00")
    signal_log.sent.clear()

    result = tasks.reconcile_all.enqueue(gateway="dummy")

    assert result.status == "SUCCESSFUL"
    assert result.return_value["invoices_checked"] == 1
    assert result.return_value["invoices_changed"] == 1
    assert result.return_value["changes"] == [f"invoice {invoice.pk}: pending -> paid"]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert signal_log.count("invoice_status_changed") == 1


def test_check_invoice_task_keeps_the_back_off(router):
    invoice = pending_invoice()
    tasks.check_invoice.enqueue(str(invoice.pk))
    invoice.refresh_from_db()
    assert invoice.reconcile_attempts == 1
    assert invoice.next_check_at > timezone.now()
    assert len(status_reads(router, invoice)) == 1


def test_expire_invoice_task_only_expires_invoices_past_validity(router):
    fresh = pending_invoice(expires_at=timezone.now() + timedelta(hours=1))
    stale = pending_invoice(expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.expire_invoice.enqueue(str(fresh.pk)).return_value == {}
    assert tasks.expire_invoice.enqueue(str(stale.pk)).return_value["invoices_expired"] == 1
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert fresh.status == InvoiceStatus.PENDING
    assert stale.status == InvoiceStatus.EXPIRED


def test_settle_refunds_task_never_sends_a_refund(router):
    invoice = paid_invoice(router)
    refund, _ = processing.reserve_refund(
        invoice.pk, Decimal("10.00"), idempotency_key="task-refund", partial_allowed=True
    )
    at_gateway(invoice, _notify_url="http://testserver/nowhere/")
    get_gateway("dummy").refund(refund)

    result = tasks.settle_refunds.enqueue(str(invoice.pk))

    assert result.return_value["refunds_settled"] == 1
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert len(router.requests_to(r"/refunds$", "POST")) == 1


def test_process_notification_task_is_idempotent(router, signal_log):
    invoice = paid_invoice(router)
    notification = Notification.objects.get(invoice=invoice)
    assert notification.result == NotificationResult.PROCESSED
    calls = len(router.calls)
    signal_log.sent.clear()

    result = tasks.process_notification.enqueue(notification.pk)

    assert result.return_value == NotificationResult.PROCESSED
    assert len(router.calls) == calls
    assert signal_log.sent == []
    notification.refresh_from_db()
    assert notification.attempts == 1
    assert tasks.process_notification.enqueue(10**9).return_value == ""
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


# -- a real task backend with a separate worker process -----------------------------------

POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

#: The worker: this suite's settings with the database backend and the shop's live server as
#: the dummy gateway's (and the notify URLs') address.
WORKER = """
import copy, os
import django
from django.conf import settings

settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
multipay = copy.deepcopy(settings.MULTIPAY)
multipay["BASE_URL"] = os.environ["SHOP_URL"]
multipay["GATEWAYS"]["dummy"]["OPTIONS"]["base_url"] = os.environ["SHOP_URL"] + "/sandbox/dummy/"
settings.MULTIPAY = multipay
django.setup()
from django.core.management import call_command
call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
"""


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = db.get("PORT") or 5432
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{port}/{db['NAME']}"


def require(condition: bool, reason: str) -> None:
    """Skip unless ``condition``; fail instead where the environment says the test must run."""
    if condition:
        return
    if os.environ.get("MULTIPAY_REQUIRE_TASK_BACKENDS"):
        pytest.fail(f"required, but cannot run: {reason}")
    pytest.skip(reason)


def test_tasks_run_on_a_real_worker_process(live_server, transactional_db):
    require(POSTGRES, "a worker process needs a database it can share")
    require(
        importlib.util.find_spec("django_tasks_db") is not None, "django-tasks-db not installed"
    )
    from django_tasks_db.models import DBTaskResult

    store.reset()
    multipay = copy.deepcopy(settings.MULTIPAY)
    multipay["BASE_URL"] = live_server.url
    multipay["DEFER_NOTIFICATIONS"] = True
    multipay["GATEWAYS"]["dummy"]["OPTIONS"]["base_url"] = f"{live_server.url}/sandbox/dummy/"
    with override_settings(MULTIPAY=multipay, TASKS=DB_TASKS):
        # A paid notification, authenticated and answered by the live shop, deferred.
        order = OrderFactory(amount=Decimal("50.00"), currency="EUR")
        payments.start_payment(order, "dummy")
        notified = order.invoices.get()
        response = Client().post(f"/sandbox/dummy/pay/{notified.gateway_id}", {"outcome": "paid"})
        assert response.status_code == 302
        notification = Notification.objects.get(invoice=notified)
        assert notification.result == NotificationResult.RECEIVED
        # An invoice paid at the gateway whose notification never came, for reconciliation.
        order = OrderFactory(amount=Decimal("20.00"), currency="EUR")
        payments.start_payment(order, "dummy")
        silent = order.invoices.get()
        Invoice.objects.filter(pk=silent.pk).update(created_at=timezone.now() - timedelta(hours=1))
        at_gateway(silent, status="paid", captured_amount="20.00")
        tasks.reconcile_all.enqueue(gateway="dummy")
        assert DBTaskResult.objects.count() == 2
        assert Invoice.objects.filter(status=InvoiceStatus.PAID).count() == 0

        worker = subprocess.run(
            [sys.executable, "-c", WORKER],
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "DATABASE_URL": database_url(),
                "SHOP_URL": live_server.url,
            },
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert worker.returncode == 0, worker.stderr
    assert sorted(DBTaskResult.objects.values_list("status", flat=True)) == [
        "SUCCESSFUL",
        "SUCCESSFUL",
    ]
    notification.refresh_from_db()
    notified.refresh_from_db()
    silent.refresh_from_db()
    assert notification.result == NotificationResult.PROCESSED
    assert notification.attempts == 1
    assert notified.status == InvoiceStatus.PAID
    assert silent.status == InvoiceStatus.PAID
    assert silent.reconcile_attempts == 1
    assert notified.order.status == silent.order.status == "paid"
