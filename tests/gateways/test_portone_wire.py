"""PortOne on the wire: each call's method, path, headers and body, and each error's mapping;
tokens and request signatures against PortOne's documents; the merchant calls, payment links,
the transactions listing, per-payment options and names in any script."""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import jwt
import pytest
import requests
import responses
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_multipay import money, payments, reconcile
from django_multipay.exceptions import (
    GatewayAPIError,
    GatewayConfigurationError,
    GatewayConnectionError,
    InvalidRequest,
    PaymentDeclined,
    RefundError,
    UnsupportedOperation,
)
from django_multipay.gateways import portone_signing as signing
from django_multipay.gateways.base import PaymentOption
from django_multipay.gateways.portone import (
    CHANNEL_OPTIONS,
    LINK_OPTIONS,
    PortOneGateway,
    dumps,
    make_token,
    read_token,
    wire_time,
)
from django_multipay.models import Invoice, Order, OrderItem, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.test_portone import API, CREDS, KEY, SECRET


def assert_token(request: requests.PreparedRequest) -> None:
    assert request.headers["X-Portone-Client-Key"] == KEY
    scheme, _, token = request.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    claims = read_token(token, KEY, SECRET)
    assert claims["exp"] - claims["iat"] == 100


def test_initiate_payment(router: EmulatorRouter, portone_order_with_items: Order) -> None:
    action = payments.start_payment(portone_order_with_items, "portone")
    invoice = Invoice.objects.get(order=portone_order_with_items)
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


def test_status_read(router: EmulatorRouter, portone_order_with_items: Order) -> None:
    payments.start_payment(portone_order_with_items, "portone")
    invoice = Invoice.objects.get(order=portone_order_with_items)
    result = get_gateway("portone").fetch_status(invoice)
    (call,) = router.requests_to(rf"/api/transaction/{invoice.pk}/status$")
    assert call.method == "GET"
    assert_token(call)
    assert result.status == InvoiceStatus.PENDING
    assert result.gateway_id == invoice.gateway_id


def test_refund_calls(router: EmulatorRouter, portone_order_with_items: Order) -> None:
    payments.start_payment(portone_order_with_items, "portone")
    invoice = Invoice.objects.get(order=portone_order_with_items)
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


def test_payment_link_calls(router: EmulatorRouter, portone_order_with_items: Order) -> None:
    payments.start_payment(portone_order_with_items, "portone-link")
    invoice = Invoice.objects.get(order=portone_order_with_items)
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
def test_start_errors(
    portone_order_with_items: Order, answer: dict, raised: type, code: str
) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, API + "api/initiatePayment", **answer)
        with pytest.raises(raised) as caught:
            payments.start_payment(portone_order_with_items, "portone")
    assert caught.value.code == code
    assert code in str(caught.value)
    invoice = Invoice.objects.get(order=portone_order_with_items)
    assert invoice.status == InvoiceStatus.FAILED
    assert SECRET not in str(caught.value)


def paid(portone_order_with_items: Order) -> Invoice:
    invoice = Invoice.objects.create(
        order=portone_order_with_items,
        gateway="portone",
        gateway_id="ORDREF1",
        amount=portone_order_with_items.amount,
        currency="EUR",
        status=InvoiceStatus.PAID,
        captured_amount=portone_order_with_items.amount,
    )
    return invoice


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("4081", "PARTIAL_REFUND_NOT_ALLOWED"),
        ("4070", "INVALID_PAYMENT_REQUEST_REFUND_NOT_ALLOWED"),
    ],
)
def test_refund_refusals_fail_the_refund(
    portone_order_with_items: Order, code: str, reason: str
) -> None:
    invoice = paid(portone_order_with_items)
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


def test_refund_system_error_leaves_outcome_unknown(portone_order_with_items: Order) -> None:
    invoice = paid(portone_order_with_items)
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


def test_refund_timeout_leaves_outcome_unknown(portone_order_with_items: Order) -> None:
    invoice = paid(portone_order_with_items)
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


def test_refund_matched_by_new_entry_when_reason_is_not_echoed(
    portone_order_with_items: Order,
) -> None:
    invoice = paid(portone_order_with_items)
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


def test_capture_takes_the_whole_amount_only(portone_order_with_items: Order) -> None:
    gateway = get_gateway("portone-preauth")
    invoice = Invoice(
        order=portone_order_with_items,
        gateway="portone-preauth",
        gateway_id="X",
        amount=portone_order_with_items.amount,
        currency="EUR",
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


def test_secret_never_in_errors(portone_order_with_items: Order) -> None:
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
            payments.start_payment(portone_order_with_items, "portone")
    assert SECRET not in str(caught.value)
    assert SECRET not in json.dumps(caught.value.response)


# ------------------------------------------------------------------------------------------------
# PortOne signatures and tokens, against the examples in PortOne's own documents.


# payment-openapi "Create JWT Token": this key and secret, and the token PortOne issued.
DOC_KEY = "sjcrvcbVYkFobHlx"
DOC_SECRET = "6cd264c70ec38d41a5dc2662e98c72bac58d3afc5bb4e80debbe3a976a0dc4eb"
SPEC_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MjQzMjM2NTEsImlhdCI6MTcyNDMwMjA1MSwiaXNz"
    "IjoiUE9SVE9ORSIsInN1YiI6InNqY3J2Y2JWWWtGb2JIbHgifQ.-A7y_JSRNbST9wIE26xd-oq0vLsQ-PavhHyxSts0glY"
)


def test_token_is_byte_for_byte_the_specs_example() -> None:
    assert make_token(DOC_KEY, DOC_SECRET, ttl=21600, now=1724302051) == SPEC_TOKEN


def test_token_claims() -> None:
    claims = jwt.decode(
        make_token(DOC_KEY, DOC_SECRET, now=1000),
        DOC_SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False},
    )
    assert claims == {"iss": "PORTONE", "sub": DOC_KEY, "iat": 1000, "exp": 1100}


