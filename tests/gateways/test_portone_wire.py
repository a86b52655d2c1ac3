"""PortOne on the wire: each call's method, path, headers and body, and each error's mapping."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
import requests
import responses

from django_multipay import payments
from django_multipay.exceptions import (
    GatewayAPIError,
    GatewayConfigurationError,
    GatewayConnectionError,
    NotificationRejected,
    PaymentDeclined,
    RefundError,
)
from django_multipay.gateways.portone import PortOneGateway, read_token
from django_multipay.gateways.results import InboundRequest
from django_multipay.models import Invoice, Order, OrderItem, Refund
from django_multipay.registry import get_gateway
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

KEY = "portone-client-key-one"
SECRET = "portone-secret-key-one-0123456789abcdef0123"
API = "http://testserver/sandbox/portone/"


@pytest.fixture
def order(db) -> Order:
    order = OrderFactory(amount=Decimal("100.50"), currency="EUR", description="Two mugs")
    OrderItem.objects.create(
        order=order, reference="MUG", name="Mug", quantity=2, unit_price=Decimal("50.25")
    )
    return order


def assert_token(request: requests.PreparedRequest) -> None:
    assert request.headers["X-Portone-Client-Key"] == KEY
    scheme, _, token = request.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    claims = read_token(token, KEY, SECRET)
    assert claims["exp"] - claims["iat"] == 100


def test_initiate_payment(router: EmulatorRouter, order: Order) -> None:
    action = payments.start_payment(order, "portone")
    invoice = Invoice.objects.get(order=order)
    (call,) = router.requests_to("/api/initiatePayment$")
    assert call.method == "POST"
    assert call.headers["X-Portone-Client-Key"] == KEY
    assert "Authorization" not in call.headers  # the spec names the client key only
    raw = call.body.decode() if isinstance(call.body, bytes) else call.body
    assert '"amount":100.50' in raw  # a JSON number, never through float
    body = json.loads(raw)
    return_url = f"http://testserver/payments/return/{invoice.pk}/"
    assert body["key"] == KEY
    assert body["merchant_order_id"] == str(invoice.pk)
    assert (body["pmt_channel"], body["pmt_method"]) == ("STRIPE", "STRIPE_CARD")
    assert body["environment"] == "sandbox"
    assert body["currency"] == "EUR"
    assert body["transaction_type"] == "PURCHASE"
    assert body["success_url"] == body["failure_url"] == body["pending_url"] == return_url
    assert body["description"] == "Two mugs"
    assert body["order_details"] == [{"id": "MUG", "name": "Mug", "price": 50.25, "quantity": 2}]
    assert body["billing_details"]["billing_address"]["country_code"]
    assert body["signature_hash"]
    assert invoice.gateway_id
    assert action.url.endswith(f"/pay/{invoice.gateway_id}")
    assert invoice.expires_at is not None


def test_status_read(router: EmulatorRouter, order: Order) -> None:
    payments.start_payment(order, "portone")
    invoice = Invoice.objects.get(order=order)
    result = get_gateway("portone").fetch_status(invoice)
    (call,) = router.requests_to(rf"/api/transaction/{invoice.pk}/status$")
    assert call.method == "GET"
    assert_token(call)
    assert result.status == InvoiceStatus.PENDING
    assert result.gateway_id == invoice.gateway_id


def test_refund_calls(router: EmulatorRouter, order: Order) -> None:
    payments.start_payment(order, "portone")
    invoice = Invoice.objects.get(order=order)
    router.client.post(f"/sandbox/portone/pay/{invoice.gateway_id}", {"outcome": "success"})
    refund = payments.refund(invoice, Decimal("0.50"), reason="chipped")
    read, post = router.requests_to(rf"/api/refund/{invoice.gateway_id}$")[:2]
    assert (read.method, post.method) == ("GET", "POST")
    assert_token(read)
    assert_token(post)
    body = json.loads(post.body)
    assert body["amount"] == 0.5
    assert body["channel"] == "STRIPE"
    assert body["refund_type"] == "partial"
    assert body["environment"] == "sandbox"
    assert body["refund_reason"] == f"chipped [mp {invoice.pk} {refund.idempotency_key}]"
    assert refund.idempotency_key in body["description"]
    listed = get_gateway("portone").list_refunds(invoice)
    assert [(r.idempotency_key, r.status, r.amount) for r in listed] == [
        (refund.idempotency_key, RefundStatus.SUCCEEDED, Decimal("0.50"))
    ]


def test_payment_link_calls(router: EmulatorRouter, order: Order) -> None:
    payments.start_payment(order, "portone-link")
    invoice = Invoice.objects.get(order=order)
    (call,) = router.requests_to("/api/paymentLink$")
    assert call.method == "POST"
    assert call.headers["X-Portone-Client-Key"] == "portone-client-key-three"
    body = json.loads(call.body)
    assert body["portone_key"] == "portone-client-key-three"
    assert body["merchant_details"]["name"] == "Test shop"
    assert body["amount"] == 100.5
    assert body["currency"] == "EUR"
    gateway = get_gateway("portone-link")
    assert gateway.fetch_payment_link(invoice.gateway_id)["status"] == "Created"
    gateway.cancel_payment_link(invoice.gateway_id)
    (cancel,) = router.requests_to(rf"/api/paymentLink/{invoice.gateway_id}/status/cancelled$")
    assert cancel.method == "PUT"
    assert gateway.fetch_status(invoice).status == InvoiceStatus.CANCELLED


# -- the emulator is strict ----------------------------------------------------------------------


def test_emulator_refuses_bad_credentials(router: EmulatorRouter, order: Order) -> None:
    payments.start_payment(order, "portone")
    invoice = Invoice.objects.get(order=order)
    url = f"/sandbox/portone/api/transaction/{invoice.pk}/status"
    assert router.client.get(url).json()["status_code"] == "4010"
    wrong = PortOneGateway(
        "x", {"client_key": KEY, "secret_key": "another-secret-0123456789abcdef01"}
    )
    for headers in (
        {"X-Portone-Client-Key": KEY},
        wrong.headers(),
        {**get_gateway("portone").headers(), "X-Portone-Client-Key": "portone-client-key-two"},
    ):
        response = router.client.get(url, headers=headers)
        assert response.status_code == 401
        assert response.json()["status_code"] == "4054"


def test_emulator_refuses_a_wrong_request_signature(router: EmulatorRouter, order: Order) -> None:
    gateway = get_gateway("portone")
    body = {
        "key": KEY,
        "merchant_order_id": "x1",
        "pmt_channel": "STRIPE",
        "pmt_method": "STRIPE_CARD",
        "description": "d",
        "environment": "sandbox",
        "amount": 10,
        "currency": "EUR",
        "signature_hash": "AAAA",
        "success_url": "http://s/",
        "failure_url": "http://f/",
    }
    response = router.client.post(
        "/sandbox/portone/api/initiatePayment",
        json.dumps(body),
        content_type="application/json",
        headers=gateway.headers(token=False),
    )
    assert response.status_code == 401
    assert response.json()["status_code"] == "4011"


# -- errors ---------------------------------------------------------------------------------------


def error(code: str, reason: str, status: int = 400) -> dict:
    return {
        "status": status,
        "json": {"message": f"{reason} message", "status_code": code, "status_reason": reason},
    }


@pytest.mark.parametrize(
    ("answer", "raised", "code"),
    [
        (error("4002", "DUPLICATE_TRANSACTION_ERROR"), GatewayAPIError, "4002"),
        (
            error("4011", "INVALID_UNAUTHORISED_TRANSACTION_SIGNATURE_ERROR", 401),
            GatewayAPIError,
            "4011",
        ),
        (error("6014", "INVALID_CARD_DECLINED_ERROR"), PaymentDeclined, "6014"),
        (error("5000", "PAYMENT_SYSTEM_ERROR"), GatewayAPIError, "5000"),
        (
            {
                "status": 200,
                "json": {
                    "is_success": False,
                    "message": "no",
                    "status_code": "4001",
                    "status_reason": "INVALID_PAYMENT_REQUEST",
                },
            },
            GatewayAPIError,
            "4001",
        ),
    ],
)
def test_start_errors(order: Order, answer: dict, raised: type, code: str) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, API + "api/initiatePayment", **answer)
        with pytest.raises(raised) as caught:
            payments.start_payment(order, "portone")
    assert caught.value.code == code
    assert code in str(caught.value)
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.FAILED
    assert SECRET not in str(caught.value)


def paid(order: Order) -> Invoice:
    invoice = Invoice.objects.create(
        order=order,
        gateway="portone",
        gateway_id="ORDREF1",
        amount=order.amount,
        currency="EUR",
        status=InvoiceStatus.PAID,
        captured_amount=order.amount,
    )
    return invoice


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("4081", "PARTIAL_REFUND_NOT_ALLOWED"),
        ("4070", "INVALID_PAYMENT_REQUEST_REFUND_NOT_ALLOWED"),
    ],
)
def test_refund_refusals_fail_the_refund(order: Order, code: str, reason: str) -> None:
    invoice = paid(order)
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            API + "api/refund/ORDREF1",
            json={"amountToRefund": 100.5, "refundDetails": []},
        )
        mock.add(responses.POST, API + "api/refund/ORDREF1", **error(code, reason))
        with pytest.raises(RefundError) as caught:
            payments.refund(invoice, Decimal("10.00"))
    assert caught.value.code == code
    refund = Refund.objects.get(invoice=invoice)
    assert refund.status == RefundStatus.FAILED
    assert reason in refund.failure_reason
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_refund_system_error_leaves_outcome_unknown(order: Order) -> None:
    invoice = paid(order)
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            API + "api/refund/ORDREF1",
            json={"amountToRefund": 100.5, "refundDetails": []},
        )
        mock.add(
            responses.POST, API + "api/refund/ORDREF1", **error("5000", "PAYMENT_SYSTEM_ERROR")
        )
        with pytest.raises(GatewayAPIError):
            payments.refund(invoice, Decimal("10.00"))
    assert Refund.objects.get(invoice=invoice).status == RefundStatus.REQUESTED


def test_refund_timeout_leaves_outcome_unknown(order: Order) -> None:
    invoice = paid(order)
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            API + "api/refund/ORDREF1",
            json={"amountToRefund": 100.5, "refundDetails": []},
        )
        mock.add(responses.POST, API + "api/refund/ORDREF1", body=requests.ReadTimeout("slow"))
        with pytest.raises(GatewayConnectionError):
            payments.refund(invoice, Decimal("10.00"))
    assert Refund.objects.get(invoice=invoice).status == RefundStatus.REQUESTED


def test_refund_matched_by_new_entry_when_reason_is_not_echoed(order: Order) -> None:
    invoice = paid(order)
    earlier = {"refund_id": "r1", "amount": 5, "currency": "eur", "refund_status": "SUCCESS"}
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            API + "api/refund/ORDREF1",
            json={"amountToRefund": 95.5, "refundDetails": [earlier]},
        )
        mock.add(
            responses.POST,
            API + "api/refund/ORDREF1",
            json={
                "amountToRefund": 85.5,
                "refundDetails": [
                    earlier,
                    {
                        "refund_id": "",
                        "psp_refund_id": "77",
                        "amount": 10,
                        "currency": "eur",
                        "refund_status": "SUCCESS",
                    },
                ],
            },
        )
        refund = payments.refund(invoice, Decimal("10.00"))
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_refund_id == "77"


def test_capture_takes_the_whole_amount_only(order: Order) -> None:
    gateway = get_gateway("portone-preauth")
    invoice = Invoice(
        order=order, gateway="portone-preauth", gateway_id="X", amount=order.amount, currency="EUR"
    )
    with pytest.raises(Exception, match="whole authorized amount"):
        gateway.capture(invoice, Decimal("1.00"))


def test_status_mapping() -> None:
    gateway = get_gateway("portone")
    assert gateway.map_status("Success") == InvoiceStatus.PAID
    assert gateway.map_status("Failed") == InvoiceStatus.FAILED
    assert gateway.map_status("Initiated") == InvoiceStatus.PENDING
    assert gateway.map_status("Expired") == InvoiceStatus.EXPIRED
    assert gateway.map_status("Authorized") == InvoiceStatus.AUTHORIZED
    assert gateway.map_status("Something", "1002") == InvoiceStatus.PENDING
    assert gateway.map_status("Something", "6001") == InvoiceStatus.FAILED
    assert gateway.map_status("Processing", link=True) == InvoiceStatus.PENDING
    assert gateway.map_status("Cancelled", link=True) == InvoiceStatus.CANCELLED
    with pytest.raises(ValueError, match="unknown status"):
        gateway.map_status("Something", "2000")


def test_notification_errors(db) -> None:
    gateway = get_gateway("portone")

    def inbound(body: bytes) -> InboundRequest:
        return InboundRequest("POST", "/", {"content-type": "application/json"}, body)

    for body, code in (
        (b"[]", "malformed"),
        (b'{"amount": 1}', "malformed"),
        (b'{"amount": 1, "currency": "EUR", "status": "Success"}', "signature"),
    ):
        with pytest.raises(NotificationRejected) as caught:
            gateway.parse_notification(inbound(body))
        assert caught.value.code == code


def test_half_configured_channel_is_refused() -> None:
    half = PortOneGateway("x", {"client_key": "k", "secret_key": "s", "pmt_channel": "STRIPE"})
    assert half.missing_options() == ["pmt_method"]
    with pytest.raises(GatewayConfigurationError):
        half.check_options()
    wrong = PortOneGateway("x", {"client_key": "k", "secret_key": "s", "transaction_type": "SALE"})
    with pytest.raises(GatewayConfigurationError):
        wrong.check_options()


def test_environment_follows_options() -> None:
    assert PortOneGateway("x", {"sandbox": True}).environment == "sandbox"
    assert PortOneGateway("x", {}).environment == "live"
    assert PortOneGateway("x", {"environment": "live", "sandbox": True}).environment == "live"
    assert PortOneGateway("x", {"base_url": "http://proxy/"}).base_url == "http://proxy/"
    assert PortOneGateway("x", {}).base_url == "https://api.portone.cloud/"


def test_secret_never_in_errors(order: Order) -> None:
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            re.compile(".*"),
            status=401,
            json={
                "message": f"bad secret {SECRET}",
                "status_code": "4099",
                "status_reason": "INVALID_UNAUTHORISED_PORTONE_SECRET_ERROR",
            },
        )
        with pytest.raises(GatewayAPIError) as caught:
            payments.start_payment(order, "portone")
    assert SECRET not in str(caught.value)
    assert SECRET not in json.dumps(caught.value.response)


def test_payment_link_webhook_is_checked_over_its_own_fields(db) -> None:
    from django_multipay.gateways import portone_signing as signing
    from django_multipay.gateways.portone import dumps

    gateway = get_gateway("portone-link")
    secret = "portone-secret-key-three-0123456789abcdef0123"
    body = {
        "amount": Decimal("140000"),
        "country_code": "VN",
        "currency": "VND",
        "link_ref": "2BEemUknaImTq5ljmoNQQV2tSll",
        "merchant_order_ref": "3f1c2b9e-0000-4000-8000-000000000001",
        "status": "Success",
    }
    body["signature_hash"] = signing.sign(
        secret, {**body, "amount": "140000"}, signing.LINK_WEBHOOK_FIELDS
    )
    raw = dumps({k: v for k, v in body.items() if k != "amount"} | {"amount": _n("140000")})
    event = gateway.parse_notification(
        InboundRequest("POST", "/", {"content-type": "application/json"}, raw.encode())
    )
    assert event.invoice_id == body["merchant_order_ref"]
    assert event.gateway_id == body["link_ref"]
    assert event.status is not None
    assert event.status.status == InvoiceStatus.PAID
    assert (event.status.amount, event.status.currency) == (Decimal("140000"), "VND")
    assert not event.authoritative  # read back before anything changes
    tampered = raw.replace('"Success"', '"Expired"')
    with pytest.raises(NotificationRejected):
        gateway.parse_notification(
            InboundRequest("POST", "/", {"content-type": "application/json"}, tampered.encode())
        )


def _n(text: str):
    from django_multipay.gateways.portone import _Number

    return _Number(text)


def test_trusted_signed_webhook_is_authoritative(router: EmulatorRouter, order: Order) -> None:
    from django_multipay.sandbox import portone as emulator

    gateway = PortOneGateway(
        "portone", {**get_gateway("portone").options, "trust_signed_notifications": True}
    )
    payments.start_payment(order, "portone")
    invoice = Invoice.objects.get(order=order)
    with emulator.store.table(emulator.TRANSACTIONS) as table:
        txn = table[invoice.gateway_id]
        emulator.settle(txn, "success")
        body = emulator.webhook_for(txn, SECRET)
    from django_multipay.gateways.portone import dumps

    event = gateway.parse_notification(InboundRequest("POST", "/", {}, dumps(body).encode()))
    assert event.authoritative
    assert event.status is not None
    assert event.status.amount == Decimal("100.50")
