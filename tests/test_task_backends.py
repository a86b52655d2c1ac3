"""Reconciliation and deferred notifications through RQ (on Redis) and Celery (on RabbitMQ).

Each test enqueues through the backend's Django Tasks adapter in this process and has the
backend's own worker, in another process, do the work against the live shop. They run in
the ``tasks-rq`` and ``tasks-celery`` tox environments, and are skipped where the adapter or
its server is missing (``MULTIPAY_REQUIRE_TASK_BACKENDS=1`` makes that a failure).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from django_multipay import payments, tasks
from django_multipay.models import Invoice, Notification
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.factories import OrderFactory
from tests.test_reconcile import at_gateway
from tests.test_tasks import POSTGRES, database_url, require

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("RQ_REDIS_URL", "redis://127.0.0.1:6379/9")
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
RQ_TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
CELERY_TASKS = {
    "default": {
        "BACKEND": "django_tasks_celery.CeleryBackend",
        "OPTIONS": {"CELERY_APP": "tests.celery_app.app"},
    }
}

#: What every worker process runs first: this suite's settings, the backend under test, and
#: the shop's live server as the dummy gateway's (and the notify URLs') address.
WORKER_SETUP = """
import copy, json, os
import django
from django.conf import settings

settings.TASKS = json.loads(os.environ["WORKER_TASKS"])
settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, *json.loads(os.environ["WORKER_APPS"])]
settings.RQ_QUEUES = {"default": {"URL": os.environ.get("RQ_REDIS_URL", "")}}
multipay = copy.deepcopy(settings.MULTIPAY)
multipay["BASE_URL"] = os.environ["SHOP_URL"]
multipay["GATEWAYS"]["dummy"]["OPTIONS"]["base_url"] = os.environ["SHOP_URL"] + "/sandbox/dummy/"
settings.MULTIPAY = multipay
django.setup()
"""

#: RQ's worker in burst mode works off what is queued, then exits. The adapter's job class
#: runs the tasks (RQ's own would call the Task object and fail every job).
RQ_WORKER = (
    WORKER_SETUP
    + """
from django.core.management import call_command
call_command("rqworker", "default", "--burst", "--job-class", "django_tasks_rq.Job",
             verbosity=0)
"""
)

#: Celery's worker: its app's autodiscover_tasks() imports django_multipay.tasks, which
#: registers the tasks with it.
CELERY_WORKER = (
    WORKER_SETUP
    + """
from tests.celery_app import app
app.worker_main(["worker", "--pool=solo", "--loglevel=WARNING", "--without-gossip",
                 "--without-mingle", "--without-heartbeat"])