@pytest.mark.parametrize(
    "token",
    [
        make_token(DOC_KEY, DOC_SECRET, ttl=-10),  # expired
        make_token("another-key", DOC_SECRET),  # wrong subject
        make_token(DOC_KEY, "another-secret-0123456789abcdef0123456789"),  # wrong signature
        jwt.encode({"iss": "CHAIPAY", "sub": DOC_KEY, "iat": 1, "exp": 4102444800}, DOC_SECRET),
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(jwt.InvalidTokenError):
        read_token(token, DOC_KEY, DOC_SECRET)


def test_fresh_token_is_accepted() -> None:
    assert read_token(make_token(DOC_KEY, DOC_SECRET), DOC_KEY, DOC_SECRET)["sub"] == DOC_KEY


# payment-openapi "Generate signature hash" request example.
REQUEST = {
    "amount": "111.12",
    "client_key": DOC_KEY,
    "currency": "THB",
    "merchant_order_id": "e203767a-ae29-42dc-820f-61cbde24966e",
    "success_url": "https://yourwebsite.com/success",
    "failure_url": "https://yourwebsite.com/failure",
}


def test_payment_request_message_sorted_and_form_encoded() -> None:
    assert signing.signature_message(REQUEST, signing.PAYMENT_REQUEST_FIELDS) == (
        "amount=111.12&client_key=sjcrvcbVYkFobHlx&currency=THB"
        "&failure_url=https%3A%2F%2Fyourwebsite.com%2Ffailure"
        "&merchant_order_id=e203767a-ae29-42dc-820f-61cbde24966e"
        "&success_url=https%3A%2F%2Fyourwebsite.com%2Fsuccess"
    )


def test_payment_request_signature() -> None:
    # base64(HMAC-SHA256) of the message above, computed independently with openssl.
    signature = signing.sign(DOC_SECRET, REQUEST, signing.PAYMENT_REQUEST_FIELDS)
    assert signature == "rupGgiRzV+47yaKYzuR2cGKKe2S26LVxJB+B8W2V0SI="
    assert signing.verify(DOC_SECRET, REQUEST, signing.PAYMENT_REQUEST_FIELDS, signature)
    assert not signing.verify(
        DOC_SECRET, {**REQUEST, "amount": "111.13"}, signing.PAYMENT_REQUEST_FIELDS, signature
    )
    assert not signing.verify(DOC_SECRET, REQUEST, signing.PAYMENT_REQUEST_FIELDS, "")


@pytest.mark.parametrize(
    ("amount", "currency", "written"),
    [
        ("100.00", "USD", "100"),  # payment-request-signature: 100.00 -> 100
        ("100.25", "USD", "100.25"),
        ("100.50", "USD", "100.5"),
        ("500", "JPY", "500"),
        ("1.230", "KWD", "1.23"),
        ("1000000.00", "VND", "1000000"),
    ],
)
def test_amounts_are_signed_without_trailing_zeros(
    amount: str, currency: str, written: str
) -> None:
    assert money.format_trimmed(Decimal(amount), currency) == written


def test_missing_field_is_signed_empty() -> None:
    assert signing.signature_message({"b": "x"}, ("b", "a")) == "a=&b=x"


# ------------------------------------------------------------------------------------------------
# PortOne's merchant calls: remote tokens, signatures, webhooks, PSP credentials, COD status.


@pytest.fixture
def eur_order(db: Any) -> Order:
    return OrderFactory(amount=Decimal("100.00"), currency="EUR")


def remote(settings: Any, alias: str = "portone") -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][alias]["OPTIONS"]["auth_token"] = "remote"
    settings.MULTIPAY = config


# -- remote tokens ("Create JWT Token") -------------------------------------------------------


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_a_remote_token_is_asked_for_once_and_used_for_its_lifetime(
    router: EmulatorRouter, eur_order: Order, settings: Any
) -> None:
    remote(settings)
    invoice, _action = payments.begin_payment(eur_order, "portone")
    gateway = get_gateway("portone")
    gateway.fetch_status(invoice)
    get_gateway("portone").fetch_status(invoice)  # another instance, the same process

    (asked,) = router.requests_to(r"/api/merchant/auth-token$")
    assert asked.method == "POST"
    assert "X-Portone-Client-Key" not in asked.headers
    assert "Authorization" not in asked.headers
    assert json.loads(asked.body) == {"portone_key": KEY, "portone_secret": SECRET}
    reads = router.requests_to(rf"/api/transaction/{invoice.pk}/status$")
    details = router.requests_to(r"/transaction-details$")
    used = {r.headers["Authorization"] for r in [*reads, *details]}
    assert len(used) == 1  # the one token PortOne gave, every call
    claims = read_token(used.pop().removeprefix("Bearer "), KEY, SECRET)
    assert claims["exp"] - claims["iat"] == emulator.TOKEN_LIFETIME


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_a_remote_token_is_renewed_before_it_lapses(
    router: EmulatorRouter, eur_order: Order, settings: Any, monkeypatch: Any
) -> None:
    import django_multipay.gateways.portone as backend

    remote(settings)
    invoice, _action = payments.begin_payment(eur_order, "portone")
    clock = [1000.0]
    monkeypatch.setattr(backend.time, "monotonic", lambda: clock[0])
    get_gateway("portone").fetch_status(invoice)
    clock[0] += emulator.TOKEN_LIFETIME - 61  # still inside its lifetime less the margin
    get_gateway("portone").fetch_status(invoice)
    assert len(router.requests_to(r"/api/merchant/auth-token$")) == 1
    clock[0] += 2  # within a minute of expiry: a new one
    get_gateway("portone").fetch_status(invoice)
    assert len(router.requests_to(r"/api/merchant/auth-token$")) == 2


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_a_refused_remote_token_is_forgotten(db: Any, settings: Any) -> None:
    remote(settings)
    gateway = get_gateway("portone")
    token = {
        "content": {"expires_in": 21600, "token": "a.b.c"},
        "status_code": "2000",
        "status_reason": "SUCCESS",
    }
    refused = {
        "message": "The JWT Token or header is invalid or expired!",
        "status_code": "4054",
        "status_reason": "INVALID_UNAUTHORIZED_JWT_TOKEN_ERROR",
    }
    with responses.RequestsMock() as mock:
        asked = mock.add(responses.POST, API + "api/merchant/auth-token", json=token)
        mock.add(responses.GET, API + f"api/merchant/{KEY}/webhook", json=refused, status=401)
        with pytest.raises(GatewayAPIError, match="check client_key and secret_key"):
            gateway.list_webhooks()
        with pytest.raises(GatewayAPIError):
            gateway.list_webhooks()
    assert asked.call_count == 2


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_a_wrong_secret_gets_no_token_and_the_secret_never_shows(db: Any) -> None:
    gateway = PortOneGateway(
        "portone",
        {
            **get_gateway("portone").options,
            "secret_key": "not-the-secret-0123456789abcdef012345",
            "auth_token": "remote",
        },
    )
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + "api/merchant/auth-token",
            status=400,
            json={
                "message": "Merchant not found, secret not-the-secret-0123456789abcdef012345",
                "status_code": "4016",
                "status_reason": "MERCHANT_NOT_FOUND",
            },
        )
        with pytest.raises(GatewayAPIError) as caught:
            gateway.bearer_token()
    assert caught.value.code == "4016"
    assert "not-the-secret" not in str(caught.value)
    assert "not-the-secret" not in json.dumps(caught.value.response)


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_an_unknown_auth_token_mode_is_a_configuration_error() -> None:
    gateway = PortOneGateway("x", {"client_key": "k", "secret_key": "s", "auth_token": "jwt"})
    with pytest.raises(GatewayConfigurationError, match="auth_token"):
        gateway.headers()
    with pytest.raises(GatewayConfigurationError, match="auth_token"):
        gateway.check_options()


# -- PortOne's own signature ("Generate signature hash") --------------------------------------


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_generate_signature_on_the_wire_matches_ours(router: EmulatorRouter, db: Any) -> None:
    gateway = get_gateway("portone")
    fields = {
        "amount": Decimal("100.00"),
        "currency": "THB",
        "merchant_order_id": "e203767a-ae29-42dc-820f-61cbde24966e",
        "success_url": "https://yourwebsite.com/success",
        "failure_url": "https://yourwebsite.com/failure",
    }
    theirs = gateway.generate_signature(**fields)
    (call,) = router.requests_to(r"/api/merchant/generate-signature$")
    assert call.method == "POST"
    assert read_token(call.headers["Authorization"].removeprefix("Bearer "), KEY, SECRET)
    assert call.body == (
        b'{"portone_key":"portone-client-key-one","currency":"THB","amount":100.00,'
        b'"merchant_order_id":"e203767a-ae29-42dc-820f-61cbde24966e",'
        b'"success_url":"https://yourwebsite.com/success",'
        b'"failure_url":"https://yourwebsite.com/failure"}'
    )
    assert theirs == gateway.payment_request_signature(**fields)


