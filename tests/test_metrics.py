"""Prometheus metrics: what a flow counts, as scraped from the exposition, and no id in a label."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from unittest import mock

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client

from django_multipay import metrics, payments, reconcile
from django_multipay.exceptions import GatewayConnectionError
from django_multipay.gateways.base import CONTRACT_OPERATIONS
from django_multipay.models import Invoice, Notification
from django_multipay.registry import get_gateway
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from tests.test_reconcile import paid_invoice, pending_invoice

# The "metrics" extra: every tox environment installs it, a bare install need not.
text_string_to_metric_families = pytest.importorskip(
    "prometheus_client.parser"
).text_string_to_metric_families

TOKEN = "metrics-token-for-tests-0123456789"


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every multipay_* sample of the exposition, by name and labels."""
    response = client.get("/metrics/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            if sample.name.startswith("multipay_"):
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def grew(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def by_name(before: dict, after: dict, name: str, label: str) -> Counter[str]:
    """How much each value of ``label`` of ``name`` grew (other labels summed)."""
    found: Counter[str] = Counter()
    for key, value in after.items():
        if key[0] == name:
            delta = value - before.get(key, 0.0)
            if delta:
                found[dict(key[1])[label]] += delta
    return found


@pytest.fixture
def multipay_with_token(settings):
    settings.MULTIPAY = {**settings.MULTIPAY, "HEALTH_TOKEN": TOKEN}


@pytest.mark.usefixtures("multipay_with_token")
def test_a_flow_is_counted_once_per_event(router, signal_log, client):
    before = scrape(client)
    invoice = paid_invoice(router)
    refund = payments.refund(invoice, Decimal("20.00"), reason="metrics")
    assert refund.status == "succeeded"
    forged = client.post("/payments/notify/dummy/", data=b"{}", content_type="application/json")
    assert forged.status_code == 400
    reconcile.run()
    after = scrape(client)

    # Notifications: as many of each result as the log holds.
    stored = Counter(Notification.objects.values_list("result", flat=True))
    assert by_name(before, after, "multipay_notifications_total", "result") == stored
    assert stored["rejected"] == 1
    # Status changes: one per signal sent, with its previous and new status.
    for sent in signal_log.of("invoice_status_changed"):
        labels = {"alias": "dummy", "previous": sent["previous"], "current": sent["current"]}
        assert grew(before, after, "multipay_payment_status_changes_total", **labels) == 1
    assert sum(
        by_name(before, after, "multipay_payment_status_changes_total", "alias").values()
    ) == len(signal_log.of("invoice_status_changed"))
    # Refunds: requested, then succeeded.
    assert by_name(before, after, "multipay_refunds_total", "outcome") == Counter(
        {"requested": 1, "succeeded": 1}
    )
    # Gateway calls, by operation: the payment made; the refund's calls (its POST, and what
    # the backend reads around it), as many as the emulator received.
    calls = by_name(before, after, "multipay_gateway_call_seconds_count", "operation")
    assert calls["start_payment"] == 1
    assert calls["refund"] == len(router.requests_to(r"/refunds$")) >= 1
    assert len(router.requests_to(r"/refunds$", "POST")) == 1
    assert grew(before, after, "multipay_reconciliation_runs_total", dry_run="false") == 1


@pytest.mark.usefixtures("multipay_with_token")
def test_failed_calls_are_counted_with_their_outcome(router, client):
    invoice = pending_invoice()
    before = scrape(client)
    session = get_gateway("dummy").http.session
    with (
        mock.patch.object(session, "request", side_effect=requests.ConnectTimeout()),
        pytest.raises(GatewayConnectionError),
    ):
        get_gateway("dummy").fetch_status(invoice)
    after = scrape(client)
    assert (
        grew(
            before,
            after,
            "multipay_gateway_call_seconds_count",
            alias="dummy",
            operation="fetch_status",
            outcome="timeout",
        )
        == 1
    )


@pytest.mark.usefixtures("multipay_with_token")
def test_an_outer_operation_names_the_calls_made_inside_it(router, client):
    invoice = pending_invoice()
    before = scrape(client)
    get_gateway("dummy").reconcile_status(invoice)  # the default reads fetch_status
    after = scrape(client)
    calls = by_name(before, after, "multipay_gateway_call_seconds_count", "operation")
    assert calls == Counter({"reconcile_status": 1})


@pytest.mark.usefixtures("multipay_with_token")
def test_labels_never_carry_an_id_an_amount_or_a_customer(router, client, settings):
    before = scrape(client)
    invoice = paid_invoice(router)
    payments.refund(invoice, Decimal("20.00"))
    reconcile.run()
    samples = scrape(client)
    order = Invoice.objects.select_related("order").get(pk=invoice.pk).order
    # Every label value is a word of a fixed vocabulary: nothing that grows with payments.
    vocabulary = {
        *settings.MULTIPAY["GATEWAYS"],
        *InvoiceStatus.values,
        *RefundStatus.values,
        *NotificationResult.values,
        *CONTRACT_OPERATIONS,
        "other",
        *("ok", "error", "timeout", "connection_error", "not_sent"),
        *("checked", "changed", "expired", "notifications_retried", "refunds_settled", "errors"),
        "true",
        "false",
    }
    seen = set()
    for (name, labels), value_now in samples.items():
        if value_now == before.get((name, labels)):
            continue  # series of other tests (their aliases come and go with their settings)
        for key, value in labels:
            if key != "le":
                seen.add(value)
    assert seen <= vocabulary, seen - vocabulary
    assert not seen & {str(invoice.pk), invoice.gateway_id, order.reference, order.customer_email}
    assert {"dummy", "paid", "start_payment", "ok"} <= seen


def test_the_exposition_needs_staff_or_the_token(db, settings):
    settings.MULTIPAY = {**settings.MULTIPAY, "HEALTH_TOKEN": TOKEN}
    client = Client()
    assert client.get("/metrics/").status_code == 403
    assert client.get("/metrics/", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post("/metrics/").status_code == 405
    staff = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/metrics/").status_code == 200


def test_without_prometheus_client_nothing_is_collected(monkeypatch):
    monkeypatch.setattr(metrics, "ENABLED", False)
    # No metric object is touched: each call returns at once.
    with mock.patch.object(metrics, "NOTIFICATIONS") as counter:
        metrics.notification_finished("dummy", "processed")
        metrics.gateway_call("dummy", "ok", 0.1)
        metrics.reconciliation_finished(reconcile.Summary())
    assert counter.mock_calls == []


def test_without_prometheus_client_the_view_says_so(db, settings, monkeypatch):
    settings.MULTIPAY = {**settings.MULTIPAY, "HEALTH_TOKEN": TOKEN}
    monkeypatch.setattr(metrics, "ENABLED", False)
    response = Client().get("/metrics/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 501
    assert b"django-multipay[metrics]" in response.content
