"""The Postpay emulator holds checkouts to "Create a checkout" by its own reading of the
document (postpay.txt), never by the backend's tables: each required field (❗️) is written
out here from the document's tables, and the emulator refuses its absence even when the
backend's own check is switched off; and it is strict on credentials, bodies, refunds and
paging."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from django.test import Client

from django_multipay import payments
from django_multipay.exceptions import GatewayAPIError
from django_multipay.gateways import postpay as backend
from django_multipay.gateways.postpay import MEDIA_TYPE
from django_multipay.models import Invoice
from django_multipay.sandbox import postpay as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus
from tests.gateways.test_postpay_wire import (
    BASIC,
    api_headers,
    checkout_body,
    paid,
    sample_order,
)

ADDRESS = {
    "first_name": "John",
    "last_name": "Doe",
    "phone": "+971 50 199 8853",
    "alt_phone": "800 239",
    "line1": "The Gate District, DIFC",
    "line2": "Level 4, Precinct Building 5",
    "city": "Dubai",
    "state": "Dubai",
    "country": "AE",
    "postal_code": "00000",
}


def sample() -> dict[str, Any]:
    """The document's "Create a checkout" request, as it gives it."""
    return {
        "order_id": "order-01",
        "total_amount": 81480,
        "tax_amount": 3880,
        "currency": "AED",
        "shipping": {
            "id": "shipping-01",
            "name": "Express Delivery",
            "amount": 2000,
            "address": dict(ADDRESS),
        },
        "billing_address": dict(ADDRESS),
        "customer": {
            "id": "customer-01",
            "email": "john@postpay.io",
            "first_name": "John",
            "last_name": "Doe",
            "gender": "male",
            "account": "guest",
            "date_of_birth": "1990-01-20",
            "date_joined": "2019-08-26T09:28:14.790Z",
            "default_address": dict(ADDRESS),
        },
        "items": [
            {
                "reference": "sku-01",
                "name": "Wild Flower Eau de Parfum (50ml)",
                "description": "It\u2019s a windswept bouquet with a spring awakening.",
                "url": "https://www.example.ae/wild-flower.html",
                "image_url": "https://www.example.ae/wild-flower.jpg",
                "unit_price": 84000,
                "qty": 1,
            }
        ],
        "discounts": [
            {"code": "return-10", "name": "Returning customer 10% discount", "amount": 8400}
        ],
        "merchant": {
            "confirmation_url": "https://www.example.ae/success",
            "cancel_url": "https://www.example.ae/cancel",
        },
    }


#: Every field marked ❗️ in "Create a checkout" and its "⚬ Address", "⚬ Shipping",
#: "⚬ Customer", "⚬ Item", "⚬ Discount" and "⚬ Merchant" tables.
REQUIRED = [
    "order_id",
    "total_amount",
    "tax_amount",
    "currency",
    "shipping",
    "customer",
    "items",
    "shipping.name",
    "shipping.amount",
    "shipping.address",
    *(
        f"{where}.{name}"
        for where in ("shipping.address", "billing_address", "customer.default_address")
        for name in ("first_name", "last_name", "line1", "city", "country", "postal_code")
    ),
    "customer.email",
    *(f"items[0].{name}" for name in ("reference", "name", "url", "unit_price", "qty")),
    "discounts[0].code",
    "discounts[0].amount",
    "merchant.confirmation_url",
    "merchant.cancel_url",
]

#: Fields the same tables leave unmarked: a checkout without them is taken.
OPTIONAL = [
    "num_instalments",
    "billing_address",
    "discounts",
    "metadata",
    "shipping.id",
    *(f"shipping.address.{name}" for name in ("phone", "alt_phone", "line2", "state")),
    *(
        f"customer.{name}"
        for name in (
            "id",
            "first_name",
            "last_name",
            "gender",
            "account",
            "date_of_birth",
            "date_joined",
            "default_address",
        )
    ),
    "items[0].description",
    "items[0].image_url",
    "discounts[0].name",
]


def without(body: dict[str, Any], dotted: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = dotted.replace("[0]", ".0").split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target.pop(last, None)
    return body


def post(body: dict[str, Any]) -> Any:
    return Client().post(
        "/sandbox/postpay/checkouts",
        data=json.dumps(body),
        content_type="application/json",
        headers=api_headers(),
    )


@pytest.fixture
def emulated(db):
    store.reset()
    yield
    store.reset()


def test_the_documents_sample_is_taken(emulated) -> None:
    response = post(sample())
    assert response.status_code == 200
    assert set(response.json()) == {"token", "expires", "redirect_url"}


@pytest.mark.parametrize("field", REQUIRED)
def test_every_required_field_is_required(emulated, field) -> None:
    response = post(without(sample(), field))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {field: ["This field is required."]}


@pytest.mark.parametrize("field", OPTIONAL)
def test_every_unmarked_field_may_be_left_out(emulated, field) -> None:
    assert post(without(sample(), field)).status_code == 200


def test_a_checkout_without_merchant_is_refused_for_the_emulators_own_want(emulated) -> None:
    # The document leaves "merchant" unmarked; the emulator has no merchant settings to fall
    # back on for the customer's way back, and says so.
    response = post(without(sample(), "merchant"))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"merchant": [emulator.MERCHANT_NEEDED]}