# -- webhook endpoints ------------------------------------------------------------------------


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_webhooks_on_the_wire(router: EmulatorRouter, db: Any) -> None:
    gateway = get_gateway("portone")
    assert gateway.list_webhooks() == []
    made = gateway.create_webhook(
        name="shop payments",
        url="https://shop.example/payments/notify/portone/",
        type="payment_status",
    )
    calls = router.requests_to(rf"/api/merchant/{KEY}/webhook$")
    assert [c.method for c in calls] == ["GET", "POST"]
    assert calls[0].url.endswith("?environment=sandbox")
    assert json.loads(calls[1].body) == {
        "name": "shop payments",
        "url": "https://shop.example/payments/notify/portone/",
        "type": "payment_status",
        "environment": "sandbox",
    }
    for call in calls:
        assert read_token(call.headers["Authorization"].removeprefix("Bearer "), KEY, SECRET)
    assert (made.type, made.enabled, made.url) == (
        "payment_status",
        True,
        "https://shop.example/payments/notify/portone/",
    )
    assert made.uuid
    (again,) = gateway.list_webhooks()
    assert again.uuid == made.uuid
    assert gateway.list_webhooks(environment="live") == []
    with pytest.raises(InvalidRequest):
        gateway.create_webhook(name="x", url="https://shop.example/", type="order_status")
    with pytest.raises(InvalidRequest):
        gateway.create_webhook(name="x", url="ftp://shop.example/", type="refund_status")
    with pytest.raises(GatewayAPIError) as caught:
        gateway.create_webhook(
            name="again", url="https://shop.example/payments/notify/portone/", type="payment_status"
        )
    assert caught.value.code == "4002"


# -- PSP credentials ----------------------------------------------------------------------------


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_pay_channel_credentials_on_the_wire(router: EmulatorRouter, db: Any) -> None:
    gateway = get_gateway("portone")
    added = gateway.add_pay_channel("momopay", CREDS, country="vn")
    (call,) = router.requests_to(rf"/api/merchant/{KEY}/add-pay-channel/MOMOPAY$")
    assert call.method == "POST"
    assert read_token(call.headers["Authorization"].removeprefix("Bearer "), KEY, SECRET)
    assert json.loads(call.body) == {"creds": CREDS, "country": "VN", "environment": "sandbox"}
    assert added.key == "MOMOPAY"
    assert added.credential_names == ("accessKey", "partnerCode", "secretKey")
    assert all(value not in json.dumps(added.raw) for value in CREDS.values())
    assert set(added.raw["maskedData"].values()) == {"********"}

    updated = gateway.update_pay_channel(
        "MOMOPAY", {**CREDS, "secretKey": "psp-NEW-1234"}, country="VN"
    )
    assert router.calls[-1].method == "PUT"
    assert updated.credential_names == ("accessKey", "partnerCode", "secretKey")

    (shown,) = gateway.fetch_pay_channel("MOMOPAY")
    (read,) = router.requests_to(rf"/api/merchant/{KEY}/pay-channel/MOMOPAY$")
    assert read.method == "GET"
    assert read.url.endswith("?environment=sandbox&payType=PAYIN")
    assert (shown.key, shown.country, shown.pay_type, shown.enabled) == (
        "MOMOPAY",
        "VN",
        "PAYIN",
        True,
    )
    assert set(shown.raw["creds"].values()) == {"********"}
    assert "psp-NEW" not in json.dumps(shown.raw)
    assert gateway.fetch_pay_channel("MOMOPAY", pay_type="PAYOUT") == []


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_pay_channel_errors_never_repeat_the_credentials(db: Any) -> None:
    gateway = get_gateway("portone")
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + f"api/merchant/{KEY}/add-pay-channel/MOMOPAY",
            status=400,
            json={
                "message": f"invalid creds {CREDS['secretKey']} for {CREDS['accessKey']}",
                "status_code": "4001",
                "status_reason": "INVALID_REQUEST",
                "creds": CREDS,
            },
        )
        with pytest.raises(GatewayAPIError) as caught:
            gateway.add_pay_channel("MOMOPAY", CREDS, country="VN")
    text = str(caught.value) + json.dumps(caught.value.response)
    assert all(value not in text for value in CREDS.values())


@pytest.mark.usefixtures("portone_fresh_tokens")
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda g: g.add_pay_channel("momo pay", CREDS, country="VN"), "channel"),
        (lambda g: g.add_pay_channel("MOMOPAY", CREDS, country="Vietnam"), "country"),
        (lambda g: g.add_pay_channel("MOMOPAY", {}, country="VN"), "creds"),
        (lambda g: g.fetch_pay_channel("MOMOPAY", pay_type="BOTH"), "pay_type"),
    ],
)
def test_pay_channel_arguments_are_checked_before_any_call(
    router: EmulatorRouter, db: Any, call: Any, field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        call(get_gateway("portone"))
    assert set(caught.value.fields) == {field}
    assert router.calls == []


# -- after the payment: COD status and transaction details --------------------------------------


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_cod_status_update_changes_our_books_only_through_a_status_read(
    router: EmulatorRouter, eur_order: Order, monkeypatch: Any
) -> None:
    invoice, _action = payments.begin_payment(eur_order, "portone")
    monkeypatch.setattr(emulator, "deliver_webhook", lambda *args: False)  # no webhook comes
    answer = get_gateway("portone").update_transaction_status(invoice, "Success")
    (call,) = router.requests_to(r"/api/transaction/status$")
    assert call.method == "PUT"
    assert read_token(call.headers["Authorization"].removeprefix("Bearer "), KEY, SECRET)
    body = json.loads(call.body)
    assert set(body) == {"status", "merchant_order_ref", "signature"}
    assert (body["status"], body["merchant_order_ref"]) == ("Success", str(invoice.pk))
    assert body["signature"] == signing.sign(
        SECRET,
        {"merchant_order_ref": str(invoice.pk), "status": "Success"},
        ("merchant_order_ref", "status"),
    )
    assert answer["status_code"] == "2000"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING  # our own call's success changes nothing
    payments.refresh(invoice)  # the authenticated read-back does
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_cod_status_update_is_refused_when_it_cannot_apply(
    router: EmulatorRouter, eur_order: Order
) -> None:
    gateway = get_gateway("portone")
    invoice, _action = payments.begin_payment(eur_order, "portone")
    with pytest.raises(InvalidRequest):
        gateway.update_transaction_status(invoice, "Paid")
    link, _action = payments.begin_payment(
        OrderFactory(amount=Decimal("1.00"), currency="EUR"), "portone-link"
    )
    with pytest.raises(UnsupportedOperation):
        get_gateway("portone-link").update_transaction_status(link, "Success")
    assert not router.requests_to(r"/api/transaction/status$")
    with store.table(emulator.TRANSACTIONS) as table:
        emulator.settle(table[invoice.gateway_id], "failure")
    with pytest.raises(GatewayAPIError) as caught:
        gateway.update_transaction_status(invoice, "Success")  # already final at PortOne
    assert caught.value.code == "4079"


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_update_transaction_details_on_the_wire(router: EmulatorRouter, eur_order: Order) -> None:
    invoice, _action = payments.begin_payment(eur_order, "portone")
    content = get_gateway("portone").update_transaction_details(
        invoice, description="Delivered 3 May", user_configured_field2="DN-1042"
    )
    (call,) = router.requests_to(rf"/api/{KEY}/update-transaction-details/{invoice.pk}$", "PUT")
    assert read_token(call.headers["Authorization"].removeprefix("Bearer "), KEY, SECRET)
    assert json.loads(call.body) == {
        "description": "Delivered 3 May",
        "user_configured_field2": "DN-1042",
    }
    assert content == {"description": "Delivered 3 May", "user_configured_field2": "DN-1042"}
    with store.table(emulator.TRANSACTIONS) as table:
        assert table[invoice.gateway_id]["user_configured_field2"] == "DN-1042"


@pytest.mark.usefixtures("portone_fresh_tokens")
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"amount": "1"}, "amount"),
        ({"status": "Success"}, "status"),
        ({"user_configured_field1": "x" * 256}, "user_configured_field1"),
        ({}, "fields"),
    ],
)
def test_update_transaction_details_takes_only_its_fields(
    router: EmulatorRouter, eur_order: Order, fields: dict[str, Any], named: str
) -> None:
    invoice, _action = payments.begin_payment(eur_order, "portone")
    calls = len(router.calls)
    with pytest.raises(InvalidRequest) as caught:
        get_gateway("portone").update_transaction_details(invoice, **fields)
    assert set(caught.value.fields) == {named}
    assert len(router.calls) == calls


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_details_of_a_link_are_refused(router: EmulatorRouter, eur_order: Order) -> None:
    link, _action = payments.begin_payment(eur_order, "portone-link")
    with pytest.raises(UnsupportedOperation):
        get_gateway("portone-link").update_transaction_details(link, description="x")
    assert Invoice.objects.get(pk=link.pk).status == InvoiceStatus.PENDING


