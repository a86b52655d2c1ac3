"""PortPos v2 on the wire: every call's method, path, headers and body; limits; bad answers;
the document's sample answers; discount and EMI per payment; names and phones in any script."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
import requests
import responses
from django.test import Client
from django.urls import reverse

from django_multipay import payments
from django_multipay.checks import check_settings
from django_multipay.exceptions import (
    GatewayAPIError,
    GatewayConfigurationError,
    GatewayConnectionError,
    GatewayError,
    InvalidRequest,
    RefundError,
)
from django_multipay.gateways import portpos
from django_multipay.gateways.portpos import PortPosGateway, authorization, request_errors
from django_multipay.gateways.results import (
    InboundRequest,
    NotificationEvent,
    PaymentUrls,
    RefundState,
    StatusResult,
)
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portpos as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.factories import OrderFactory, OrderItemFactory
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.portpos_samples import CREATE_201, GET_INVOICE_200, IPN_VALIDATE_200, REFUND_202

SANDBOX = "https://api-sandbox.portpos.com/payment/v2/"
LIVE = "https://api.portpos.com/payment/v2/"
NOW = 1700000000
URLS = PaymentUrls(
    return_url="https://shop.example.com/payments/return/42/",
    cancel_url="https://shop.example.com/payments/return/42/?cancelled=1",
    notify_url="https://shop.example.com/payments/notify/portpos/",
)
OPTIONS = {"app_key": "APPKEY-1", "secret_key": "SECRET-1", "sandbox": True}


def expected_authorization(app_key: str, secret: str, timestamp: int) -> str:
    """Recomputed here from the document: base64(APPKEY:md5(SECRETKEY.time()))."""
    digest = hashlib.md5(f"{secret}{timestamp}".encode()).hexdigest()
    return "Bearer " + base64.b64encode(f"{app_key}:{digest}".encode()).decode()


@pytest.fixture
def fixed_time():
    with mock.patch.object(portpos.portwallet_common, "unix_time", return_value=NOW) as clock:
        yield clock


def gateway(**options) -> PortPosGateway:
    return PortPosGateway("portpos", {**OPTIONS, **options})


def envelope(data: dict, result: str = "success") -> dict:
    return {"result": result, "data": data}


def invoice_data(
    invoice_id: str = "85BC30171EA29531",
    status: str = "ACCEPTED",
    amount: str = "2050.00",
    transactions: list | None = None,
) -> dict:
    return {
        "invoice_id": invoice_id,
        "reference": "ref",
        "order": {"amount": amount, "currency": "BDT", "type": "purchase", "status": status},
        "transactions": transactions if transactions is not None else [],
    }


@pytest.fixture
def order(db):
    order = OrderFactory(
        reference="PP-7",
        amount=Decimal("2050.00"),
        currency="BDT",
        description="",
        customer_name="Robbie Amell",
        customer_email="robbie@example.com",
        customer_phone="+880 1711-000000",
        billing_address={
            "line1": "House 1, Road 1",
            "line2": "Gulshan 1",
            "city": "Dhaka",
            "state": "Dhaka",
            "postal_code": "1212",
            "country": "bd",
        },
        shipping_address={
            "name": "Shipping Person",
            "email": "ship@example.com",
            "phone": "01711000001",
            "line1": "Road 2",
            "city": "Chattogram",
            "state": "Chattogram",
            "postal_code": "4000",
            "country": "BGD",
        },
    )
    OrderItemFactory(order=order, name="Polo T-shirt", quantity=2, unit_price=Decimal("1000.00"))
    OrderItemFactory(order=order, name="Cap", quantity=1, unit_price=Decimal("50.00"))
    return order


def new_invoice(order, gateway_id: str = "", status: str = InvoiceStatus.PENDING) -> Invoice:
    return Invoice.objects.create(
        order=order,
        gateway="portpos",
        gateway_id=gateway_id,
        amount=order.amount,
        currency=order.currency,
        status=status,
        captured_amount=order.amount if status == InvoiceStatus.PAID else Decimal(0),
    )


# -- authorization ----------------------------------------------------------------------------


def test_authorization_is_base64_of_app_key_and_lower_case_md5() -> None:
    header = authorization("APPKEY-1", "SECRET-1", NOW)
    assert header == expected_authorization("APPKEY-1", "SECRET-1", NOW)
    token = base64.b64decode(header.removeprefix("Bearer ")).decode().partition(":")[2]
    assert token == token.lower()
    assert len(token) == 32


@responses.activate
def test_token_is_rebuilt_for_every_request(db, order) -> None:
    invoice = new_invoice(order, "85BC30171EA29531")
    responses.get(SANDBOX + "invoice/85BC30171EA29531", json=envelope(invoice_data()))
    backend = gateway()
    with mock.patch.object(portpos.portwallet_common, "unix_time", side_effect=[NOW, NOW + 7]):
        backend.fetch_status(invoice)
        backend.fetch_status(invoice)
    sent = [call.request.headers["Authorization"] for call in responses.calls]
    assert sent == [
        expected_authorization("APPKEY-1", "SECRET-1", NOW),
        expected_authorization("APPKEY-1", "SECRET-1", NOW + 7),
    ]


# -- create invoice ---------------------------------------------------------------------------


@responses.activate
def test_create_invoice_request_carries_every_documented_field(order, fixed_time) -> None:
    invoice = new_invoice(order)
    responses.post(
        SANDBOX + "invoice",
        status=201,
        json=envelope(
            {
                **invoice_data("85BE2D4A320E9009", "PENDING"),
                "action": {"type": "redirect", "url": "https://pay.example/x", "method": "GET"},
            }
        ),
    )
    backend = gateway(
        validity=3600,
        emi=True,
        emi_tenures=[3, 6, 12],
        discount_codes=["Bengal 1", "Bengal 2"],
        customs={"shop": "demo"},
    )
    # The payment's own customs (chosen by the shop's code), after the alias's.
    invoice.gateway_options = backend.check_payment_options({"customs": {"gift": "yes"}}, order)
    started = backend.start_payment(invoice, URLS)
    (call,) = responses.calls
    assert call.request.method == "POST"
    assert call.request.url == "https://api-sandbox.portpos.com/payment/v2/invoice"
    assert call.request.headers["Authorization"] == expected_authorization(
        "APPKEY-1", "SECRET-1", NOW
    )
    assert call.request.headers["Content-Type"] == "application/json"
    assert json.loads(call.request.body) == {
        "order": {
            "amount": "2050.00",
            "currency": "BDT",
            "redirect_url": URLS.return_url,
            "ipn_url": URLS.notify_url,
            "reference": str(invoice.pk),
            "validity": 3600,
        },
        "product": {"name": "Polo T-shirt and 1 more", "description": "2 x Polo T-shirt, 1 x Cap"},
        "billing": {
            "customer": {
                "name": "Robbie Amell",
                "email": "robbie@example.com",
                "phone": "+8801711000000",
                "address": {
                    "street": "House 1, Road 1, Gulshan 1",
                    "city": "Dhaka",
                    "state": "Dhaka",
                    "zipcode": "1212",
                    "country": "BD",
                },
            }
        },
        "shipping": {
            "customer": {
                "name": "Shipping Person",
                "email": "ship@example.com",
                "phone": "01711000001",
                "address": {
                    "street": "Road 2",
                    "city": "Chattogram",
                    "state": "Chattogram",
                    "zipcode": "4000",
                    "country": "BGD",
                },
            }
        },
        "discount": {"enable": 1, "codes": ["Bengal 1", "Bengal 2"]},
        "emi": {"enable": 1, "tenures": [3, 6, 12]},
        "customs": [{"shop": "demo"}, {"gift": "yes"}],
    }
    assert started.action.url == "https://pay.example/x"
    assert started.gateway_id == "85BE2D4A320E9009"
    assert started.expires_at is not None


@responses.activate
def test_without_action_url_the_documented_payment_url_is_used(order, fixed_time) -> None:
    invoice = new_invoice(order)
    responses.post(LIVE + "invoice", status=201, json=envelope(invoice_data("ABC123", "PENDING")))
    started = gateway(sandbox=False).start_payment(invoice, URLS)
    assert started.action.url == "https://payment.portpos.com/payment/?invoice=ABC123"
    assert responses.calls[0].request.url == LIVE + "invoice"


@responses.activate
def test_base_url_overrides_sandbox_and_live(order, fixed_time) -> None:
    invoice = new_invoice(order)
    responses.post(
        "https://proxy.example/pp/invoice", status=201, json=envelope(invoice_data("X1", "PENDING"))
    )
    started = gateway(base_url="https://proxy.example/pp/").start_payment(invoice, URLS)
    assert started.action.url == "https://payment-sandbox.portpos.com/payment/?invoice=X1"


@responses.activate
def test_options_reference_order_and_no_ipn_url(order, fixed_time) -> None:
    invoice = new_invoice(order)
    responses.post(SANDBOX + "invoice", status=201, json=envelope(invoice_data("X2", "PENDING")))
    gateway(reference="order", send_ipn_url=False, emi=False).start_payment(invoice, URLS)
    body = json.loads(responses.calls[0].request.body)
    assert body["order"]["reference"] == "PP-7"
    assert "ipn_url" not in body["order"]
    assert body["emi"] == {"enable": 0}
    assert "discount" not in body
    assert "customs" not in body


@responses.activate
def test_answer_for_another_amount_is_refused(order, fixed_time) -> None:
    invoice = new_invoice(order)
    responses.post(
        SANDBOX + "invoice", status=201, json=envelope(invoice_data("X3", "PENDING", "1.00"))
    )
    with pytest.raises(GatewayAPIError, match=r"for 1\.00 BDT, not 2050\.00 BDT"):
        gateway().start_payment(invoice, URLS)


# -- validation before calling ----------------------------------------------------------------


def valid_body() -> dict:
    customer = {
        "name": "Robbie Amell",
        "email": "robbie@example.com",
        "phone": "+8801711000000",
        "address": {
            "street": "House 1",
            "city": "Dhaka",
            "state": "Dhaka",
            "zipcode": "1212",
            "country": "BD",
        },
    }
    return {
        "order": {
            "amount": "100.00",
            "currency": "BDT",
            "redirect_url": "http://localhost:8000/r/",
            "ipn_url": "http://localhost:8000/n/",
            "reference": "R1",
            "validity": 60,
        },
        "product": {"name": "Tee", "description": "A tee"},
        "billing": {"customer": json.loads(json.dumps(customer))},
        "shipping": {"customer": json.loads(json.dumps(customer))},
        "discount": {"enable": 1, "codes": ["A"]},
        "emi": {"enable": 0, "tenures": [0, 60]},
        "customs": [{"k": "v"}],
    }


def test_valid_body_has_no_errors() -> None:
    assert request_errors(valid_body()) == {}


def put(body: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return body


BAD = [
    ("order.amount", "0.09"),
    ("order.amount", "100000000"),
    ("order.amount", "1e3"),
    ("order.amount", 100),
    ("order.amount", KeyError),
    ("order.currency", "bdt"),
    ("order.currency", "BDTX"),
    ("order.redirect_url", "http://a"),
    ("order.redirect_url", "https://example.com/" + "x" * 190),
    ("order.redirect_url", "ftp://example.com/x"),
    ("order.redirect_url", KeyError),
    ("order.ipn_url", "not a url at all"),
    ("order.reference", "x" * 101),
    ("order.validity", 59),
    ("order.validity", 31536001),
    ("order.validity", "600"),
    ("product.name", "TV"),
    ("product.name", "x" * 151),
    ("product.description", "ab"),
    ("product.description", "x" * 301),
    ("billing.customer.name", "R"),
    ("billing.customer.name", "x" * 51),
    ("billing.customer.email", "not-an-email"),
    ("billing.customer.email", "a" * 40 + "@example.com"),
    ("billing.customer.phone", "12345678"),
    ("billing.customer.phone", "1234567890123456"),
    ("billing.customer.phone", "01711-000000"),
    ("billing.customer.address.street", "x"),
    ("billing.customer.address.city", "x" * 201),
    ("billing.customer.address.state", "x" * 51),
    ("billing.customer.address.zipcode", "12"),
    ("billing.customer.address.zipcode", "123456789"),
    ("billing.customer.address.country", "XX"),
    ("billing.customer.address.country", "Bangladesh"),
    ("shipping.customer.address.country", KeyError),
    ("shipping.customer.email", KeyError),
    ("customs", [{"k": "v"}] * 11),
    ("customs", [{"a": "1", "b": "2"}]),
    ("discount.enable", 2),
    ("discount.codes", ["c"] * 11),
    ("discount.codes", ["x" * 101]),
    ("emi.enable", True),
    ("emi.tenures", list(range(11))),
    ("emi.tenures", [61]),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_each_documented_limit_names_its_field(field, value) -> None:
    errors = request_errors(put(valid_body(), field, value))
    assert list(errors) == [field]


@responses.activate
def test_invalid_order_names_every_bad_field_and_sends_nothing(db, fixed_time) -> None:
    order = OrderFactory(
        amount=Decimal("100.00"),
        currency="BDT",
        description="ab",
        customer_name="R",
        customer_email="robbie@example.com",
        customer_phone="123",
        billing_address={"line1": "House 1", "city": "Dhaka", "country": "Bangladesh"},
        shipping_address={},
    )
    invoice = new_invoice(order)
    with pytest.raises(InvalidRequest) as caught:
        gateway(validity=10, emi_tenures=[1] * 11).start_payment(invoice, URLS)
    assert set(caught.value.fields) == {
        "order.validity",
        "product.name",
        "product.description",
        "emi.tenures",
        *(
            f"{part}.customer.{name}"
            for part in ("billing", "shipping")
            for name in ("name", "phone", "address.state", "address.zipcode", "address.country")
        ),
    }
    message = str(caught.value)
    assert "billing.customer.phone: must be 9 to 15 characters" in message
    assert "order.validity: must be whole seconds from 60 to 31536000" in message
    assert len(responses.calls) == 0


@responses.activate
def test_defaults_fill_what_the_order_lacks(db, fixed_time) -> None:
    order = OrderFactory(
        amount=Decimal("100.00"),
        currency="BDT",
        customer_phone="",
        billing_address={"line1": "House 1", "city": "Dhaka", "postal_code": "1212"},
        shipping_address={},
    )
    invoice = new_invoice(order)
    responses.post(
        SANDBOX + "invoice", status=201, json=envelope(invoice_data("D1", "PENDING", "100.00"))
    )
    backend = gateway(defaults={"state": "Dhaka", "country": "BD", "phone": "01700000000"})
    backend.start_payment(invoice, URLS)
    sent = json.loads(responses.calls[0].request.body)["billing"]["customer"]
    assert sent["phone"] == "01700000000"
    assert sent["address"]["state"] == "Dhaka"
    assert sent["address"]["country"] == "BD"


# -- retrieve, IPN validate, refund -----------------------------------------------------------


@responses.activate
def test_retrieve_invoice_request(order, fixed_time) -> None:
    invoice = new_invoice(order, "85BC30171EA29531")
    responses.get(SANDBOX + "invoice/85BC30171EA29531", json=envelope(invoice_data()))
    gateway().fetch_status(invoice)
    (call,) = responses.calls
    assert call.request.method == "GET"
    assert call.request.url == SANDBOX + "invoice/85BC30171EA29531"
    assert call.request.headers["Authorization"] == expected_authorization(
        "APPKEY-1", "SECRET-1", NOW
    )
    assert call.request.body is None


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("PENDING", InvoiceStatus.PENDING),
        ("ACCEPTED", InvoiceStatus.PAID),
        ("REJECTED", InvoiceStatus.FAILED),
        ("CANCELLED", InvoiceStatus.CANCELLED),
        ("EXPIRED", InvoiceStatus.EXPIRED),
        ("REFUND_PENDING", InvoiceStatus.PAID),
        ("REFUND_PROCESSING", InvoiceStatus.PAID),
        ("REFUNDED", InvoiceStatus.PAID),
        ("PARTIALLY_REFUNDED", InvoiceStatus.PAID),
        ("CHARGED_BACK", InvoiceStatus.CHARGED_BACK),
        ("SOMETHING_NEW", InvoiceStatus.PENDING),
    ],
)
@responses.activate
def test_status_mapping(order, name, status) -> None:
    invoice = new_invoice(order, "S1")
    responses.get(SANDBOX + "invoice/S1", json=envelope(invoice_data("S1", name)))
    assert gateway().fetch_status(invoice).status == status


@responses.activate
def test_ipn_validate_request(order, fixed_time) -> None:
    invoice = new_invoice(order, "85BC30171EA29531")
    responses.get(SANDBOX + "invoice/ipn/85BC30171EA29531/2050.00", json=envelope(invoice_data()))
    backend = gateway()
    event = backend.parse_notification(
        InboundRequest(
            method="POST",
            path="/payments/notify/portpos/",
            headers={"content-type": "application/x-www-form-urlencoded"},
            body=b"invoice=85BC30171EA29531&amount=2050.00&status=ACCEPTED&reference=x",
        )
    )
    assert event.gateway_id == "85BC30171EA29531"
    assert event.status is not None
    assert event.status.status == InvoiceStatus.PAID
    result = backend.verify_notification(invoice, event)
    assert result.status == InvoiceStatus.PAID
    (call,) = responses.calls
    assert call.request.method == "GET"
    assert call.request.url == SANDBOX + "invoice/ipn/85BC30171EA29531/2050.00"
    assert call.request.headers["Authorization"] == expected_authorization(
        "APPKEY-1", "SECRET-1", NOW
    )


@responses.activate
def test_refund_request(order, fixed_time) -> None:
    invoice = new_invoice(order, "85BC30171EA29531", InvoiceStatus.PAID)
    refund = Refund.objects.create(invoice=invoice, amount=Decimal("100.00"), currency="BDT")
    responses.post(
        SANDBOX + "invoice/refund/85BC30171EA29531",
        status=202,
        json={
            "data": {
                "order": {
                    "invoice": "85BC30171EA29531",
                    "amount": "2050.00",
                    "currency": "BDT",
                    "status": "PARTIALLY_REFUNDED",
                },
                "refund": {"amount": "100.00", "status": "APPROVED"},
            },
            "result": "SUCCESS",
        },
    )
    result = gateway().refund(refund)
    assert result.status == RefundStatus.SUCCEEDED
    (call,) = responses.calls
    assert call.request.method == "POST"
    assert call.request.url == SANDBOX + "invoice/refund/85BC30171EA29531"
    assert call.request.headers["Authorization"] == expected_authorization(
        "APPKEY-1", "SECRET-1", NOW
    )
    assert json.loads(call.request.body) == {"refund": {"amount": "100.00", "currency": "BDT"}}


@responses.activate
def test_refund_below_the_documented_minimum_is_refused_before_calling(order) -> None:
    invoice = new_invoice(order, "R9", InvoiceStatus.PAID)
    refund = Refund.objects.create(invoice=invoice, amount=Decimal("0.09"), currency="BDT")
    with pytest.raises(RefundError, match=r"between 0\.1 and 99999999"):
        gateway().refund(refund)
    assert len(responses.calls) == 0


@responses.activate
def test_refund_lines_are_reported_as_given_and_the_core_ties_them(order) -> None:
    invoice = new_invoice(order, "L1", InvoiceStatus.PAID)
    invoice.captured_amount = invoice.amount
    invoice.save()
    first = Refund.objects.create(
        invoice=invoice, amount=Decimal("100.00"), currency="BDT", status=RefundStatus.PENDING
    )
    second = Refund.objects.create(
        invoice=invoice, amount=Decimal("100.00"), currency="BDT", status=RefundStatus.PENDING
    )
    lines = [
        {"amount": "2050.00", "currency": "BDT", "status": "ACCEPTED", "type": "purchase"},
        {"amount": "-61.50", "currency": "BDT", "status": "ACCEPTED", "type": "fee"},
        {"amount": "-100.00", "currency": "BDT", "status": "REFUNDED", "type": "refund"},
        {"amount": "-100.00", "currency": "BDT", "status": "REFUND_PENDING", "type": "refund"},
    ]
    responses.get(
        SANDBOX + "invoice/L1",
        json=envelope(invoice_data("L1", "REFUND_PENDING", transactions=lines)),
    )
    # The backend says what PortPos says: two anonymous lines, no key of ours on either.
    found = gateway().list_refunds(invoice)
    assert [(r.status, r.amount, r.idempotency_key) for r in found] == [
        (RefundStatus.SUCCEEDED, Decimal("100.00"), ""),
        (RefundStatus.PENDING, Decimal("100.00"), ""),
    ]
    report = gateway().refund_report(invoice)
    assert report.complete
    assert report.state == RefundState.IN_PROGRESS
    # The core gives each line to one refund the gateway answered, oldest first.
    with mock.patch("django_multipay.payments.get_gateway", return_value=gateway()):
        payments.sync_refunds(invoice)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (RefundStatus.SUCCEEDED, RefundStatus.PENDING)
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("100.00")


# -- errors and bad answers -------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 404, 500])
@responses.activate
def test_error_envelope_gives_the_gateways_message(order, status) -> None:
    invoice = new_invoice(order)
    responses.post(
        SANDBOX + "invoice",
        status=status,
        json={
            "result": "error",
            "error": {
                "cause": "Validation Error",
                "explanation": "Amount is not valid",
                "property": "order.amount",
            },
        },
    )
    with pytest.raises(GatewayAPIError) as caught:
        gateway().start_payment(invoice, URLS)
    error = caught.value
    assert error.http_status == status
    assert error.code == "validation_error"
    assert f"(HTTP {status}): order.amount: Amount is not valid" in error.message
    assert ("check the app_key and secret_key" in error.message) == (status == 401)
    assert "SECRET-1" not in error.message


@responses.activate
def test_error_result_with_2xx_is_still_an_error(order) -> None:
    invoice = new_invoice(order, "E1")
    responses.get(
        SANDBOX + "invoice/E1",
        json={"result": "error", "error": {"cause": "x", "explanation": "Invoice locked"}},
    )
    with pytest.raises(GatewayAPIError, match="Invoice locked"):
        gateway().fetch_status(invoice)


@responses.activate
def test_refund_refusal_is_a_refund_error(order) -> None:
    invoice = new_invoice(order, "E2", InvoiceStatus.PAID)
    refund = Refund.objects.create(invoice=invoice, amount=Decimal("10.00"), currency="BDT")
    responses.post(
        SANDBOX + "invoice/refund/E2",
        status=400,
        json={"result": "error", "error": {"cause": "refund_limit", "explanation": "Too many"}},
    )
    with pytest.raises(RefundError, match="Too many") as caught:
        gateway().refund(refund)
    assert caught.value.code == "refund_limit"


BAD_ANSWERS = [
    ("timeout", {"body": requests.ReadTimeout("slow")}, GatewayConnectionError, "timed out"),
    ("500", {"status": 500, "body": "Internal Server Error"}, GatewayAPIError, "HTTP 500"),
    (
        "html",
        {"status": 200, "body": "<html>Maintenance</html>", "content_type": "text/html"},
        GatewayAPIError,
        "not JSON",
    ),
    ("no data", {"json": {"result": "success"}}, GatewayAPIError, "without a data object"),
    (
        "no status",
        {"json": envelope({"invoice_id": "B1", "order": {"amount": "2050.00", "currency": "BDT"}})},
        GatewayAPIError,
        "cannot be read",
    ),
    (
        "other invoice",
        {"json": envelope(invoice_data("OTHER"))},
        GatewayAPIError,
        "answered invoice OTHER",
    ),
]


@pytest.mark.parametrize(("label", "answer", "error", "text"), BAD_ANSWERS)
def test_bad_answers_leave_the_invoice_as_it_was(transactional_db, label, answer, error, text):
    order = OrderFactory(amount=Decimal("2050.00"), currency="BDT")
    invoice = new_invoice(order, "B1")
    before = (invoice.status, invoice.gateway_data, invoice.updated_at)
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, "http://testserver/sandbox/portpos/invoice/B1", **answer)
        with pytest.raises(error, match=text):
            payments.refresh(invoice)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.gateway_data, invoice.updated_at) == before


@pytest.mark.parametrize(("label", "answer", "error", "text"), BAD_ANSWERS[:4])
def test_bad_answers_while_validating_an_ipn_keep_it_for_retry(
    transactional_db, label, answer, error, text
):
    order = OrderFactory(amount=Decimal("2050.00"), currency="BDT")
    invoice = new_invoice(order, "B1")
    with responses.RequestsMock() as mocked:
        mocked.add(
            responses.GET, "http://testserver/sandbox/portpos/invoice/ipn/B1/2050.00", **answer
        )
        response = Client().post(
            reverse("django_multipay:notify", kwargs={"alias": "portpos"}),
            data=f"invoice=B1&amount=2050.00&status=ACCEPTED&reference={invoice.pk}",
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 503
    note = Notification.objects.get(gateway="portpos")
    assert note.result == NotificationResult.FAILED
    assert text in note.reason
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


def test_start_payment_failure_is_a_gateway_error(transactional_db) -> None:
    order = OrderFactory(amount=Decimal("2050.00"), currency="BDT")
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, "http://testserver/sandbox/portpos/invoice", body="<html>")
        with pytest.raises(GatewayError, match="not JSON"):
            payments.start_payment(order, "portpos")
    assert Invoice.objects.get(order=order).status == InvoiceStatus.FAILED


def test_shared_status_vocabulary() -> None:
    from django_multipay.gateways import portwallet_common as common

    assert common.status_name(210) == "REFUND_PENDING"
    assert common.status_name("999") == common.status_name("x") == ""
    assert common.is_refund_state("refunded")
    assert not common.is_refund_state("ACCEPTED")
    assert common.invoice_status("accepted") == InvoiceStatus.PAID
    assert common.invoice_status("INVALID_REQUEST") is None
    assert common.refund_status("APPROVED") == RefundStatus.PENDING
    assert common.refund_status("REFUNDED") == RefundStatus.SUCCEEDED
    assert common.refund_status("REJECTED") == RefundStatus.FAILED
    assert common.refund_status("???") is None


# ------------------------------------------------------------------------------------------------
# The document's sample answers (tests/gateways/portpos_samples.py), parsed as they stand.


API = "https://api-sandbox.portpos.com/payment/v2/"
SAMPLE_URLS = PaymentUrls(
    return_url="https://shop.example.com/payments/return/1/",
    cancel_url="https://shop.example.com/payments/return/1/?cancelled=1",
    notify_url="https://shop.example.com/payments/notify/portpos/",
)


@pytest.fixture
def sample_gateway() -> PortPosGateway:
    return PortPosGateway("portpos", {"app_key": "app", "secret_key": "secret", "sandbox": True})


def invoice_for(amount: str, gateway_id: str = "", status: str = InvoiceStatus.PENDING) -> Invoice:
    order = OrderFactory(amount=Decimal(amount), currency="BDT")
    return Invoice.objects.create(
        order=order,
        gateway="portpos",
        gateway_id=gateway_id,
        amount=Decimal(amount),
        currency="BDT",
        status=status,
    )


def test_all_samples_are_json() -> None:
    for sample in (CREATE_201, IPN_VALIDATE_200, GET_INVOICE_200, REFUND_202):
        assert isinstance(json.loads(sample), dict)


@responses.activate
def test_create_invoice_sample_sends_customer_to_action_url(db, sample_gateway) -> None:
    responses.post(API + "invoice", body=CREATE_201, status=201)
    invoice = invoice_for("1000.00")
    started = sample_gateway.start_payment(invoice, SAMPLE_URLS)
    assert started.gateway_id == "85BE2D4A320E9009"
    assert started.action.url == (
        "https://payment-sandbox.portpos.com/payment/index/emi/?invoice=85BE2D4A320E9009"
    )
    assert started.action.method == "GET"
    assert started.raw["order"]["status"] == "PENDING"
    assert started.raw["customs"][2] == {"discount_code": "Bengal 1,Bengal 2"}


@responses.activate
def test_get_invoice_sample_is_a_paid_invoice_with_its_details(db, sample_gateway) -> None:
    responses.get(API + "invoice/85BC30171EA29531", body=GET_INVOICE_200)
    invoice = invoice_for("3393.00", "85BC30171EA29531")
    result = sample_gateway.fetch_status(invoice)
    assert result == StatusResult(
        status=InvoiceStatus.PAID,
        gateway_id="85BC30171EA29531",
        amount=Decimal("3393.00"),
        currency="BDT",
        captured_amount=Decimal("3393.00"),
        raw=json.loads(GET_INVOICE_200)["data"],
    )
    # The fee line is the gateway's charge to the shop, kept but not money back.
    assert result.raw["transactions"][1] == {
        "amount": "-102.79",
        "currency": "BDT",
        "status": "ACCEPTED",
        "type": "fee",
        "time": "Sun, 14 Oct 2018 14:43:04 +0600",
    }
    assert result.raw["billing"]["payer"]["account"] == "411111xxxxxx1111"
    assert result.raw["billing"]["source"]["issuer"]["country"]["iso3"] == "USA"


@responses.activate
def test_ipn_validate_sample_confirms_the_ipn(db, sample_gateway) -> None:
    # The IPN's amount is echoed as it came: PHP senders write 3393 for 3393.00.
    responses.get(API + "invoice/ipn/85BC30171EA29531/3393", body=IPN_VALIDATE_200)
    invoice = invoice_for("3393.00", "85BC30171EA29531")
    event = NotificationEvent(
        invoice_id="123",
        gateway_id="85BC30171EA29531",
        status=StatusResult(status=InvoiceStatus.PAID, amount=Decimal("3393")),
        raw={"invoice": "85BC30171EA29531", "amount": "3393", "status": "ACCEPTED"},
    )
    result = sample_gateway.verify_notification(invoice, event)
    assert (result.status, result.amount, result.currency) == (
        InvoiceStatus.PAID,
        Decimal("3393.00"),
        "BDT",
    )
    assert result.raw["billing"]["gateway"]["approve_code"] == "5BC3018D9DA53"


@responses.activate
def test_refund_sample_is_a_pending_refund(db, sample_gateway) -> None:
    responses.post(API + "invoice/refund/85BC30171EA29531", body=REFUND_202, status=202)
    invoice = invoice_for("3393.00", "85BC30171EA29531", InvoiceStatus.PAID)
    refund = Refund.objects.create(invoice=invoice, amount=Decimal("100.00"), currency="BDT")
    result = sample_gateway.refund(refund)
    # refund.status APPROVED while the invoice is REFUND_PENDING: under way, not paid back yet.
    assert result.status == RefundStatus.PENDING
    assert result.amount == Decimal("100")
    assert result.currency == "BDT"
    assert result.idempotency_key == refund.idempotency_key


# ------------------------------------------------------------------------------------------------
# PortPos discount and EMI chosen per payment: checked, kept, sent over the alias's own.


BOTH = {
    "emi": {"enable": True, "tenures": [3, 6]},
    "discount": {"enable": True, "codes": ["EID10"]},
}


def with_options(settings: Any, **options: Any) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portpos"]["OPTIONS"].update(options)
    settings.MULTIPAY = config


def make_order(**fields: Any) -> Order:
    order = OrderFactory(currency="BDT", **fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def sent(router: EmulatorRouter) -> dict[str, Any]:
    body = json.loads(router.requests_to(r"/portpos/invoice$", "POST")[-1].body)
    assert isinstance(body, dict)
    return body


def start(options: dict[str, Any] | None) -> Invoice:
    order = make_order()
    payments.start_payment(order, "portpos", options=options)
    return Invoice.objects.get(order=order)


def emulated(invoice: Invoice) -> dict[str, Any]:
    with store.table(emulator.TABLE) as invoices:
        found = invoices[invoice.gateway_id]
    assert isinstance(found, dict)
    return found


# -- on the wire ----------------------------------------------------------------------------------


def test_a_payments_discount_and_emi_reach_the_invoice_body(router: EmulatorRouter) -> None:
    invoice = start(BOTH)
    body = sent(router)
    # "Create an invoice with discount" / "with EMI": enable is the Integer 1 or 0.
    assert body["discount"] == {"enable": 1, "codes": ["EID10"]}
    assert body["emi"] == {"enable": 1, "tenures": [3, 6]}
    assert invoice.status == InvoiceStatus.PENDING
    # Kept on the invoice as checked, so a retry or an audit sees what was asked for.
    assert invoice.gateway_options == BOTH
    # PortPos made an EMI purchase offering those codes and tenures.
    stored = emulated(invoice)
    assert stored["order"]["type"] == "emi_purchase"
    assert stored["order"]["has_emi"] == 1
    assert (stored["_discount"], stored["_emi"]) == (
        {"enable": 1, "codes": ["EID10"]},
        {"enable": 1, "tenures": [3, 6]},
    )
    assert {"discount_code": "EID10"} in stored["customs"]


def test_the_documents_own_integers_are_taken(router: EmulatorRouter) -> None:
    invoice = start({"emi": {"enable": 1, "tenures": [0, 60]}, "discount": {"enable": 0}})
    assert sent(router)["emi"] == {"enable": 1, "tenures": [0, 60]}
    assert sent(router)["discount"] == {"enable": 0}
    assert invoice.gateway_options == {
        "emi": {"enable": True, "tenures": [0, 60]},
        "discount": {"enable": False},
    }


@pytest.mark.parametrize(
    ("options", "discount", "emi"),
    [
        # Nothing chosen: the alias's own.
        (None, {"enable": 1, "codes": ["ALIAS"]}, {"enable": 1, "tenures": [3, 6, 12]}),
        # The payment's emi replaces the alias's emi and emi_tenures; its discount stays.
        (
            {"emi": {"enable": True, "tenures": [24]}},
            {"enable": 1, "codes": ["ALIAS"]},
            {"enable": 1, "tenures": [24]},
        ),
        ({"emi": False}, {"enable": 1, "codes": ["ALIAS"]}, {"enable": 0}),
        ({"emi": {"enable": False}}, {"enable": 1, "codes": ["ALIAS"]}, {"enable": 0}),
        # Enabled with no list of its own: PortPos offers its own, not the alias's.
        ({"discount": {"enable": True}}, {"enable": 1}, {"enable": 1, "tenures": [3, 6, 12]}),
        ({"discount": True}, {"enable": 1}, {"enable": 1, "tenures": [3, 6, 12]}),
        (
            {"discount": {"enable": True, "codes": ["EID10", "VIP"]}, "emi": False},
            {"enable": 1, "codes": ["EID10", "VIP"]},
            {"enable": 0},
        ),
    ],
)
def test_the_payments_value_replaces_the_aliass_for_that_payment(
    router: EmulatorRouter,
    settings: Any,
    options: dict[str, Any] | None,
    discount: dict[str, Any],
    emi: dict[str, Any],
) -> None:
    with_options(settings, emi=True, emi_tenures=[3, 6, 12], discount_codes=["ALIAS"])
    start(options)
    body = sent(router)
    assert (body["discount"], body["emi"]) == (discount, emi)
    # The next payment at the alias is the alias's again.
    start(None)
    assert sent(router)["emi"] == {"enable": 1, "tenures": [3, 6, 12]}


def test_without_either_nothing_is_sent(router: EmulatorRouter) -> None:
    start(None)
    assert "discount" not in sent(router)
    assert "emi" not in sent(router)


# -- refused before any invoice exists ------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"emi": {"enable": True, "tenures": list(range(11))}}, "options.emi", "at most 10"),
        ({"emi": {"enable": True, "tenures": [61]}}, "options.emi", "from 0 to 60"),
        ({"emi": {"enable": True, "tenures": [-1]}}, "options.emi", "from 0 to 60"),
        ({"emi": {"enable": True, "tenures": ["3"]}}, "options.emi", "from 0 to 60"),
        ({"emi": {"enable": True, "tenures": [True]}}, "options.emi", "from 0 to 60"),
        ({"emi": {"enable": True, "tenures": 3}}, "options.emi", "tenures: must be a list"),
        ({"emi": {"enable": True, "tenures": [[3]]}}, "options.emi", "nests deeper"),
        ({"emi": {"tenures": [3]}}, "options.emi", "enable: required"),
        ({"emi": {"enable": 2}}, "options.emi", "enable: must be 0 or 1"),
        ({"emi": {"enable": "yes"}}, "options.emi", "enable: must be 0 or 1"),
        ({"emi": {"enable": True, "tenure": [3]}}, "options.emi", "unknown keys tenure"),
        ({"emi": "yes"}, "options.emi", "must be true, false or an object with enable"),
        ({"emi": 3}, "options.emi", "must be true, false or an object with enable"),
        ({"discount": {"enable": True, "codes": ["x" * 101]}}, "options.discount", "1 to 100"),
        ({"discount": {"enable": True, "codes": [""]}}, "options.discount", "1 to 100"),
        ({"discount": {"enable": True, "codes": [10]}}, "options.discount", "1 to 100"),
        ({"discount": {"enable": True, "codes": ["c"] * 11}}, "options.discount", "at most 10"),
        ({"discount": {"enable": True, "codes": "EID10"}}, "options.discount", "must be a list"),
        ({"discount": {"codes": ["EID10"]}}, "options.discount", "enable: required"),
    ],
)
def test_out_of_the_documents_limits_is_refused_before_any_call(
    router: EmulatorRouter, options: dict[str, Any], field: str, message: str
) -> None:
    order = make_order()
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portpos", options=options)
    assert list(caught.value.fields) == [field]
    assert message in caught.value.fields[field]
    assert not Invoice.objects.filter(order=order).exists()
    assert router.calls == []


def test_the_limits_are_the_aliass_own(router: EmulatorRouter, settings: Any) -> None:
    # The same tenure out of range at the alias is refused too, naming PortPos's field.
    with_options(settings, emi_tenures=[61])
    order = make_order()
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portpos")
    assert caught.value.fields == {"emi.tenures": "each tenure must be whole months from 0 to 60"}
    assert router.calls == []


@pytest.mark.parametrize(("name", "value"), [("emi", "yes"), ("discount", {"enable": 5})])
def test_an_alias_flag_the_gateway_cannot_read_fails_the_system_check(
    db: None, settings: Any, name: str, value: Any
) -> None:
    with_options(settings, **{name: value})
    [message] = [m for m in check_settings() if m.id == "multipay.E013"]
    assert f"OPTIONS.{name}" in message.msg
    with pytest.raises(GatewayConfigurationError):
        payments.start_payment(make_order(), "portpos")


@pytest.mark.parametrize("value", [True, False, 1, 0, {"enable": 1, "tenures": [6]}])
def test_alias_flags_of_either_form_pass_the_system_check(
    db: None, settings: Any, value: Any
) -> None:
    with_options(settings, emi=value)
    assert [m for m in check_settings() if m.id == "multipay.E013"] == []


def test_an_aliass_emi_object_is_sent_as_the_document_writes_it(
    router: EmulatorRouter, settings: Any
) -> None:
    with_options(settings, emi={"enable": True, "tenures": [6]}, emi_tenures=[3])
    start(None)
    assert sent(router)["emi"] == {"enable": 1, "tenures": [6]}


# ------------------------------------------------------------------------------------------------
# PortPos with customers' names, products and phones in any script, on the wire and back.


NAMES = [
    pytest.param("José Núñez", id="accents"),
    pytest.param("রহিম উদ্দিন", id="bangla"),
    pytest.param("محمد علي", id="arabic"),
    pytest.param("A/B Traders", id="slash"),
]
ADDRESS = {
    "line1": "বাড়ি ১২, রোড ৩/এ",
    "city": "ঢাকা",
    "state": "ঢাকা",
    "postal_code": "1207",
    "country": "BD",
}


def order_with_address(**fields: Any) -> Order:
    fields = {"currency": "BDT", "billing_address": ADDRESS, "shipping_address": {}, **fields}
    order = OrderFactory(**fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def sent_raw(router: EmulatorRouter) -> tuple[bytes, dict[str, Any]]:
    call = router.requests_to(r"/portpos/invoice$", "POST")[-1]
    raw = call.body if isinstance(call.body, bytes) else str(call.body).encode()
    return raw, json.loads(raw)


@pytest.mark.parametrize("name", NAMES)
def test_names_and_products_in_any_script_reach_portpos_intact(
    router: EmulatorRouter, name: str
) -> None:
    order = order_with_address(customer_name=name, description="")
    OrderItemFactory(order=order, name=f"চা পাতা ½ kg for {name}", quantity=2)
    payments.start_payment(order, "portpos")
    invoice = Invoice.objects.get(order=order)
    raw, body = sent_raw(router)
    # JSON with \uXXXX escapes: plain ASCII on the wire.
    assert raw.isascii()
    for part in ("billing", "shipping"):
        customer = body[part]["customer"]
        assert customer["name"] == name
        assert customer["address"] == {
            "street": "বাড়ি ১২, রোড ৩/এ",
            "city": "ঢাকা",
            "state": "ঢাকা",
            "zipcode": "1207",
            "country": "BD",
        }
    assert body["product"] == {
        "name": f"চা পাতা ½ kg for {name}",
        "description": f"2 x চা পাতা ½ kg for {name}",
    }
    assert invoice.status == InvoiceStatus.PENDING
    # PortPos keeps them as sent, and Retrieving an invoice reads them back unchanged.
    assert emulated(invoice)["billing"]["customer"]["name"] == name
    status = get_gateway("portpos").fetch_status(invoice)
    assert (status.status, status.amount, status.currency) == (
        InvoiceStatus.PENDING,
        Decimal("100.00"),
        "BDT",
    )
    assert status.raw["billing"]["customer"]["name"] == name
    assert status.raw["product"]["name"] == f"চা পাতা ½ kg for {name}"


def test_name_limits_count_characters_not_bytes(router: EmulatorRouter) -> None:
    # "billing.customer.name": 2 to 50; fifty Bangla letters are 150 bytes of UTF-8.
    fifty = ("রহিম উদ্দিন " * 5)[:50]
    assert len(fifty) == 50
    assert len(fifty.encode()) > 100
    payments.start_payment(order_with_address(customer_name=fifty), "portpos")
    assert sent_raw(router)[1]["billing"]["customer"]["name"] == fifty
    order = order_with_address(customer_name=fifty + "ক")
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portpos")
    assert set(caught.value.fields) == {"billing.customer.name", "shipping.customer.name"}
    assert len(router.requests_to(r"/portpos/invoice$", "POST")) == 1


#: Where the digits zero to nine start in Unicode: Bangla and Arabic-Indic.
BANGLA, ARABIC_INDIC = 0x09E6, 0x0660


def in_digits(text: str, zero: int) -> str:
    """``text`` with its ASCII digits written in another script's digits."""
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)


@pytest.mark.parametrize(
    ("typed", "wire"),
    [
        (in_digits("+880 1711-000000", BANGLA), "+8801711000000"),
        (in_digits("01711 000000", BANGLA), "01711000000"),
        (in_digits("01711000000", ARABIC_INDIC), "01711000000"),
        ("+880 1711-000000", "+8801711000000"),
    ],
    ids=["bangla-international", "bangla-national", "arabic-indic", "ascii"],
)
def test_phones_typed_in_bangla_or_arabic_digits_go_out_in_ascii_digits(
    router: EmulatorRouter, typed: str, wire: str
) -> None:
    order = order_with_address(customer_phone=typed)
    payments.start_payment(order, "portpos")
    body = sent_raw(router)[1]
    # "billing.customer.phone": a valid phone number of 9 to 15 characters.
    assert body["billing"]["customer"]["phone"] == wire
    assert body["shipping"]["customer"]["phone"] == wire
    assert Invoice.objects.get(order=order).status == InvoiceStatus.PENDING
