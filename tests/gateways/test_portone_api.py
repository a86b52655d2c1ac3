"""PortOne's merchant calls: remote tokens, signatures, webhooks, PSP credentials, COD status."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
import responses

from django_multipay import payments
from django_multipay.exceptions import (
    GatewayAPIError,
    GatewayConfigurationError,
    InvalidRequest,
    UnsupportedOperation,
)
from django_multipay.gateways import portone_signing as signing
from django_multipay.gateways.portone import PortOneGateway, clear_token_cache, read_token
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

KEY = "portone-client-key-one"
SECRET = "portone-secret-key-one-0123456789abcdef0123"
API = "http://testserver/sandbox/portone/"
CREDS = {"accessKey": "TestKeyA1b2", "partnerCode": "TestCode77", "secretKey": "psp-SECRET-9f8e7d"}


@pytest.fixture(autouse=True)
def fresh_tokens() -> Any:
    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def order(db: Any) -> Order:
    return OrderFactory(amount=Decimal("100.00"), currency="EUR")


def remote(settings: Any, alias: str = "portone") -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][alias]["OPTIONS"]["auth_token"] = "remote"
    settings.MULTIPAY = config


# -- remote tokens ("Create JWT Token") -------------------------------------------------------


def test_a_remote_token_is_asked_for_once_and_used_for_its_lifetime(
    router: EmulatorRouter, order: Order, settings: Any
) -> None:
    remote(settings)
    invoice, _action = payments.begin_payment(order, "portone")
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


def test_a_remote_token_is_renewed_before_it_lapses(
    router: EmulatorRouter, order: Order, settings: Any, monkeypatch: Any
) -> None:
    import django_multipay.gateways.portone as backend

    remote(settings)
    invoice, _action = payments.begin_payment(order, "portone")
    clock = [1000.0]
    monkeypatch.setattr(backend.time, "monotonic", lambda: clock[0])
    get_gateway("portone").fetch_status(invoice)
    clock[0] += emulator.TOKEN_LIFETIME - 61  # still inside its lifetime less the margin
    get_gateway("portone").fetch_status(invoice)
    assert len(router.requests_to(r"/api/merchant/auth-token$")) == 1
    clock[0] += 2  # within a minute of expiry: a new one
    get_gateway("portone").fetch_status(invoice)
    assert len(router.requests_to(r"/api/merchant/auth-token$")) == 2


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


def test_an_unknown_auth_token_mode_is_a_configuration_error() -> None:
    gateway = PortOneGateway("x", {"client_key": "k", "secret_key": "s", "auth_token": "jwt"})
    with pytest.raises(GatewayConfigurationError, match="auth_token"):
        gateway.headers()
    with pytest.raises(GatewayConfigurationError, match="auth_token"):
        gateway.check_options()


# -- PortOne's own signature ("Generate signature hash") --------------------------------------


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


def test_payments_are_notified_where_the_webhook_is_registered(
    router: EmulatorRouter, order: Order
) -> None:
    gateway = get_gateway("portone")
    gateway.create_webhook(
        name="audit",
        url="http://testserver/payments/notify/portone/?via=hook",
        type="payment_status",
    )
    invoice, _action = payments.begin_payment(order, "portone")
    router.client.post(f"/sandbox/portone/pay/{invoice.gateway_id}", {"outcome": "success"})
    (delivered,) = router.requests_to(r"/payments/notify/portone/$", "POST")
    assert delivered.url.endswith("?via=hook")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


# -- PSP credentials ----------------------------------------------------------------------------


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


def test_cod_status_update_changes_our_books_only_through_a_status_read(
    router: EmulatorRouter, order: Order, monkeypatch: Any
) -> None:
    invoice, _action = payments.begin_payment(order, "portone")
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


def test_cod_status_update_is_refused_when_it_cannot_apply(
    router: EmulatorRouter, order: Order
) -> None:
    gateway = get_gateway("portone")
    invoice, _action = payments.begin_payment(order, "portone")
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


def test_the_emulator_refuses_a_cod_update_signed_otherwise(
    router: EmulatorRouter, order: Order
) -> None:
    invoice, _action = payments.begin_payment(order, "portone")
    gateway = get_gateway("portone")
    body = {"status": "Success", "merchant_order_ref": str(invoice.pk), "signature": "AAAA"}
    answer = router.client.put(
        "/sandbox/portone/api/transaction/status",
        json.dumps(body),
        content_type="application/json",
        headers=gateway.headers(),
    )
    assert answer.status_code == 401
    assert answer.json()["status_code"] == "4011"


def test_update_transaction_details_on_the_wire(router: EmulatorRouter, order: Order) -> None:
    invoice, _action = payments.begin_payment(order, "portone")
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
    router: EmulatorRouter, order: Order, fields: dict[str, Any], named: str
) -> None:
    invoice, _action = payments.begin_payment(order, "portone")
    calls = len(router.calls)
    with pytest.raises(InvalidRequest) as caught:
        get_gateway("portone").update_transaction_details(invoice, **fields)
    assert set(caught.value.fields) == {named}
    assert len(router.calls) == calls


def test_details_of_a_link_are_refused(router: EmulatorRouter, order: Order) -> None:
    link, _action = payments.begin_payment(order, "portone-link")
    with pytest.raises(UnsupportedOperation):
        get_gateway("portone-link").update_transaction_details(link, description="x")
    assert Invoice.objects.get(pk=link.pk).status == InvoiceStatus.PENDING