# ------------------------------------------------------------------------------------------------
# PortOne payment links: updating one, and reading one by our own reference.


LINK_KEY = "portone-client-key-three"
LINK_SECRET = "portone-secret-key-three-0123456789abcdef0123"


def opt_in(settings: Any, *names: str) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portone-link"]["OPTIONS"]["allow_sensitive_payment_options"] = list(names)
    settings.MULTIPAY = config


def assert_signed(call: Any) -> None:
    assert call.headers["X-Portone-Client-Key"] == LINK_KEY
    scheme, _, token = call.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    assert read_token(token, LINK_KEY, LINK_SECRET)["sub"] == LINK_KEY


def test_update_payment_link_on_the_wire(router: EmulatorRouter, portone_link: Invoice) -> None:
    when = timezone.now() + timedelta(days=2)
    content = get_gateway("portone-link").update_payment_link(
        portone_link,
        expiry_date=when,
        notify_by_email=True,
        description="Two mugs, gift wrapped",
        merchant_details={"back_url": "https://shop.example/cart", "promo_code": "SPRING"},
        notes=[{"key": "gift", "value": "yes"}],
    )
    (call,) = router.requests_to(rf"/api/update-paylink/{portone_link.gateway_id}$")
    assert call.method == "PUT"
    assert_signed(call)
    assert "X-Portone-SubMerchant-Key" not in call.headers
    assert json.loads(call.body) == {
        "expiry_date": wire_time(when),
        "notify_by_email": True,
        "description": "Two mugs, gift wrapped",
        "merchant_details": {
            "name": "Test shop",
            "promo_discount": 0,
            "shipping_charges": 5.0,
            "back_url": "https://shop.example/cart",
            "promo_code": "SPRING",
        },
        "notes": [{"key": "gift", "value": "yes"}],
    }
    assert b'"shipping_charges":5.00' in call.body  # a number from the Decimal, not a float
    assert content["status"] == "Created"
    assert content["notify_by_email"] is True
    assert content["expired_at"] == wire_time(when)
    assert (content["amount"], content["currency"]) == ("100.00", "EUR")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": Decimal("1.00")}, "amount"),
        ({"currency": "USD"}, "currency"),
        ({"success_url": "https://evil.example/"}, "success_url"),
        ({"billing_details": {}}, "billing_details"),
        ({"merchant_dcc_rate": {}}, "merchant_dcc_rate"),
        ({"expiry_date": "2001-01-01T00:00:00Z"}, "expiry_date"),
        ({"reminder_time_unit": "week"}, "reminder_time_unit"),
        ({"merchant_details": {"promo_discount": 50}}, "merchant_details"),
        (
            {"custom_txn_webhook_urls": ["https://elsewhere.example/hook"]},
            "custom_txn_webhook_urls",
        ),
        ({}, "changes"),
    ],
)
def test_what_may_not_change_is_refused_before_any_call(
    router: EmulatorRouter, portone_link: Invoice, changes: dict[str, Any], field: str
) -> None:
    calls = len(router.calls)
    with pytest.raises(InvalidRequest) as caught:
        get_gateway("portone-link").update_payment_link(portone_link, **changes)
    assert set(caught.value.fields) == {field}
    assert len(router.calls) == calls


def test_webhook_addresses_change_with_the_alias_opt_in(
    router: EmulatorRouter, portone_link: Invoice, settings: Any
) -> None:
    opt_in(settings, "custom_txn_webhook_urls")
    get_gateway("portone-link").update_payment_link(
        portone_link, custom_txn_webhook_urls=["https://audit.example/hook"]
    )
    (call,) = router.requests_to(rf"/api/update-paylink/{portone_link.gateway_id}$")
    assert json.loads(call.body) == {"custom_txn_webhook_urls": ["https://audit.example/hook"]}


def test_a_channel_payment_is_no_link_to_update(
    router: EmulatorRouter, portone_shipped_order: Order
) -> None:
    invoice, _action = payments.begin_payment(portone_shipped_order, "portone")
    with pytest.raises(UnsupportedOperation):
        get_gateway("portone").update_payment_link(invoice, notify_by_email=True)
    assert not router.requests_to(r"/api/update-paylink/")


def test_a_paid_link_is_not_updated(router: EmulatorRouter, portone_link: Invoice) -> None:
    page = portone_link.redirect_url.replace("http://testserver", "")
    router.client.post(page, {"outcome": "success"})
    with pytest.raises(GatewayAPIError) as caught:
        get_gateway("portone-link").update_payment_link(portone_link, show_items=True)
    assert caught.value.code == "4001"


def test_an_update_answer_naming_another_amount_is_an_error(
    db: Any, portone_shipped_order: Order
) -> None:
    invoice = Invoice.objects.create(
        order=portone_shipped_order,
        gateway="portone-link",
        gateway_id="2BEemUknaImTq5ljmoNQQV2tSll",
        amount=portone_shipped_order.amount,
        currency="EUR",
        status=InvoiceStatus.PENDING,
        gateway_options={"started_with": "paymentLink"},
    )
    with responses.RequestsMock() as mock:
        mock.add(
            responses.PUT,
            API + "api/update-paylink/2BEemUknaImTq5ljmoNQQV2tSll",
            json={
                "content": {"amount": 10, "currency": "EUR", "status": "Created"},
                "message": "Payment link updated successfully",
                "status_code": "2000",
                "status_reason": "SUCCESS",
            },
        )
        with pytest.raises(GatewayAPIError, match="now asks 10 EUR"):
            get_gateway("portone-link").update_payment_link(invoice, show_items=False)


def test_link_status_by_our_reference(router: EmulatorRouter, portone_link: Invoice) -> None:
    content = get_gateway("portone-link").fetch_payment_link_by_reference(str(portone_link.pk))
    (call,) = router.requests_to(rf"/api/merchant/{LINK_KEY}/paymentLink/{portone_link.pk}/status$")
    assert call.method == "GET"
    assert_signed(call)
    assert content["paymentLinkRef"] == portone_link.gateway_id
    assert content["merchantOrderRef"] == str(portone_link.pk)
    assert content["status"] == "Created"
    # The deprecated call by merchant reference is never used.
    assert not router.requests_to(rf"/api/paymentLink/{portone_link.pk}/status$")