def test_a_checkout_the_backend_did_not_check_is_refused_by_the_emulator(
    router, monkeypatch
) -> None:
    # The backend's own check switched off, and its body missing the item's url (❗️ in
    # "⚬ Item"): the emulator refuses it from its own reading of the document.
    monkeypatch.setattr(backend.PostpayGateway, "check_required", lambda self, payload: None)
    build = backend.PostpayGateway.checkout_payload
    monkeypatch.setattr(
        backend.PostpayGateway,
        "checkout_payload",
        lambda self, invoice, urls: without(build(self, invoice, urls), "items[0].url"),
    )
    order = sample_order()
    with pytest.raises(GatewayAPIError) as caught:
        payments.start_payment(order, "postpay")
    assert caught.value.http_status == 400
    assert "items[0].url" in caught.value.message
    assert Invoice.objects.get(order=order).status == InvoiceStatus.FAILED


# ------------------------------------------------------------------------------------------------
# Postpay: every call on the wire against the API reference, errors, and the emulator's
# strictness.


def test_emulator_pages_at_most_fifty(router) -> None:
    response = Client().get("/sandbox/postpay/orders?page_size=500", headers=api_headers())
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


# -- emulator strictness ---------------------------------------------------------------------


def post_api(body: Any, **headers: str) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    content_type = headers.pop("content_type", "application/json")
    return Client().post(
        "/sandbox/postpay/checkouts", data=data, content_type=content_type, headers=headers
    )


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Accept": MEDIA_TYPE}, 401, "authentication_failed"),
        (
            {
                "Authorization": "Basic " + base64.b64encode(b"id:wrong").decode(),
                "Accept": MEDIA_TYPE,
            },
            401,
            "authentication_failed",
        ),
        ({"Authorization": BASIC}, 406, "not_acceptable"),
        ({"Authorization": BASIC, "Accept": "application/json"}, 406, "not_acceptable"),
        (
            {"Authorization": BASIC, "Accept": "application/vnd.postpay+json; version=v2"},
            406,
            "not_acceptable",
        ),
    ],
)
def test_emulator_checks_credentials_and_accept(db, headers, status, code) -> None:
    response = post_api(checkout_body(), **headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_emulator_checks_body_and_fields(db) -> None:
    assert post_api("{not json", **api_headers()).json()["error"]["code"] == "parse_error"
    wrong_type = post_api(b"order_id=1", content_type="text/plain", **api_headers())
    assert (wrong_type.status_code, wrong_type.json()["error"]["code"]) == (
        415,
        "unsupported_media_type",
    )
    body = checkout_body()
    body["total_amount"] = 10.5
    del body["customer"]["email"]
    body["items"][0]["qty"] = "1"
    answer = post_api(body, **api_headers())
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"total_amount", "customer.email", "items[0].qty"}
    assert post_api(checkout_body(), **api_headers()).status_code == 200
    again = post_api(checkout_body(), **api_headers())
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    get = Client().get("/sandbox/postpay/checkouts", headers=api_headers())
    assert (get.status_code, get.json()["error"]["code"]) == (405, "method_not_allowed")
    missing = Client().get("/sandbox/postpay/orders/nope", headers=api_headers())
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    store.reset()


def test_emulator_refund_conflict_and_limit(router) -> None:
    invoice = paid(router)
    url = f"/sandbox/postpay/orders/{invoice.pk}/refunds"
    client = Client()

    def refund(body: dict[str, Any]) -> Any:
        return client.post(url, json.dumps(body), "application/json", headers=api_headers())

    assert refund({"amount": 100}).json()["error"]["fields"] == {
        "refund_id": ["This field is required."]
    }
    assert refund({"refund_id": "a", "amount": 1.5}).json()["error"]["code"] == "invalid"
    assert refund({"refund_id": "a", "amount": 100}).status_code == 200
    assert refund({"refund_id": "a", "amount": 100}).json()["error"]["code"] == "conflict"
    over = refund({"refund_id": "b", "amount": 81480})
    assert (over.status_code, over.json()["error"]["code"]) == (409, "limit_exceeded")


def test_emulator_takes_alt_phone_as_a_string_only(db) -> None:
    body = checkout_body()
    body["shipping"]["address"]["alt_phone"] = 800239
    body["billing_address"] = {**body["shipping"]["address"], "alt_phone": ["800 239"]}
    answer = post_api(body, **api_headers())
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == {
        "shipping.address.alt_phone": ["Not a valid string."],
        "billing_address.alt_phone": ["Not a valid string."],
    }
    body["shipping"]["address"]["alt_phone"] = "800 239"
    del body["billing_address"]
    accepted = post_api(body, **api_headers())
    assert accepted.status_code == 200
    stored = Client().get("/sandbox/postpay/orders/strict-1", headers=api_headers()).json()
    assert stored["shipping"]["address"]["alt_phone"] == "800 239"
    store.reset()
