"""Log lines about a payment carry its alias, invoice and notification as structured fields."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from typing import Any

import pytest
from django.test import override_settings

from django_multipay import logs, reconcile
from django_multipay.models import Notification
from tests.test_reconcile import at_gateway, pending_invoice
from tests.test_signed_notifications import event_body, post

#: docs/logging.md's configuration, with the stream handler writing to a buffer.
DOCUMENTED = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "json": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "loggers": {
        "django_multipay": {"handlers": ["json"], "level": "INFO", "propagate": False},
    },
}


@pytest.fixture
def json_lines():
    """The documented JSON configuration, its output as parsed lines."""
    pytest.importorskip("pythonjsonlogger")
    buffer = io.StringIO()
    config: dict[str, Any] = json.loads(json.dumps(DOCUMENTED))
    config["handlers"]["json"]["stream"] = buffer
    logger = logging.getLogger("django_multipay")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logging.config.dictConfig(config)
    lines: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines())
        buffer.seek(0)
        buffer.truncate()
        return lines

    yield read
    logger.handlers[:], logger.level, logger.propagate = saved


def test_a_notifications_lines_carry_alias_invoice_and_notification(router, json_lines):
    invoice = pending_invoice()
    at_gateway(invoice, status="paid", captured_amount="50.00")
    json_lines().clear()
    response = post(router, event_body(invoice))
    assert response.status_code == 200
    lines = json_lines()
    notification = Notification.objects.get()

    moved = [line for line in lines if line["message"].endswith("pending -> paid")]
    assert len(moved) == 1
    assert moved[0]["logger"] == "django_multipay.processing"
    assert moved[0]["alias"] == "dummy"
    assert moved[0]["invoice_id"] == str(invoice.pk)
    assert moved[0]["notification_id"] == str(notification.pk)
    # The status read it made, too.
    reads = [line for line in lines if line["logger"] == "django_multipay.http"]
    assert reads
    for line in reads:
        assert (line["alias"], line["invoice_id"], line["notification_id"]) == (
            "dummy",
            str(invoice.pk),
            str(notification.pk),
        )


def test_a_refused_notification_has_the_alias_and_its_row_but_no_invoice(router, json_lines):
    response = router.client.post(
        "/payments/notify/dummy/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 400
    refused = [line for line in json_lines() if line["message"].startswith("Rejected dummy")]
    assert len(refused) == 1
    assert refused[0]["alias"] == "dummy"
    assert "invoice_id" not in refused[0]


def test_reconciliation_lines_name_the_invoice(router, json_lines):
    invoice = pending_invoice()
    at_gateway(invoice, status="paid", captured_amount="50.00")
    json_lines().clear()
    reconcile.run()
    about = [line for line in json_lines() if str(invoice.pk) in line["message"]]
    assert about
    for line in about:
        assert (line["alias"], line["invoice_id"]) == ("dummy", str(invoice.pk))


def test_fields_do_not_outlive_their_scope(router, json_lines):
    with logs.scope(alias="dummy", invoice_id="abc"):
        logs.get_logger("django_multipay.test").info("inside")
        logs.bind(notification_id=7)
        logs.get_logger("django_multipay.test").info("bound")
    logs.bind(notification_id=8)  # no scope open: nothing
    logs.get_logger("django_multipay.test").info("outside")
    inside, bound, outside = json_lines()[-3:]
    assert (inside["alias"], inside["invoice_id"]) == ("dummy", "abc")
    assert "notification_id" not in inside
    assert bound["notification_id"] == "7"
    assert not {"alias", "invoice_id", "notification_id"} & set(outside)


@override_settings()
def test_explicit_extra_wins(json_lines):
    with logs.scope(alias="dummy"):
        logs.get_logger("django_multipay.test").info("x", extra={"alias": "mine"})
    assert json_lines()[-1]["alias"] == "mine"