def test_a_sub_merchant_link_is_made_and_read_under_its_key(
    router: EmulatorRouter, portone_shipped_order: Order, settings: Any
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(
            portone_shipped_order, "portone-link", options={"sub_merchant_key": "SubShop1"}
        )
    assert "allow_sensitive_payment_options" in caught.value.fields["options.sub_merchant_key"]
    assert not Invoice.objects.exists()
    opt_in(settings, "sub_merchant_key")
    invoice, _action = payments.begin_payment(
        portone_shipped_order, "portone-link", options={"sub_merchant_key": "SubShop1"}
    )
    (created,) = router.requests_to(r"/api/paymentLink$", "POST")
    assert created.headers["X-Portone-SubMerchant-Key"] == "SubShop1"
    assert "sub_merchant_key" not in json.loads(created.body)
    result = get_gateway("portone-link").fetch_status(invoice)
    assert result.status == InvoiceStatus.PENDING
    (read,) = router.requests_to(rf"/api/merchant/SubShop1/paymentLink/{invoice.pk}/status$")
    assert_signed(read)
    assert not router.requests_to(r"/fetch-status$")
    get_gateway("portone-link").update_payment_link(invoice, show_items=True)
    (update,) = router.requests_to(r"/api/update-paylink/")
    assert update.headers["X-Portone-SubMerchant-Key"] == "SubShop1"


def test_a_link_read_back_naming_another_order_is_unreadable(
    router: EmulatorRouter, portone_link: Invoice
) -> None:
    with store.table(emulator.LINKS) as table:
        table[portone_link.gateway_id]["merchant_order_ref"] = "someone-else"
    with pytest.raises(GatewayAPIError, match="names merchant order"):
        get_gateway("portone-link").fetch_status(portone_link)


# ------------------------------------------------------------------------------------------------
# PortOne: many invoices' statuses from "Fetch Merchant Transactions" (``fetch_statuses``).


LISTING = rf"/api/merchant/{KEY}/fetch-all-payments$"


def started(
    alias: str = "portone", amount: str = "100.00", age: timedelta | None = None
) -> Invoice:
    order = OrderFactory(amount=Decimal(amount), currency="EUR")
    invoice, _action = payments.begin_payment(order, alias)
    if age is not None:
        Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - age)
        invoice.refresh_from_db()
    return invoice


def settle(invoice: Invoice, outcome: str) -> None:
    """The payment settles at PortOne with no webhook reaching us."""
    with store.table(emulator.TRANSACTIONS) as table:
        emulator.settle(table[invoice.gateway_id], outcome)


def gateway(alias: str = "portone", **options: Any) -> PortOneGateway:
    return PortOneGateway(alias, {**get_gateway(alias).options, **options})


def reads_alone(router: EmulatorRouter) -> int:
    return len(router.requests_to(r"/api/transaction/[^/]+/status$")) + len(
        router.requests_to(r"/transaction-details$")
    )


@pytest.mark.parametrize("count", [1, 4, 5])
def test_n_invoices_are_settled_in_ceil_n_over_size_calls(
    router: EmulatorRouter, db: Any, count: int
) -> None:
    invoices = [started(amount=f"{10 + n}.50") for n in range(count)]
    for invoice in invoices:
        settle(invoice, "success")
    before = reads_alone(router)

    found = gateway(listing_page_size=2).fetch_statuses(invoices)

    calls = router.requests_to(LISTING)
    assert len(calls) == math.ceil(count / 2)
    assert [json.loads(call.body)["page"] for call in calls] == list(range(1, len(calls) + 1))
    assert reads_alone(router) == before  # no status read, no transaction details
    assert set(found) == {invoice.pk for invoice in invoices}
    for invoice in invoices:
        result = found[invoice.pk]
        assert result.status == InvoiceStatus.PAID
        assert (result.amount, result.currency) == (invoice.amount, "EUR")
        assert result.gateway_id == invoice.gateway_id
        assert result.raw["merchant_order_ref"] == str(invoice.pk)


def test_the_listing_call_on_the_wire(router: EmulatorRouter, db: Any) -> None:
    old = started(age=timedelta(days=3))
    new = started()
    gateway().fetch_statuses([old, new])

    (call,) = router.requests_to(LISTING)
    assert call.method == "POST"
    assert call.headers["X-Portone-Client-Key"] == KEY
    scheme, _, token = call.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    assert read_token(token, KEY, SECRET)["sub"] == KEY
    body = json.loads(call.body)
    assert set(body) == {"page", "size", "from", "to", "environment"}
    assert (body["page"], body["size"], body["environment"]) == (1, 100, "sandbox")
    start, end = parse_datetime(body["from"]), parse_datetime(body["to"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["from"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["to"])
    # A day of margin before the earliest invoice, until now.
    assert abs(start - (old.created_at - timedelta(days=1))) < timedelta(seconds=1)
    assert abs(end - timezone.now()) < timedelta(seconds=5)


def test_paging_stops_once_every_invoice_is_found(router: EmulatorRouter, db: Any) -> None:
    others = [started(age=timedelta(hours=5 - n)) for n in range(4)]  # older payments
    ours = [started(), started()]  # the newest: PortOne's first page
    assert len(others) == 4

    found = gateway(listing_page_size=2).fetch_statuses(ours)

    (call,) = router.requests_to(LISTING)
    assert json.loads(call.body)["page"] == 1
    assert set(found) == {invoice.pk for invoice in ours}


def test_invoices_the_listing_does_not_name_are_left_out(router: EmulatorRouter, db: Any) -> None:
    started(age=timedelta(minutes=5))  # another payment of the account
    listed = started()
    settle(listed, "success")
    unknown = started()
    with store.table(emulator.TRANSACTIONS) as table:
        del table[unknown.gateway_id]  # PortOne has never heard of it

    found = gateway(listing_page_size=1).fetch_statuses([listed, unknown])

    assert set(found) == {listed.pk}
    assert len(router.requests_to(LISTING)) == 2  # every page read: the pages ran out


def test_the_page_cap_leaves_the_rest_to_be_read_alone(router: EmulatorRouter, db: Any) -> None:
    first = started(age=timedelta(hours=2))
    second = started()

    found = gateway(listing_page_size=1, listing_max_pages=1).fetch_statuses([first, second])

    assert len(router.requests_to(LISTING)) == 1
    assert set(found) == {second.pk}  # newest first; the older one is left out


def test_held_preauth_reads_authorized_and_failures_keep_their_reason(
    router: EmulatorRouter, db: Any
) -> None:
    held = started("portone-preauth")
    settle(held, "success")
    declined = started("portone-preauth")
    settle(declined, "failure")
    pending = started("portone-preauth")

    found = gateway("portone-preauth").fetch_statuses([held, declined, pending])

    assert found[held.pk].status == InvoiceStatus.AUTHORIZED
    assert found[declined.pk].status == InvoiceStatus.FAILED
    assert found[declined.pk].failure_reason == "BANK_REFUSED_TRANSACTION"
    assert found[pending.pk].status == InvoiceStatus.PENDING
    assert found[pending.pk].failure_reason == ""
    # The same as each invoice's own status read says.
    alone = get_gateway("portone-preauth")
    for invoice in (held, declined, pending):
        read = alone.fetch_status(invoice)
        assert (read.status, read.failure_reason, read.amount, read.currency) == (
            found[invoice.pk].status,
            found[invoice.pk].failure_reason,
            found[invoice.pk].amount,
            found[invoice.pk].currency,
        )


def test_payment_links_are_left_out_and_read_alone(router: EmulatorRouter, db: Any) -> None:
    links = [started("portone-link"), started("portone-link")]
    assert gateway("portone-link").fetch_statuses(links) == {}
    assert not router.requests_to(r"/fetch-all-payments$")


def listing_answer(*rows: dict[str, Any], pages: int = 1) -> dict[str, Any]:
    return {
        "json": {
            "body": {
                "content": list(rows),
                "total_elements": len(rows),
                "total_pages": pages,
                "size": 100,
                "page": 1,
                "number_of_elements": len(rows),
            },
            "status_code": "2000",
            "status_message": "SUCCESS",
        }
    }


def invoice_at(db: Any, gateway_id: str) -> Invoice:
    order = OrderFactory(amount=Decimal("100.00"), currency="EUR")
    return Invoice.objects.create(
        order=order,
        gateway="portone",
        gateway_id=gateway_id,
        amount=order.amount,
        currency="EUR",
        status=InvoiceStatus.PENDING,
        gateway_options={"started_with": "initiatePayment"},
    )


def row(invoice: Invoice, **changes: Any) -> dict[str, Any]:
    return {
        "currency": "EUR",
        "amount": 100,
        "order_ref": invoice.gateway_id,
        "merchant_order_ref": str(invoice.pk),
        "status": "Success",
        "status_code": "2000",
        "status_reason": "SUCCESS",
        **changes,
    }


def test_an_unreadable_row_leaves_only_its_invoice_out(db: Any) -> None:
    """Reading the rest cannot mis-book money: the bad row's invoice is read alone, by the
    status read and transaction details, and no status is ever taken without its amount."""
    good, no_amount, bad_status, foreign = (invoice_at(db, f"REF{n}") for n in range(4))
    bad = row(no_amount)
    del bad["amount"]
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + f"api/merchant/{KEY}/fetch-all-payments",
            **listing_answer(
                row(good),
                bad,
                row(bad_status, status="Whatever", status_code="2000"),
                row(foreign, order_ref="ANOTHER"),  # names another PortOne transaction
                "not an object",  # type: ignore[arg-type]
            ),
        )
        found = get_gateway("portone").fetch_statuses([good, no_amount, bad_status, foreign])
    assert set(found) == {good.pk}
    assert found[good.pk].status == InvoiceStatus.PAID


def test_an_invoice_named_twice_is_left_out(db: Any) -> None:
    twice = invoice_at(db, "REF1")
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + f"api/merchant/{KEY}/fetch-all-payments",
            **listing_answer(row(twice), row(twice, status="Failed")),
        )
        assert get_gateway("portone").fetch_statuses([twice]) == {}


