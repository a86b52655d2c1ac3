"""The Celery application that tests/test_task_backends.py sends tasks through and works off."""

from __future__ import annotations

import os

from celery import Celery

# RabbitMQ as the broker; no result backend: the tests read outcomes from the database.
app = Celery(
    "multipay_tests",
    broker=os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
)
app.conf.update(
    # Each run sends to a queue of its own (set by the test and its worker alike).
    task_default_queue=os.environ.get("CELERY_QUEUE", "multipay-tests"),
    task_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
)
# As a shop's Celery app does: the worker imports every installed app's tasks module, so
# django_multipay.tasks and its tasks register with this app.
app.autodiscover_tasks()