"""
)


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def worker_env(live_server: Any, backend: dict[str, Any], apps: list[str]) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "SHOP_URL": live_server.url,
        "WORKER_TASKS": json.dumps(backend),
        "WORKER_APPS": json.dumps(apps),
        "RQ_REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": BROKER_URL,
    }


def enqueue_work(live_server: Any) -> tuple[Notification, Invoice, Invoice, Any]:
    """A deferred paid notification, and a paid invoice whose notification never came."""
    store.reset()
    order = OrderFactory(amount=Decimal("50.00"), currency="EUR")
    payments.start_payment(order, "dummy")
    notified = order.invoices.get()
    response = Client().post(f"/sandbox/dummy/pay/{notified.gateway_id}", {"outcome": "paid"})
    assert response.status_code == 302
    notification = Notification.objects.get(invoice=notified)
    assert notification.result == NotificationResult.RECEIVED

    order = OrderFactory(amount=Decimal("20.00"), currency="EUR")
    payments.start_payment(order, "dummy")
    silent = order.invoices.get()
    Invoice.objects.filter(pk=silent.pk).update(created_at=timezone.now() - timedelta(hours=1))
    at_gateway(silent, status="paid", captured_amount="20.00")
    reconciled = tasks.reconcile_all.enqueue(gateway="dummy")
    # Nothing ran in this process: the work waits for the worker.
    assert Invoice.objects.filter(status=InvoiceStatus.PAID).count() == 0
    return notification, notified, silent, reconciled


def assert_work_done(notification: Notification, notified: Invoice, silent: Invoice) -> None:
    notification.refresh_from_db()
    notified.refresh_from_db()
    silent.refresh_from_db()
    assert notification.result == NotificationResult.PROCESSED
    assert notification.attempts == 1
    assert notified.status == InvoiceStatus.PAID
    assert silent.status == InvoiceStatus.PAID
    assert silent.reconcile_attempts == 1
    assert notified.order.status == silent.order.status == "paid"


def deferred(live_server: Any) -> dict[str, Any]:
    multipay = copy.deepcopy(settings.MULTIPAY)
    multipay["BASE_URL"] = live_server.url
    multipay["DEFER_NOTIFICATIONS"] = True
    multipay["GATEWAYS"]["dummy"]["OPTIONS"]["base_url"] = f"{live_server.url}/sandbox/dummy/"
    return multipay


def test_rq_worker_runs_reconciliation_and_deferred_notifications(live_server, transactional_db):
    require(importlib.util.find_spec("django_tasks_rq") is not None, "django-tasks-rq missing")
    require(POSTGRES, "a worker process needs a database it can share")
    require(reachable(REDIS_URL, 6379), f"no Redis at {REDIS_URL}")
    import django_rq

    queues = {"default": {"URL": REDIS_URL}}
    with override_settings(MULTIPAY=deferred(live_server), TASKS=RQ_TASKS, RQ_QUEUES=queues):
        django_rq.get_queue("default").empty()
        notification, notified, silent, reconciled = enqueue_work(live_server)
        assert django_rq.get_queue("default").count == 2

        worker = subprocess.run(
            [sys.executable, "-c", RQ_WORKER],
            env=worker_env(live_server, RQ_TASKS, ["django_rq", "django_tasks_rq"]),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert worker.returncode == 0, worker.stderr
        assert django_rq.get_queue("default").count == 0
        # The adapter reads the outcome back from RQ, in Django's vocabulary.
        result = tasks.reconcile_all.get_backend().get_result(reconciled.id)
        assert result.status == "SUCCESSFUL", "\n".join(e.traceback for e in result.errors)
        assert result.return_value["invoices_changed"] == 1

    assert_work_done(notification, notified, silent)


def test_celery_worker_runs_reconciliation_and_deferred_notifications(
    live_server, transactional_db
):
    require(
        importlib.util.find_spec("django_tasks_celery") is not None, "django-tasks-celery missing"
    )
    require(POSTGRES, "a worker process needs a database it can share")
    require(reachable(BROKER_URL, 5672), f"no RabbitMQ at {BROKER_URL}")
    from tests.celery_app import app

    queue = f"multipay-tests-{os.getpid()}"
    app.conf.task_default_queue = queue
    try:
        with override_settings(MULTIPAY=deferred(live_server), TASKS=CELERY_TASKS):
            notification, notified, silent, _ = enqueue_work(live_server)
            with app.connection_for_write() as conn:
                assert conn.default_channel.queue_declare(queue, passive=True).message_count == 2

            worker = subprocess.Popen(
                [sys.executable, "-c", CELERY_WORKER],
                env={**worker_env(live_server, CELERY_TASKS, []), "CELERY_QUEUE": queue},
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                # A Celery worker never exits by itself: wait (bounded) for its outcome.
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and worker.poll() is None:
                    done = (
                        Notification.objects.filter(
                            pk=notification.pk, result=NotificationResult.PROCESSED
                        ).exists()
                        and Invoice.objects.filter(pk=silent.pk, status=InvoiceStatus.PAID).exists()
                    )
                    if done:
                        break
                    time.sleep(0.2)
            finally:
                worker.terminate()
                output, _ = worker.communicate(timeout=60)
            assert worker.returncode in (0, -15), output
            with app.connection_for_write() as conn:
                assert conn.default_channel.queue_declare(queue, passive=True).message_count == 0
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)

    assert_work_done(notification, notified, silent)
