"""The PortOne emulator states its own rules from PortOne's OpenAPI documents, and refuses
what they do not allow."""

from __future__ import annotations

import ast
import inspect
import json
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import jwt
import pytest
from django.utils import timezone

from django_multipay import payments
from django_multipay.gateways.portone import (
    PortOneGateway,
)
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.test_portone import KEY, SECRET

BASE = "/sandbox/portone/"


def post(
    router: EmulatorRouter, path: str, body: Any, headers: dict[str, str], method: str = "post"
) -> Any:
    return getattr(router.client, method)(
        BASE + path, json.dumps(body), content_type="application/json", headers=headers
    )


def signed() -> dict[str, str]:
    return get_gateway("portone").headers()


def payment(**changes: Any) -> dict[str, Any]:
    body = {
        "key": KEY,
        "merchant_order_id": "m-1",
        "pmt_channel": "STRIPE",
        "pmt_method": "STRIPE_CARD",
        "description": "d",
        "environment": "sandbox",
        "amount": 10,
        "currency": "EUR",
        "success_url": "http://s/",
        "failure_url": "http://f/",
    }
    body["signature_hash"] = emulator.signature(
        SECRET,
        {**body, "client_key": KEY, "amount": "10"},
        emulator.REQUEST_SIGNED,
    )
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def test_the_emulator_imports_nothing_of_the_backend() -> None:
    """It checks signatures, tokens and bodies and writes its numbers with its own code; it
    names the backend whose aliases are its accounts only by dotted path (the import-linter
    contract "sandbox-independent-of-gateways" holds the whole sandbox to the same)."""
    tree = ast.parse(inspect.getsource(emulator))
    taken = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("django_multipay.gateways")
    }
    assert taken == set()
    assert "portone_signing" not in inspect.getsource(emulator)
    assert emulator.BACKEND == "django_multipay.gateways.portone.PortOneGateway"


def test_its_amounts_are_bare_json_numbers_with_the_currencys_decimals() -> None:
    # payment-openapi: every amount is "type: number, format: double"; its examples write
    # 111.12 and 100000. The emulator writes them exactly, never through a float.
    body = {"amount": emulator._number(Decimal("111.12"), "THB"), "currency": "THB"}
    assert emulator.dumps(body) == '{"amount":111.12,"currency":"THB"}'
    assert emulator.dumps([emulator._number(Decimal(100000), "VND")]) == "[100000]"
    read = json.loads(emulator.dumps(emulator._numbers({"a": Decimal("0.10")})), parse_float=str)
    assert read == {"a": "0.10"}


def test_its_signer_gives_the_independently_computed_vector() -> None:
    # payment-openapi "Generate signature hash" example, signed with the "Create JWT Token"
    # example's secret; the value computed with openssl (as in test_portone_wire.py).
    values = {
        "amount": "111.12",
        "client_key": "sjcrvcbVYkFobHlx",
        "currency": "THB",
        "merchant_order_id": "e203767a-ae29-42dc-820f-61cbde24966e",
        "success_url": "https://yourwebsite.com/success",
        "failure_url": "https://yourwebsite.com/failure",
    }
    secret = "6cd264c70ec38d41a5dc2662e98c72bac58d3afc5bb4e80debbe3a976a0dc4eb"
    assert (
        emulator.signature(secret, values, emulator.REQUEST_SIGNED)
        == "rupGgiRzV+47yaKYzuR2cGKKe2S26LVxJB+B8W2V0SI="
    )
    assert emulator.trimmed(Decimal("100.50")) == "100.5"
    assert emulator.trimmed(Decimal("100.00")) == "100"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (payment(description=...), "description is a required field"),
        (payment(amount="10"), "amount must be number"),
        (payment(environment="prod"), "environment must be one of live, sandbox"),
        (payment(transaction_type="SALE"), "transaction_type must be one of PREAUTH, PURCHASE"),
        (payment(colour="red"), "colour is not a field of this request"),
        (payment(routing_enabled="yes"), "routing_enabled must be boolean"),
        (payment(billing_details={"billing_name": 7}), "billing_details.billing_name must be"),
        (payment(order_details=[{"id": "a", "quantity": "1"}]), "order_details[0].quantity"),
        (payment(token_params={"token": "t", "cvv": "123"}), "token_params.cvv is not a field"),
        (payment(routing_params={"type": "failover"}), "routing_enabled is true"),
        (payment(user_configured_field1=5), "user_configured_field1 must be string"),
    ],
)
def test_initiate_payment_bodies_are_checked(
    router: EmulatorRouter, db: Any, body: dict[str, Any], says: str
) -> None:
    answer = post(router, "api/initiatePayment", body, get_gateway("portone").headers(token=False))
    assert answer.status_code == 400
    assert answer.json()["status_code"] == "4001"
    assert says in answer.json()["message"]


