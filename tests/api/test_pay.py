"""Paying over the API: ``POST orders/{id}/pay/`` creates an invoice and names the action."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("rest_framework")

import responses
from django.test import override_settings

from django_multipay.gateways.dummy import DummyGateway
from django_multipay.models import Invoice, Order
from django_multipay.status import InvoiceStatus, OrderStatus
from django_multipay.testing.router import EmulatorRouter
from tests.api.conftest import customer_pays, order_for


def test_pay_creates_an_invoice_and_answers_the_action(
    api: Any, customer: Any, router: EmulatorRouter
) -> None:
    order = order_for(customer)
    response = api(customer).post(
        f"/api/orders/{order.public_id}/pay/", {"gateway": "dummy"}, format="json"
    )
    assert response.status_code == 201, response.json()
    invoice = Invoice.objects.get(order=order)
    body = response.json()
    assert body["invoice"]["id"] == str(invoice.pk)
    assert body["invoice"]["order"] == str(order.public_id)
    assert body["invoice"]["status"] == InvoiceStatus.PENDING == invoice.status
    assert body["invoice"]["amount"] == "100.00"
    assert body["action"] == {"method": "GET", "url": invoice.redirect_url, "fields": {}}
    assert body["action"]["url"].startswith("http://testserver/sandbox/dummy/pay/pay_")
    (created,) = router.requests_to(r"/api/payments$", "POST")
    sent = json.loads(created.body or b"{}")
    assert sent["amount"] == "100.00"
    assert sent["reference"] == str(invoice.pk)
    assert sent["notify_url"] == "http://testserver/payments/notify/dummy/"


def test_following_the_action_then_verify_settles_the_order(
    api: Any, customer: Any, router: EmulatorRouter, signal_log: Any
) -> None:
    order = order_for(customer)
    client = api(customer)
    started = client.post(f"/api/orders/{order.public_id}/pay/", {}, format="json").json()
    invoice = Invoice.objects.get(pk=started["invoice"]["id"])
    customer_pays(router, invoice)
    verified = client.post(f"/api/invoices/{invoice.pk}/verify/")
    assert verified.status_code == 200
    assert verified.json()["status"] == "paid"
    assert verified.json()["captured_amount"] == "100.00"
    assert client.get(f"/api/orders/{order.public_id}/").json()["status"] == OrderStatus.PAID
    assert signal_log.count("order_paid") == 1


def test_pay_uses_the_default_gateway(api: Any, customer: Any, router: EmulatorRouter) -> None:
    order = order_for(customer)
    response = api(customer).post(f"/api/orders/{order.public_id}/pay/")
    assert response.status_code == 201, response.json()
    assert Invoice.objects.get(order=order).gateway == "dummy"


@pytest.mark.parametrize("status", [OrderStatus.PAID, OrderStatus.REFUNDED, OrderStatus.CANCELLED])
def test_pay_a_settled_order_is_409(
    api: Any, customer: Any, status: str, router: EmulatorRouter
) -> None:
    order = order_for(customer)
    Order.objects.filter(pk=order.pk).update(status=status)
    response = api(customer).post(f"/api/orders/{order.public_id}/pay/", format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "order_not_payable"
    assert not Invoice.objects.exists()
    assert router.calls == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [({"gateway": "nope"}, "gateway"), ({"gateway": "dummy", "tip": "1"}, "tip")],
)
def test_pay_bad_input_is_400(api: Any, customer: Any, body: dict[str, Any], field: str) -> None:
    order = order_for(customer)
    response = api(customer).post(f"/api/orders/{order.public_id}/pay/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_pay_currency_the_gateway_does_not_take_is_400(api: Any, customer: Any) -> None:
    from tests.test_views import BdtOnlyGateway, with_alias

    order = order_for(customer)
    config = with_alias("bdt-only", f"{BdtOnlyGateway.__module__}.BdtOnlyGateway")
    with override_settings(MULTIPAY=config):
        response = api(customer).post(
            f"/api/orders/{order.public_id}/pay/", {"gateway": "bdt-only"}, format="json"
        )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "EUR" in response.json()["message"]
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_pay_without_a_default_gateway_is_400(api: Any, customer: Any, settings: Any) -> None:
    settings.MULTIPAY = {**settings.MULTIPAY, "DEFAULT_GATEWAY": None}
    order = order_for(customer)
    response = api(customer).post(f"/api/orders/{order.public_id}/pay/")
    assert response.status_code == 400
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_others_orders_cannot_be_paid(api: Any, customer: Any, stranger: Any) -> None:
    order = order_for(stranger)
    response = api(customer).post(f"/api/orders/{order.public_id}/pay/", format="json")
    assert response.status_code == 404
    assert not Invoice.objects.exists()
    anonymous = api(None).post(f"/api/orders/{order.public_id}/pay/", format="json")
    assert anonymous.status_code == 403


def test_staff_can_pay_any_order(api: Any, bare_staff: Any, customer: Any, router: Any) -> None:
    order = order_for(customer)
    response = api(bare_staff).post(f"/api/orders/{order.public_id}/pay/", format="json")
    assert response.status_code == 201


def test_gateway_error_is_502_with_the_gateway_code(
    api: Any, customer: Any, transactional_db: Any
) -> None:
    order = order_for(customer)
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            "http://testserver/sandbox/dummy/api/payments",
            status=503,
            json={"error": {"code": "busy", "message": "Try later"}},
        )
        response = api(customer).post(f"/api/orders/{order.public_id}/pay/", format="json")
    assert response.status_code == 502
    error = response.json()
    assert error["code"] == "gateway_api_error"
    assert error["gateway"] == "dummy"
    assert "503" in error["message"]
    assert "dummy-api-key-one" not in response.content.decode()
    assert Invoice.objects.get(order=order).status == InvoiceStatus.FAILED


def test_gateway_unreachable_is_504(api: Any, customer: Any, transactional_db: Any) -> None:
    import requests

    order = order_for(customer)
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            "http://testserver/sandbox/dummy/api/payments",
            body=requests.ConnectTimeout("slow"),
        )
        response = api(customer).post(f"/api/orders/{order.public_id}/pay/", format="json")
    assert response.status_code == 504
    assert response.json()["code"] == "gateway_unreachable"


class FormGateway(DummyGateway):
    """The dummy gateway, but sending the customer with a form to POST."""

    def start_payment(self, invoice: Any, urls: Any) -> Any:
        started = super().start_payment(invoice, urls)
        action = replace(started.action, method="POST", fields={"token": "t-1", "n": 2})
        return replace(started, action=action)


def test_pay_answers_a_form_post_action(api: Any, customer: Any, router: EmulatorRouter) -> None:
    from tests.test_views import with_alias

    order = order_for(customer)
    with override_settings(MULTIPAY=with_alias("form", "tests.api.test_pay.FormGateway")):
        response = api(customer).post(
            f"/api/orders/{order.public_id}/pay/", {"gateway": "form"}, format="json"
        )
    assert response.status_code == 201, response.json()
    action = response.json()["action"]
    assert action["method"] == "POST"
    assert action["fields"] == {"token": "t-1", "n": "2"}
    assert response.json()["invoice"]["gateway"] == "form"