@pytest.mark.parametrize(
    "body",
    [
        {"status_code": "2000", "status_message": "SUCCESS"},
        {"body": {"content": None}, "status_code": "2000"},
        {"message": "nope", "status_code": "4016", "status_message": "MERCHANT_NOT_FOUND"},
    ],
)
def test_an_unreadable_or_refused_listing_raises(db: Any, body: dict[str, Any]) -> None:
    invoice = invoice_at(db, "REF1")
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, API + f"api/merchant/{KEY}/fetch-all-payments", json=body)
        with pytest.raises(GatewayAPIError):
            get_gateway("portone").fetch_statuses([invoice])


def test_reconciliation_books_a_batch_from_the_listing(router: EmulatorRouter, db: Any) -> None:
    invoices = [started(age=timedelta(hours=1)) for _ in range(3)]
    for invoice in invoices:
        settle(invoice, "success")
    before = reads_alone(router)

    reconcile.check_invoices(invoices)

    assert len(router.requests_to(LISTING)) == 1
    assert reads_alone(router) == before
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.captured_amount == Decimal("100.00")


# ------------------------------------------------------------------------------------------------
# PortOne per-payment options: each reaches the call that takes it, checked first.


TOKEN = {
    "token": "39ad3aac0486492fae11f96327ad9d97",
    "partial_card_number": "424242******4242",
    "expiry_month": "06",
    "expiry_year": "2030",
    "type": "mastercard",
    "save_card": False,
}
#: The shop's own record of the cards PortOne saved, by the customer id bound to each user.
SAVED: dict[str, list[str]] = {}


def saved_cards(customer_id: str) -> list[str]:
    return SAVED.get(customer_id, [])


@pytest.fixture
def no_saved_cards() -> Any:
    SAVED.clear()
    yield
    SAVED.clear()


def configure(settings: Any, alias: str, **options: Any) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][alias]["OPTIONS"].update(options)
    settings.MULTIPAY = config


def order_of(user: Any = None, **fields: Any) -> Order:
    order = OrderFactory(amount=Decimal("100.00"), currency="EUR", user=user, **fields)
    assert isinstance(order, Order)
    return order


def sent(router: EmulatorRouter, path: str) -> dict[str, Any]:
    (call,) = router.requests_to(path, "POST")
    return json.loads(call.body)  # type: ignore[no-any-return]


@pytest.fixture
def customer(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("customer", password="pw")


@pytest.fixture
def other(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("other", password="pw")


@pytest.mark.usefixtures("no_saved_cards")
def test_the_declared_options() -> None:
    declared = get_gateway("portone").payment_options
    assert set(declared) == {
        "token_params",
        "routing_enabled",
        "routing_params",
        *(f"user_configured_field{n}" for n in range(1, 6)),
        "show_shipping_details",
        "show_back_button",
        "notify_by_email",
        "notify_by_phone",
        "notes",
        "custom_txn_webhook_urls",
        "expiry_date",
        "back_url",
        "promo_code",
        "sub_merchant_key",
    }
    assert all(isinstance(o, PaymentOption) for o in declared.values())
    assert {n for n, o in declared.items() if o.sensitive} == {
        "token_params",
        "custom_txn_webhook_urls",
        "sub_merchant_key",
    }
    assert set(declared) >= CHANNEL_OPTIONS | LINK_OPTIONS


# -- saved cards ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_saved_cards")
def test_a_saved_card_needs_the_alias_opt_in(router: EmulatorRouter, customer: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(customer), "portone", options={"token_params": TOKEN})
    assert "allow_sensitive_payment_options" in caught.value.fields["options.token_params"]
    assert not Invoice.objects.exists()
    assert router.calls == []


@pytest.mark.usefixtures("no_saved_cards")
def test_a_guest_cannot_pay_with_a_saved_card(router: EmulatorRouter, settings: Any) -> None:
    configure(
        settings,
        "portone",
        allow_sensitive_payment_options=["token_params"],
        saved_card_tokens=saved_cards,
    )
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(), "portone", options={"token_params": TOKEN})
    assert "signed-in user" in caught.value.fields["options.token_params"]
    assert router.calls == []


@pytest.mark.usefixtures("no_saved_cards")
def test_without_the_shops_list_of_saved_cards_none_is_used(
    router: EmulatorRouter, settings: Any, customer: Any
) -> None:
    configure(settings, "portone", allow_sensitive_payment_options=["token_params"])
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(customer), "portone", options={"token_params": TOKEN})
    assert "saved_card_tokens" in caught.value.fields["options.token_params"]
    assert not Invoice.objects.exists()


