"""Invoices over the API: retrieve, verify, capture and cancel, and every refusal."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.test import override_settings

from django_multipay import payments
from django_multipay.models import Invoice
from django_multipay.registry import get_gateway
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import InvoiceFactory
from django_multipay.testing.router import EmulatorRouter
from tests.api.conftest import customer_pays, order_for, started_invoice


def authorized_invoice(router: EmulatorRouter, user: Any) -> Invoice:
    invoice = customer_pays(router, started_invoice(order_for(user), "dummy-manual"))
    assert invoice.status == InvoiceStatus.AUTHORIZED
    return invoice


# -- retrieve --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_retrieve_own_invoice_and_404_for_others(
    api: Any, customer: Any, stranger: Any, bare_staff: Any
) -> None:
    invoice = InvoiceFactory(order=order_for(customer), status=InvoiceStatus.PENDING)
    response = api(customer).get(f"/api/invoices/{invoice.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(invoice.pk)
    assert body["status"] == "pending"
    assert body["refundable_amount"] == "0.00"
    assert "gateway_data" not in body
    assert body["payment_instructions"] is None
    assert api(stranger).get(f"/api/invoices/{invoice.pk}/").status_code == 404
    assert api(bare_staff).get(f"/api/invoices/{invoice.pk}/").status_code == 200
    assert api(None).get(f"/api/invoices/{invoice.pk}/").status_code == 403


# -- verify ----------------------------------------------------------------------------------


def test_verify_reads_the_gateway(api: Any, customer: Any, router: EmulatorRouter) -> None:
    invoice = started_invoice(order_for(customer))
    client = api(customer)
    still = client.post(f"/api/invoices/{invoice.pk}/verify/")
    assert still.status_code == 200
    assert still.json()["status"] == "pending"
    assert len(router.requests_to(rf"/api/payments/{invoice.gateway_id}$", "GET")) == 1


@pytest.mark.django_db
def test_verify_refusals(api: Any, customer: Any, stranger: Any) -> None:
    never_started = InvoiceFactory(order=order_for(customer), gateway_id="")
    response = api(customer).post(f"/api/invoices/{never_started.pk}/verify/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_started"
    assert api(stranger).post(f"/api/invoices/{never_started.pk}/verify/").status_code == 404


@pytest.mark.django_db
def test_verify_alias_no_longer_configured_is_503(api: Any, customer: Any) -> None:
    invoice = InvoiceFactory(order=order_for(customer), gateway="retired")
    response = api(customer).post(f"/api/invoices/{invoice.pk}/verify/")
    assert response.status_code == 503
    assert response.json()["code"] == "gateway_not_configured"


def test_verify_amount_mismatch_is_502_and_changes_nothing(
    api: Any, customer: Any, router: EmulatorRouter
) -> None:
    from django_multipay.sandbox.store import store

    invoice = started_invoice(order_for(customer))
    with store.table("dummy.payments") as payments:
        payments[invoice.gateway_id].update(status="paid", amount="1.00", captured_amount="1.00")
    response = api(customer).post(f"/api/invoices/{invoice.pk}/verify/")
    assert response.status_code == 502
    assert response.json()["code"] == "amount_mismatch"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


# -- capture ---------------------------------------------------------------------------------


def test_capture_with_permission(api: Any, customer: Any, staff: Any, router: Any) -> None:
    invoice = authorized_invoice(router, customer)
    response = api(staff).post(f"/api/invoices/{invoice.pk}/capture/", format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "paid"
    assert response.json()["captured_amount"] == "100.00"
    assert len(router.requests_to(r"/capture$", "POST")) == 1


def test_partial_capture(api: Any, customer: Any, staff: Any, router: Any) -> None:
    invoice = authorized_invoice(router, customer)
    response = api(staff).post(
        f"/api/invoices/{invoice.pk}/capture/", {"amount": "60.00"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["captured_amount"] == "60.00"


def test_capture_refusals(
    api: Any, customer: Any, bare_staff: Any, staff: Any, router: EmulatorRouter
) -> None:
    invoice = authorized_invoice(router, customer)
    calls = len(router.calls)
    # The owner and a staff member without change_invoice are refused before anything else.
    for user in (customer, bare_staff):
        refused = api(user).post(f"/api/invoices/{invoice.pk}/capture/", format="json")
        assert refused.status_code == 403
        assert refused.json()["code"] == "permission_denied"
        assert "change_invoice" in refused.json()["message"]
    too_precise = api(staff).post(
        f"/api/invoices/{invoice.pk}/capture/", {"amount": "1.001"}, format="json"
    )
    assert too_precise.status_code == 400
    assert too_precise.json()["fields"]["amount"][0]["code"] == "amount_precision"
    too_much = api(staff).post(
        f"/api/invoices/{invoice.pk}/capture/", {"amount": "100.01"}, format="json"
    )
    assert too_much.status_code == 400
    assert router.calls[calls:] == []
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AUTHORIZED


def test_capture_a_paid_invoice_is_409(
    api: Any, staff: Any, paid_invoice: Invoice, router: EmulatorRouter
) -> None:
    response = api(staff).post(f"/api/invoices/{paid_invoice.pk}/capture/", format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_status"


@pytest.mark.django_db
def test_permission_without_ownership_is_404(api: Any, customer: Any, stranger: Any) -> None:
    from django.contrib.auth.models import Permission

    stranger.user_permissions.add(Permission.objects.get(codename="change_invoice"))
    invoice = InvoiceFactory(order=order_for(customer), status=InvoiceStatus.AUTHORIZED)
    response = api(stranger).post(f"/api/invoices/{invoice.pk}/capture/", format="json")
    assert response.status_code == 404


@pytest.mark.django_db
def test_capture_on_a_gateway_without_capture_is_400(api: Any, staff: Any) -> None:
    from tests.test_views import BdtOnlyGateway, with_alias

    config = with_alias("bdt-only", f"{BdtOnlyGateway.__module__}.BdtOnlyGateway")
    invoice = InvoiceFactory(gateway="bdt-only", status=InvoiceStatus.AUTHORIZED)
    with override_settings(MULTIPAY=config):
        response = api(staff).post(f"/api/invoices/{invoice.pk}/capture/", format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unsupported"


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_with_permission(api: Any, customer: Any, staff: Any, router: Any) -> None:
    invoice = started_invoice(order_for(customer))
    response = api(staff).post(f"/api/invoices/{invoice.pk}/cancel/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert api(staff).get(f"/api/orders/{invoice.order.public_id}/").json()["status"] == (
        "cancelled"
    )


def test_cancel_refusals(
    api: Any, customer: Any, bare_staff: Any, staff: Any, paid_invoice: Invoice, router: Any
) -> None:
    for user in (customer, bare_staff):
        assert api(user).post(f"/api/invoices/{paid_invoice.pk}/cancel/").status_code == 403
    paid = api(staff).post(f"/api/invoices/{paid_invoice.pk}/cancel/")
    assert paid.status_code == 409
    assert paid.json()["code"] == "invalid_status"
    paid_invoice.refresh_from_db()
    assert paid_invoice.status == InvoiceStatus.PAID


def test_push_reference_is_in_the_invoice(api: Any, customer: Any, router: EmulatorRouter) -> None:
    """A Payshop reference pushed by Paylands reaches an API client, read with no gateway call."""
    order = order_for(customer)
    payments.start_payment(order, "paylands", options={"apm": "PAYSHOP", "push": True})
    invoice = Invoice.objects.get(order=order)
    expected = get_gateway("paylands").payment_reference(invoice)
    assert expected is not None
    calls = len(router.calls)

    body = api(customer).get(f"/api/invoices/{invoice.pk}/").json()

    assert len(router.calls) == calls
    assert body["payment_instructions"] == {
        "reference": expected.reference,
        "entity": expected.entity,
        "deadline": expected.deadline.isoformat() if expected.deadline else "",
    }
