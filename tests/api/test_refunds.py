"""Refunds over the API: permissions, amounts, the Idempotency-Key, and reading them back."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_multipay.models import Invoice, Refund
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.factories import InvoiceFactory, RefundFactory
from django_multipay.testing.router import EmulatorRouter
from tests.api.conftest import order_for


def url(invoice: Invoice) -> str:
    return f"/api/invoices/{invoice.pk}/refunds/"


def test_partial_then_full_refund(
    api: Any, staff: Any, paid_invoice: Invoice, router: EmulatorRouter, signal_log: Any
) -> None:
    client = api(staff)
    first = client.post(url(paid_invoice), {"amount": "30.00", "reason": "broken"}, format="json")
    assert first.status_code == 201, first.json()
    body = first.json()
    refund = Refund.objects.get(pk=body["id"])
    assert body["invoice"] == str(paid_invoice.pk)
    assert body["amount"] == "30.00"
    assert body["status"] == RefundStatus.SUCCEEDED == refund.status
    assert refund.reason == "broken"
    assert refund.requested_by == staff
    sent = json.loads(router.requests_to(r"/refunds$", "POST")[0].body or b"{}")
    assert sent["amount"] == "30.00"
    rest = client.post(url(paid_invoice), {}, format="json")
    assert rest.status_code == 201, rest.json()
    assert rest.json()["amount"] == "70.00"
    invoice = client.get(f"/api/invoices/{paid_invoice.pk}/").json()
    assert invoice["status"] == InvoiceStatus.REFUNDED
    assert invoice["refunded_amount"] == "100.00"
    assert invoice["refundable_amount"] == "0.00"
    assert signal_log.count("order_status_changed") >= 1


def test_idempotency_key_makes_a_retry_safe(
    api: Any, staff: Any, paid_invoice: Invoice, router: EmulatorRouter
) -> None:
    client = api(staff)
    headers = {"Idempotency-Key": "9f1c2d3e-retry-key"}
    first = client.post(url(paid_invoice), {"amount": "10.00"}, format="json", headers=headers)
    again = client.post(url(paid_invoice), {"amount": "10.00"}, format="json", headers=headers)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Refund.objects.get().idempotency_key == "9f1c2d3e-retry-key"
    (sent,) = router.requests_to(r"/refunds$", "POST")
    assert sent.headers["Idempotency-Key"] == "9f1c2d3e-retry-key"
    without_amount = client.post(url(paid_invoice), {}, format="json", headers=headers)
    assert without_amount.status_code == 200
    assert Refund.objects.count() == 1


def test_idempotency_key_reused_for_something_else_is_409(
    api: Any, staff: Any, paid_invoice: Invoice, router: EmulatorRouter
) -> None:
    client = api(staff)
    headers = {"Idempotency-Key": "key-1"}
    assert client.post(url(paid_invoice), {"amount": "10.00"}, format="json", headers=headers)
    other_amount = client.post(
        url(paid_invoice), {"amount": "11.00"}, format="json", headers=headers
    )
    assert other_amount.status_code == 409
    assert other_amount.json()["code"] == "idempotency_key_reused"
    other_invoice = InvoiceFactory(paid=True)
    elsewhere = client.post(url(other_invoice), {}, format="json", headers=headers)
    assert elsewhere.status_code == 409
    assert elsewhere.json()["code"] == "idempotency_key_reused"
    assert Refund.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "has space", "x" * 101, "é"])
def test_malformed_idempotency_key_is_400(api: Any, staff: Any, key: str) -> None:
    invoice = InvoiceFactory(paid=True)
    response = api(staff).post(url(invoice), {}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert not Refund.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"amount": "1.001"}, "amount", "amount_precision"),
        ({"amount": "0.00"}, "amount", "amount_not_positive"),
        ({"amount": 5}, "amount", "not_a_string"),
        ({"reason": "x" * 256}, "reason", "max_length"),
        ({"currency": "EUR"}, "currency", "unknown_field"),
    ],
)
def test_bad_refund_input_is_400(
    api: Any, staff: Any, body: dict[str, Any], field: str, code: str
) -> None:
    invoice = InvoiceFactory(paid=True)
    response = api(staff).post(url(invoice), body, format="json")
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["fields"][field]] == [code]
    assert not Refund.objects.exists()


def test_refund_more_than_captured_is_400(
    api: Any, staff: Any, paid_invoice: Invoice, router: EmulatorRouter
) -> None:
    response = api(staff).post(url(paid_invoice), {"amount": "100.01"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "refund_exceeds_captured"
    assert router.requests_to(r"/refunds$", "POST") == []


@pytest.mark.django_db
@pytest.mark.parametrize("status", [InvoiceStatus.PENDING, InvoiceStatus.REFUNDED])
def test_refund_an_unpaid_or_refunded_invoice_is_409(api: Any, staff: Any, status: str) -> None:
    invoice = InvoiceFactory(status=status)
    response = api(staff).post(url(invoice), {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_status"
    assert not Refund.objects.exists()


def test_refund_refusals(
    api: Any, customer: Any, stranger: Any, bare_staff: Any, paid_invoice: Invoice, router: Any
) -> None:
    from django.contrib.auth.models import Permission

    for user in (customer, bare_staff):
        refused = api(user).post(url(paid_invoice), {}, format="json")
        assert refused.status_code == 403
        assert "add_refund" in refused.json()["message"]
    stranger.user_permissions.add(Permission.objects.get(codename="add_refund"))
    assert api(stranger).post(url(paid_invoice), {}, format="json").status_code == 404
    assert api(None).post(url(paid_invoice), {}, format="json").status_code == 403
    assert not Refund.objects.exists()
    assert router.requests_to(r"/refunds$") == []


def test_gateway_refusal_is_reported_with_its_message(
    api: Any, staff: Any, paid_invoice: Invoice, router: EmulatorRouter
) -> None:
    from django_multipay.sandbox.store import store

    with store.table("dummy.payments") as payments:
        payments[paid_invoice.gateway_id]["status"] = "cancelled"
    response = api(staff).post(url(paid_invoice), {"amount": "5.00"}, format="json")
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "refund_error"
    assert error["gateway"] == "dummy"
    assert "invalid_status" in error["message"]
    assert Refund.objects.get().status == RefundStatus.FAILED


# -- reading refunds -------------------------------------------------------------------------


@pytest.mark.django_db
def test_refunds_of_an_invoice_and_one_refund(
    api: Any, customer: Any, stranger: Any, bare_staff: Any
) -> None:
    invoice = InvoiceFactory(order=order_for(customer), paid=True)
    refund = RefundFactory(invoice=invoice, amount="5.00")
    listed = api(customer).get(url(invoice))
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["results"]] == [str(refund.pk)]
    one = api(customer).get(f"/api/refunds/{refund.pk}/")
    assert one.status_code == 200
    assert one.json()["amount"] == "5.00"
    assert api(stranger).get(url(invoice)).status_code == 404
    assert api(stranger).get(f"/api/refunds/{refund.pk}/").status_code == 404
    assert api(bare_staff).get(f"/api/refunds/{refund.pk}/").status_code == 200
    assert api(customer).get("/api/refunds/not-a-uuid/").status_code == 404


@pytest.mark.django_db
def test_refund_list_queries_do_not_grow(
    api: Any, bare_staff: Any, django_assert_num_queries: Any
) -> None:
    invoice = InvoiceFactory(paid=True, amount="100.00")
    RefundFactory(invoice=invoice, amount="1.00")
    client = api(bare_staff)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url(invoice) + "?page_size=100").status_code == 200
    RefundFactory.create_batch(49, invoice=invoice, amount="1.00")
    with django_assert_num_queries(len(one)):
        response = client.get(url(invoice) + "?page_size=100")
    assert len(response.json()["results"]) == 50