def test_a_payment_link_needs_the_merchant_details_the_document_requires(
    router: EmulatorRouter, db: Any
) -> None:
    body = {
        "portone_key": KEY,
        "merchant_details": {"name": "Shop"},
        "merchant_order_id": "m-2",
        "amount": 10,
        "currency": "EUR",
        "country_code": "SG",
        "signature_hash": "x",
        "success_url": "http://s/",
        "failure_url": "http://f/",
        "source": "api",
        "environment": "sandbox",
    }
    answer = post(router, "api/paymentLink", body, signed())
    assert answer.json()["status_code"] == "4001"
    assert "merchant_details.promo_discount is a required field" in answer.json()["message"]
    full = {"name": "Shop", "promo_discount": 0, "shipping_charges": 0}
    answer = post(
        router, "api/paymentLink", {**body, "merchant_details": full, "source": "email"}, signed()
    )
    assert "source must be one of default, api, checkout" in answer.json()["message"]


def test_auth_token_gives_a_token_the_other_calls_take(router: EmulatorRouter, db: Any) -> None:
    answer = post(
        router,
        "api/merchant/auth-token",
        {"portone_key": KEY, "portone_secret": SECRET},
        {},
    )
    assert answer.status_code == 200
    content = answer.json()["content"]
    assert content["expires_in"] == 21600
    claims = jwt.decode(content["token"], SECRET, algorithms=["HS256"])
    assert (claims["iss"], claims["sub"], claims["exp"] - claims["iat"]) == ("PORTONE", KEY, 21600)
    headers = {"X-Portone-Client-Key": KEY, "Authorization": f"Bearer {content['token']}"}
    listed = router.client.get(
        BASE + f"api/merchant/{KEY}/webhook?environment=sandbox", headers=headers
    )
    assert listed.status_code == 200
    for wrong, code in (
        ({"portone_key": KEY, "portone_secret": "nope"}, "4016"),
        ({"portone_key": "nobody", "portone_secret": SECRET}, "4016"),
        ({"portone_key": KEY}, "4001"),
    ):
        refused = post(router, "api/merchant/auth-token", wrong, {})
        assert refused.status_code == 400
        assert refused.json()["status_code"] == code
        assert SECRET not in refused.content.decode()


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "CHAIPAY", "sub": KEY},
        {"iss": "PORTONE", "sub": "portone-client-key-two"},
        {"iss": "PORTONE", "sub": KEY, "exp": 1},
        {"iss": "PORTONE", "sub": KEY, "exp": None},
    ],
)
def test_tokens_it_refuses(router: EmulatorRouter, db: Any, claims: dict[str, Any]) -> None:
    now = int(time.time())
    payload = {"iat": now, "exp": now + 100, **claims}
    token = jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, SECRET, algorithm="HS256"
    )
    answer = router.client.get(
        BASE + f"api/merchant/{KEY}/webhook?environment=sandbox",
        headers={"X-Portone-Client-Key": KEY, "Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 401
    assert answer.json()["status_code"] == "4054"


def test_generate_signature_needs_every_field(router: EmulatorRouter, db: Any) -> None:
    body = {
        "portone_key": KEY,
        "currency": "THB",
        "amount": 111.12,
        "merchant_order_id": "x",
        "success_url": "https://s/",
    }
    answer = post(router, "api/merchant/generate-signature", body, signed())
    assert "failure_url is a required field" in answer.json()["message"]
    other = post(
        router,
        "api/merchant/generate-signature",
        {**body, "failure_url": "https://f/", "portone_key": "someone"},
        signed(),
    )
    assert other.json()["status_code"] == "4016"


def test_webhook_endpoint_rules(router: EmulatorRouter, db: Any) -> None:
    path = f"api/merchant/{KEY}/webhook"
    hook = {
        "name": "a",
        "url": "https://shop/hook",
        "type": "payment_status",
        "environment": "live",
    }
    assert post(router, path, hook, signed()).status_code == 200
    assert post(router, path, {**hook, "type": "order"}, signed()).json()["status_code"] == "4001"
    assert (
        post(router, path, {**hook, "url": "https://other/"}, signed()).json()["status_code"]
        == "4002"
    )
    assert post(router, path, {**hook, "name": "b"}, signed()).json()["status_code"] == "4002"
    assert (
        post(router, path, {**hook, "name": "c", "type": "refund_status"}, signed()).status_code
        == 200
    )
    assert router.client.get(BASE + path, headers=signed()).json()["status_code"] == "4001"
    live = router.client.get(BASE + path + "?environment=live", headers=signed()).json()
    assert [h["type"] for h in live["content"]] == ["payment_status", "refund_status"]
    assert (
        router.client.get(BASE + path + "?environment=sandbox", headers=signed()).json()["content"]
        == []
    )
    foreign = post(router, "api/merchant/another-key/webhook", hook, signed())
    assert foreign.json()["status_code"] == "4010"


def test_psp_credentials_rules(router: EmulatorRouter, db: Any) -> None:
    path = f"api/merchant/{KEY}/add-pay-channel/MOMOPAY"
    creds = {
        "creds": {"accessKey": "TestKey", "secretKey": "Abcdefgh123"},
        "country": "VN",
        "environment": "sandbox",
    }
    answer = post(router, path, creds, signed())
    assert answer.json()["content"]["maskedData"] == {
        "accessKey": "****Key",
        "secretKey": "********123",
    }
    assert post(router, path, creds, signed()).json()["status_code"] == "4002"
    missing = post(router, f"api/merchant/{KEY}/add-pay-channel/OMISE", creds, signed(), "put")
    assert missing.json()["status_code"] == "4046"
    assert post(router, path, {**creds, "creds": "x"}, signed()).json()["status_code"] == "4001"
    read = BASE + f"api/merchant/{KEY}/pay-channel/MOMOPAY"
    assert (
        router.client.get(read + "?environment=sandbox", headers=signed()).json()["status_code"]
        == "4001"
    )
    shown = router.client.get(read + "?environment=sandbox&payType=PAYIN", headers=signed()).json()
    assert shown["content"][0]["creds"] == {"accessKey": "****Key", "secretKey": "********123"}
    assert "Abcdefgh123" not in json.dumps(shown)


# ------------------------------------------------------------------------------------------------
# PortOne's merchant calls: remote tokens, signatures, webhooks, PSP credentials, COD status.


@pytest.mark.usefixtures("portone_fresh_tokens")
def test_the_emulator_refuses_a_cod_update_signed_otherwise(
    router: EmulatorRouter, portone_order: Order
) -> None:
    invoice, _action = payments.begin_payment(portone_order, "portone")
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


# ------------------------------------------------------------------------------------------------
# PortOne payment links: updating one, and reading one by our own reference.


def test_the_emulator_expires_a_link_past_its_expiry_date(
    router: EmulatorRouter, portone_shipped_order: Order
) -> None:
    invoice, _action = payments.begin_payment(
        portone_shipped_order,
        "portone-link",
        options={"expiry_date": (timezone.now() + timedelta(hours=1)).isoformat()},
    )
    (created,) = router.requests_to(r"/api/paymentLink$", "POST")
    assert json.loads(created.body)["expiry_date"].endswith(".000Z") or json.loads(created.body)[
        "expiry_date"
    ].endswith("Z")
    with store.table(emulator.LINKS) as table:
        table[invoice.gateway_id]["expiry_date"] = "2001-01-01T00:00:00.000Z"
    assert get_gateway("portone-link").fetch_status(invoice).status == InvoiceStatus.EXPIRED


# ------------------------------------------------------------------------------------------------
# PortOne: many invoices' statuses from "Fetch Merchant Transactions" (``fetch_statuses``).


def test_emulator_listing_refuses_what_the_document_does_not_allow(
    router: EmulatorRouter, db: Any
) -> None:
    headers = get_gateway("portone").headers()
    url = f"/sandbox/portone/api/merchant/{KEY}/fetch-all-payments"
    body = {"page": 1, "size": 10, "from": "2022-12-11T09:05:35.803Z", "to": "2099-01-01T00:00:00Z"}
    for wrong, code in (
        ({**body}, "4001"),  # environment missing
        ({**body, "environment": "prod"}, "4001"),
        ({**body, "environment": "sandbox", "page": "1"}, "4001"),
        ({**body, "environment": "sandbox", "size": 0}, "4001"),
    ):
        answer = router.client.post(
            url, json.dumps(wrong), content_type="application/json", headers=headers
        )
        assert answer.status_code == 400
        assert answer.json()["status_code"] == code
    other = router.client.post(
        "/sandbox/portone/api/merchant/someone-else/fetch-all-payments",
        json.dumps({**body, "environment": "sandbox"}),
        content_type="application/json",
        headers=headers,
    )
    assert other.json()["status_code"] == "4016"
    unsigned = router.client.post(
        url,
        json.dumps({**body, "environment": "sandbox"}),
        content_type="application/json",
        headers={"X-Portone-Client-Key": KEY},
    )
    assert unsigned.status_code == 401
    assert unsigned.json()["status_code"] == "4054"


# ------------------------------------------------------------------------------------------------
# PortOne on the wire: each call's method, path, headers and body, and each error's mapping;
# tokens and request signatures against PortOne's documents; the merchant calls, payment links,
# the transactions listing, per-payment options and names in any script.


# -- the emulator is strict ----------------------------------------------------------------------


def test_emulator_refuses_bad_credentials(
    router: EmulatorRouter, portone_order_with_items: Order
) -> None:
    payments.start_payment(portone_order_with_items, "portone")
    invoice = Invoice.objects.get(order=portone_order_with_items)
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


def test_emulator_refuses_a_wrong_request_signature(
    router: EmulatorRouter, portone_order_with_items: Order
) -> None:
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