@pytest.mark.usefixtures("no_saved_cards")
def test_another_customers_card_is_refused_and_ones_own_is_sent(
    router: EmulatorRouter, settings: Any, customer: Any, other: Any
) -> None:
    configure(
        settings,
        "portone",
        allow_sensitive_payment_options=["token_params"],
        saved_card_tokens="tests.gateways.test_portone_wire.saved_cards",
    )
    SAVED[str(other.pk)] = [TOKEN["token"]]
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(customer), "portone", options={"token_params": TOKEN})
    assert caught.value.fields == {
        "options.token_params": "a saved card is paid only by the customer it was saved for"
    }
    assert not Invoice.objects.exists()
    SAVED[str(customer.pk)] = [TOKEN["token"]]
    invoice, _action = payments.begin_payment(
        order_of(customer), "portone", options={"token_params": TOKEN}
    )
    assert sent(router, r"/api/initiatePayment$")["token_params"] == TOKEN
    assert invoice.gateway_options["token_params"] == TOKEN


@pytest.mark.usefixtures("no_saved_cards")
def test_a_card_removed_before_the_call_is_not_sent(
    router: EmulatorRouter, settings: Any, customer: Any, monkeypatch: Any
) -> None:
    configure(
        settings,
        "portone",
        allow_sensitive_payment_options=["token_params"],
        saved_card_tokens=saved_cards,
    )
    SAVED[str(customer.pk)] = [TOKEN["token"]]
    gateway = get_gateway("portone")
    real = gateway.check_payment_options

    def check_then_forget(options: Any, portone_order_with_items: Any = None) -> Any:
        checked = real(options, portone_order_with_items)
        SAVED.clear()  # the customer deleted the card meanwhile
        return checked

    monkeypatch.setattr(
        type(gateway), "check_payment_options", lambda self, o, r=None: check_then_forget(o, r)
    )
    with pytest.raises(InvalidRequest):
        payments.begin_payment(order_of(customer), "portone", options={"token_params": TOKEN})
    assert Invoice.objects.get().status == InvoiceStatus.FAILED
    assert not router.requests_to(r"/api/initiatePayment$")


@pytest.mark.usefixtures("no_saved_cards")
@pytest.mark.parametrize(
    "token_params",
    [
        {"partial_card_number": "4242"},  # no token
        {**TOKEN, "expiry_month": "13"},
        {**TOKEN, "save_card": "yes"},
        {**TOKEN, "cvv": "123"},
        {**TOKEN, "token": {"nested": "x"}},
    ],
)
def test_saved_card_values_are_checked(
    router: EmulatorRouter, settings: Any, customer: Any, token_params: dict[str, Any]
) -> None:
    configure(settings, "portone", allow_sensitive_payment_options=["token_params"])
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(
            order_of(customer), "portone", options={"token_params": token_params}
        )
    assert set(caught.value.fields) == {"options.token_params"}


# -- routing, user configured fields --------------------------------------------------------------

ROUTE = {
    "type": "failover",
    "data": [
        {"channel_key": "OMISE", "method_key": "OMISE_CREDIT_CARD", "rank": 2},
        {"channel_key": "STRIPE2", "method_key": "STRIPE_CARD", "rank": 1},
    ],
}


@pytest.mark.usefixtures("no_saved_cards")
def test_routing_reaches_initiate_payment_and_refunds_name_the_routed_channel(
    router: EmulatorRouter,
) -> None:
    invoice, _action = payments.begin_payment(
        order_of(),
        "portone",
        options={
            "routing_enabled": True,
            "routing_params": ROUTE,
            "user_configured_field1": "SO-1",
        },
    )
    body = sent(router, r"/api/initiatePayment$")
    assert (body["routing_enabled"], body["routing_params"]) == (True, ROUTE)
    assert body["user_configured_field1"] == "SO-1"
    router.client.post(f"/sandbox/portone/pay/{invoice.gateway_id}", {"outcome": "success"})
    payments.refund(invoice, Decimal("10.00"))
    (refund,) = router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "POST")
    assert json.loads(refund.body)["channel"] == "STRIPE2"  # PortOne's choice, read back


@pytest.mark.usefixtures("no_saved_cards")
@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"routing_params": ROUTE}, "options.routing_params"),
        ({"routing_enabled": False, "routing_params": ROUTE}, "options.routing_params"),
        (
            {"routing_enabled": True, "routing_params": {"type": "failover"}},
            "options.routing_params",
        ),
        (
            {
                "routing_enabled": True,
                "routing_params": {"data": [{"channel_key": "X", "rank": 1}]},
            },
            "options.routing_params",
        ),
        ({"user_configured_field3": "x" * 256}, "options.user_configured_field3"),
        ({"user_configured_field6": "x"}, "options.user_configured_field6"),
    ],
)
def test_routing_and_fields_are_checked(
    router: EmulatorRouter, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(), "portone", options=options)
    assert set(caught.value.fields) == {field}
    assert router.calls == []


# -- payment-link options -------------------------------------------------------------------------


@pytest.mark.usefixtures("no_saved_cards")
def test_link_options_reach_the_payment_link(router: EmulatorRouter, settings: Any) -> None:
    configure(settings, "portone-link", allow_sensitive_payment_options=["custom_txn_webhook_urls"])
    when = timezone.now() + timedelta(days=3)
    payments.begin_payment(
        order_of(),
        "portone-link",
        options={
            "show_shipping_details": True,
            "show_back_button": False,
            "notify_by_email": True,
            "notify_by_phone": False,
            "notes": [{"key": "Table", "value": "12"}],
            "custom_txn_webhook_urls": ["http://testserver/audit/"],
            "expiry_date": when.isoformat(),
            "back_url": "https://shop.example/cart",
            "promo_code": "SPRING",
            "user_configured_field5": "campaign-7",
        },
    )
    body = sent(router, r"/api/paymentLink$")
    assert body["merchant_details"] == {
        "name": "Test shop",
        "promo_discount": 0,
        "shipping_charges": 0,
        "back_url": "https://shop.example/cart",
        "promo_code": "SPRING",
    }
    assert (body["show_shipping_details"], body["show_back_button"]) == (True, False)
    assert (body["notify_by_email"], body["notify_by_phone"]) == (True, False)
    assert body["notes"] == [{"key": "Table", "value": "12"}]
    assert body["custom_txn_webhook_urls"] == ["http://testserver/audit/"]
    assert body["expiry_date"] == wire_time(when)
    assert body["user_configured_field5"] == "campaign-7"
    for name in ("back_url", "promo_code", "sub_merchant_key"):
        assert name not in body


@pytest.mark.usefixtures("no_saved_cards")
def test_a_links_extra_webhook_address_gets_its_payment_webhook(
    router: EmulatorRouter, settings: Any
) -> None:
    configure(settings, "portone-link", allow_sensitive_payment_options=["custom_txn_webhook_urls"])
    invoice, action = payments.begin_payment(
        order_of(),
        "portone-link",
        options={
            "custom_txn_webhook_urls": ["http://testserver/payments/notify/portone-link/?copy=1"]
        },
    )
    router.client.post(action.url.replace("http://testserver", ""), {"outcome": "success"})
    delivered = [c.url for c in router.requests_to(r"/payments/notify/portone-link/$", "POST")]
    assert len(delivered) == 2
    assert any(url.endswith("?copy=1") for url in delivered)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


@pytest.mark.usefixtures("no_saved_cards")
@pytest.mark.parametrize(
    ("options", "field"),
    [
        (
            {"custom_txn_webhook_urls": ["https://elsewhere.example/"]},
            "options.custom_txn_webhook_urls",
        ),
        ({"expiry_date": "2001-01-01T00:00:00Z"}, "options.expiry_date"),
        ({"expiry_date": "2030-01-01 10:00"}, "options.expiry_date"),  # no offset
        ({"back_url": "javascript:alert(1)"}, "options.back_url"),
        ({"notes": [{"key": "a", "value": 1}]}, "options.notes"),
        ({"notes": [{"label": "a"}]}, "options.notes"),
        ({"sub_merchant_key": "has spaces"}, "options.sub_merchant_key"),
        ({"token_params": TOKEN}, "options.token_params"),  # a channel's, not a link's
        ({"routing_enabled": True}, "options.routing_enabled"),
    ],
)
def test_link_options_are_checked(
    router: EmulatorRouter, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(), "portone-link", options=options)
    assert field in caught.value.fields
    assert router.calls == []


@pytest.mark.usefixtures("no_saved_cards")
@pytest.mark.parametrize("name", sorted(LINK_OPTIONS))
def test_a_link_option_is_refused_at_a_channel(router: EmulatorRouter, name: str) -> None:
    value = {
        "notes": [{"key": "a", "value": "b"}],
        "custom_txn_webhook_urls": ["https://x.example/"],
        "expiry_date": (timezone.now() + timedelta(days=1)).isoformat(),
        "back_url": "https://x.example/",
        "promo_code": "X",
        "sub_merchant_key": "Sub1",
    }.get(name, True)
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(), "portone", options={name: value})
    assert f"options.{name}" in caught.value.fields
    assert router.calls == []


@pytest.mark.usefixtures("no_saved_cards")
def test_customer_metadata_never_reaches_portone(router: EmulatorRouter) -> None:
    order = order_of(
        metadata={
            "user_configured_field1": "from the customer",
            "token_params": {"token": "stolen"},
            "custom_txn_webhook_urls": ["https://evil.example/"],
        }
    )
    payments.begin_payment(order, "portone")
    payments.begin_payment(order_of(metadata={"notes": "x"}), "portone-link")
    for path in (r"/api/initiatePayment$", r"/api/paymentLink$"):
        raw = router.requests_to(path, "POST")[0].body
        assert b"from the customer" not in raw
        assert b"stolen" not in raw
        assert b"evil.example" not in raw
        assert b"user_configured_field1" not in raw


# ------------------------------------------------------------------------------------------------
# PortOne with customers' names in any script: the JSON bytes we send, and signatures.


#: Each name, its first and last part as PortOne's billing_name and billing_surname take them,
#: and both as our JSON writes them (ASCII, \\u escapes: any JSON reader reads them back).
NAMES = [
    ("José Núñez", "José", "Núñez", rb'"Jos\u00e9"', rb'"N\u00fa\u00f1ez"'),
    (
        "রহিম উদ্দিন",
        "রহিম",
        "উদ্দিন",
        rb'"\u09b0\u09b9\u09bf\u09ae"',
        rb'"\u0989\u09a6\u09cd\u09a6\u09bf\u09a8"',
    ),
    ("محمد علي", "محمد", "علي", rb'"\u0645\u062d\u0645\u062f"', rb'"\u0639\u0644\u064a"'),
    ("A/B Traders", "A/B", "Traders", rb'"A/B"', rb'"Traders"'),
]


def order_for(name: str) -> Order:
    order = OrderFactory(
        amount=Decimal("100.50"),
        currency="EUR",
        customer_name=name,
        description=f"Order of {name}",
        billing_address={"name": name, "line1": f"{name} House", "city": "ঢাকা", "country": "BD"},
        shipping_address={"name": name, "country": "BD"},
    )
    OrderItem.objects.create(
        order=order, reference="TEA", name=f"Tea for {name}", quantity=1, unit_price=order.amount
    )
    assert isinstance(order, Order)
    return order


@pytest.mark.parametrize(("name", "first", "last", "first_json", "last_json"), NAMES)
def test_a_channel_payment_sends_the_name_and_its_signature_verifies(
    router: EmulatorRouter,
    db: Any,
    name: str,
    first: str,
    last: str,
    first_json: bytes,
    last_json: bytes,
) -> None:
    invoice, _action = payments.begin_payment(order_for(name), "portone")

    (call,) = router.requests_to(r"/api/initiatePayment$", "POST")
    raw = call.body
    assert isinstance(raw, bytes)
    assert raw.isascii()  # every character outside ASCII escaped
    assert b'"billing_name":' + first_json + b',"billing_surname":' + last_json in raw
    assert b'"shipping_name":' + first_json + b',"shipping_surname":' + last_json in raw
    assert json.loads(raw) == json.loads(dumps(json.loads(raw)))  # what we wrote reads back
    body = json.loads(raw)
    assert (
        body["billing_details"]["billing_name"],
        body["billing_details"]["billing_surname"],
    ) == (
        first,
        last,
    )
    assert body["billing_details"]["billing_address"]["line_1"] == f"{name} House"
    assert body["order_details"][0]["name"] == f"Tea for {name}"
    # The emulator checked signature_hash with its own signing code and took the payment:
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.gateway_id
    details = get_gateway("portone").transaction_details(invoice.gateway_id)
    assert details["buyer_name"] == f"{first} {last}"
    assert details["buyer_city"] == "ঢাকা"
    assert details["description"] == f"Order of {name}"


@pytest.mark.parametrize(("name", "first", "last", "first_json", "last_json"), NAMES)
def test_a_payment_link_sends_the_name_and_its_signature_verifies(
    router: EmulatorRouter,
    db: Any,
    name: str,
    first: str,
    last: str,
    first_json: bytes,
    last_json: bytes,
) -> None:
    invoice, _action = payments.begin_payment(order_for(name), "portone-link")
    (call,) = router.requests_to(r"/api/paymentLink$", "POST")
    assert isinstance(call.body, bytes)
    assert b'"billing_name":' + first_json in call.body
    assert b'"description":"Order of ' in call.body
    assert invoice.status == InvoiceStatus.PENDING
    with store.table(emulator.LINKS) as table:
        kept = table[invoice.gateway_id]["data"]
    assert kept["billing_details"]["billing_surname"] == last


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("José Núñez", "Jos%C3%A9+N%C3%BA%C3%B1ez"),
        (
            "রহিম উদ্দিন",
            "%E0%A6%B0%E0%A6%B9%E0%A6%BF%E0%A6%AE+"
            "%E0%A6%89%E0%A6%A6%E0%A7%8D%E0%A6%A6%E0%A6%BF%E0%A6%A8",
        ),
        ("محمد علي", "%D9%85%D8%AD%D9%85%D8%AF+%D8%B9%D9%84%D9%8A"),
        ("A/B Traders", "A%2FB+Traders"),
    ],
)
def test_both_signers_write_a_name_as_go_does_and_agree(value: str, encoded: str) -> None:
    """UTF-8 bytes as upper-case ``%XX``, space as ``+``, ``/`` as ``%2F`` (Go's
    ``url.QueryEscape``): the backend's signer and the emulator's, written apart, agree."""
    values = {"merchant_order_ref": value, "status": "Success"}
    fields = ("status", "merchant_order_ref")
    assert signing.signature_message(values, fields) == (
        f"merchant_order_ref={encoded}&status=Success"
    )
    assert signing.sign(SECRET, values, fields) == emulator.signature(SECRET, values, fields)
