"""The PortPos emulator is as strict as the document: authorization, limits, refunds."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from unittest import mock

import pytest
from django.test import Client

from django_multipay import payments
from django_multipay.exceptions import GatewayAPIError
from django_multipay.gateways import portpos as backend
from django_multipay.gateways import portwallet_common
from django_multipay.gateways.portpos import authorization
from django_multipay.models import Invoice
from django_multipay.sandbox import portpos as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

BASE = "/sandbox/portpos/"
APP_KEY = "portpos-app-key-one"
SECRET = "portpos-secret-key-one"


def auth(app_key: str = APP_KEY, secret: str = SECRET, offset: int = 0) -> dict[str, str]:
    # "Create Invoice", Authentication: Bearer base64(APPKEY:md5(SECRETKEYTIMESTAMP)).
    stamp = emulator.unix_time() + offset
    digest = hashlib.md5(f"{secret}{stamp}".encode()).hexdigest()
    return {"Authorization": "Bearer " + base64.b64encode(f"{app_key}:{digest}".encode()).decode()}


def body(**order) -> dict:
    customer = {
        "name": "Robbie Amell",
        "email": "robbie@example.com",
        "phone": "01711000000",
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
            "amount": "500.00",
            "currency": "BDT",
            "redirect_url": "http://testserver/back/",
            "reference": "R-1",
            **order,
        },
        "product": {"name": "Polo T-shirt", "description": "A polo T-shirt"},
        "billing": {"customer": customer},
        "shipping": {"customer": customer},
    }


@pytest.fixture
def client(db):
    store.reset()
    yield Client()
    store.reset()


def create(client: Client, data: dict | None = None, headers: dict | None = None):
    return client.post(
        BASE + "invoice",
        data=json.dumps(data or body()),
        content_type="application/json",
        headers=auth() if headers is None else headers,
    )


def paid_invoice(client: Client) -> str:
    invoice_id = create(client).json()["data"]["invoice_id"]
    response = client.post(f"{BASE}payment/?invoice={invoice_id}", {"outcome": "pay"})
    assert response.status_code == 302
    assert response["Location"] == "http://testserver/back/"
    return invoice_id


def refund(client: Client, invoice_id: str, amount: str, currency: str = "BDT"):
    return client.post(
        f"{BASE}invoice/refund/{invoice_id}",
        data=json.dumps({"refund": {"amount": amount, "currency": currency}}),
        content_type="application/json",
        headers=auth(),
    )


def test_create_answers_201_with_the_payment_page(client) -> None:
    response = create(client)
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["order"]["status"] == "PENDING"
    assert data["action"] == {
        "type": "redirect",
        "url": f"http://testserver{BASE}payment/?invoice={data['invoice_id']}",
        "payload": None,
        "method": "GET",
    }


def upper_case_token() -> dict[str, str]:
    stamp = emulator.unix_time()
    digest = hashlib.md5(f"{SECRET}{stamp}".encode()).hexdigest().upper()
    return {"Authorization": "Bearer " + base64.b64encode(f"{APP_KEY}:{digest}".encode()).decode()}


WRONG = {
    "none": dict,
    "basic": lambda: {"Authorization": "Basic abc"},
    "garbage": lambda: {"Authorization": "Bearer !!!"},
    "secret": lambda: auth(secret="wrong-secret"),
    "app": lambda: auth(app_key="unknown-app"),
    "old": lambda: auth(offset=-301),
    "future": lambda: auth(offset=301),
    "upper": upper_case_token,
}


@pytest.mark.parametrize("wrong", list(WRONG))
def test_wrong_authorization_is_401(client, wrong) -> None:
    # The clock is held still so the token's age is exactly what it says.
    with mock.patch.object(emulator, "unix_time", return_value=1700000000):
        response = create(client, headers=WRONG[wrong]())
    assert response.status_code == 401
    assert response.json() == {
        "result": "error",
        "error": {
            "cause": "unauthorized",
            "explanation": "Invalid authorization token.",
            "property": "Authorization",
        },
    }


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_token_within_the_emulators_tolerance_is_taken(client, offset) -> None:
    with mock.patch.object(emulator, "unix_time", return_value=1700000000):
        assert create(client, headers=auth(offset=offset)).status_code == 201


def test_the_backends_authorization_is_taken(client) -> None:
    header = backend.authorization(APP_KEY, SECRET, emulator.unix_time())
    assert create(client, headers={"Authorization": header}).status_code == 201


#: "Create Invoice": every field the document marks COMPULSORY, written out from its table.
COMPULSORY = [
    "order.amount",
    "order.currency",
    "order.redirect_url",
    "product.name",
    "product.description",
    *(
        f"{part}.customer.{name}"
        for part in ("billing", "shipping")
        for name in (
            "name",
            "email",
            "phone",
            "address.street",
            "address.city",
            "address.state",
            "address.zipcode",
            "address.country",
        )
    ),
]


def without(data: dict, dotted: str) -> dict:
    data = json.loads(json.dumps(data))
    *parents, last = dotted.split(".")
    target = data
    for part in parents:
        target = target[part]
    del target[last]
    return data


@pytest.mark.parametrize("field", COMPULSORY)
def test_every_compulsory_field_is_required_by_the_emulator(client, field) -> None:
    response = create(client, without(body(), field))
    assert response.status_code == 400
    assert response.json()["error"] == {
        "cause": "validation_error",
        "explanation": f"{field} is compulsory.",
        "property": field,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # "Create Invoice": each field's JSON type, minimum and maximum length as given.
        ("order.amount", "0.09"),
        ("order.amount", "100000000"),
        ("order.amount", 500),
        ("order.amount", "5e2"),
        ("order.currency", "BDTT"),
        ("order.currency", "bdt"),
        ("order.redirect_url", "http://x"),
        ("order.redirect_url", "ftp://example.com/back"),
        ("order.ipn_url", "http://example.com/" + "x" * 182),
        ("order.reference", "R" * 101),
        ("order.validity", 59),
        ("order.validity", 31536001),
        ("order.validity", "600"),
        ("product.name", "ab"),
        ("product.description", "d" * 301),
        ("billing.customer.name", "R"),
        ("billing.customer.email", "not-an-email"),
        ("billing.customer.phone", "0171-100000"),
        ("billing.customer.phone", "01711"),
        ("shipping.customer.address.zipcode", "123456789"),
        ("shipping.customer.address.country", "Bangladesh"),
        ("shipping.customer.address.country", "XX"),
    ],
)
def test_fields_out_of_the_documents_limits_are_refused(client, field, value) -> None:
    data = json.loads(json.dumps(body()))  # billing and shipping apart
    *parents, last = field.split(".")
    target = data
    for part in parents:
        target = target[part]
    target[last] = value
    response = create(client, data)
    assert response.status_code == 400
    assert response.json()["error"]["property"] == field


def test_the_documents_limits_themselves_are_taken(client) -> None:
    data = json.loads(json.dumps(body(amount="0.1", validity=60, ipn_url="http://x.bd/i")))
    data["billing"]["customer"]["address"]["country"] = "BGD"
    data["shipping"]["customer"]["phone"] = "+8801711000000"
    data["customs"] = [{f"k{i}": "v"} for i in range(10)]
    assert create(client, data).status_code == 201
    data["customs"].append({"k10": "v"})
    assert create(client, data).json()["error"]["property"] == "customs"


def test_an_invoice_the_backend_did_not_check_is_refused_by_the_emulator(
    router, monkeypatch
) -> None:
    # The backend's own check switched off, and its body missing a compulsory field: the
    # emulator refuses it from its own reading of the document.
    monkeypatch.setattr(backend, "request_errors", lambda body: {})
    build = backend.PortPosGateway.invoice_request

    def missing_zipcode(self, invoice, urls):
        return without(build(self, invoice, urls), "billing.customer.address.zipcode")

    monkeypatch.setattr(backend.PortPosGateway, "invoice_request", missing_zipcode)
    order = OrderFactory(currency="BDT")
    with pytest.raises(GatewayAPIError) as caught:
        payments.start_payment(order, "portpos")
    assert "billing.customer.address.zipcode" in caught.value.message
    assert caught.value.http_status == 400
    assert Invoice.objects.get(order=order).status == InvoiceStatus.FAILED


def test_missing_or_out_of_limit_field_is_400_naming_it(client) -> None:
    data = body()
    del data["billing"]["customer"]["address"]["zipcode"]
    response = create(client, data)
    assert response.status_code == 400
    assert response.json()["error"]["property"] == "billing.customer.address.zipcode"
    response = create(client, body(validity=59))
    assert response.status_code == 400
    assert response.json()["error"]["property"] == "order.validity"
    response = client.post(
        BASE + "invoice", data="{", content_type="application/json", headers=auth()
    )
    assert response.status_code == 400


def test_ipn_validate_and_get_tell_the_truth(client) -> None:
    invoice_id = paid_invoice(client)
    got = client.get(f"{BASE}invoice/{invoice_id}", headers=auth()).json()["data"]
    assert got["order"]["status"] == "ACCEPTED"
    assert [t["type"] for t in got["transactions"]] == ["purchase", "fee"]
    assert got["transactions"][1]["amount"] == "-15.00"
    validated = client.get(f"{BASE}invoice/ipn/{invoice_id}/500", headers=auth())
    assert validated.status_code == 200
    assert validated.json()["data"] == got
    wrong = client.get(f"{BASE}invoice/ipn/{invoice_id}/499.99", headers=auth())
    assert wrong.status_code == 400
    assert wrong.json()["error"]["property"] == "amount"


def test_another_accounts_invoice_is_404(client, settings) -> None:
    invoice_id = create(client).json()["data"]["invoice_id"]
    config = json.loads(json.dumps(settings.MULTIPAY))
    config["GATEWAYS"]["portpos-two"] = {
        "BACKEND": "django_multipay.gateways.portpos.PortPosGateway",
        "OPTIONS": {"app_key": "second-app", "secret_key": "second-secret"},
    }
    settings.MULTIPAY = config
    response = client.get(
        f"{BASE}invoice/{invoice_id}", headers=auth("second-app", "second-secret")
    )
    assert response.status_code == 404


def test_refunds_never_above_what_is_left_nor_past_the_fifth(client) -> None:
    emulator.set_refund_lines(True)
    invoice_id = paid_invoice(client)
    assert refund(client, invoice_id, "500.01").json()["error"]["cause"] == "refund_amount"
    assert refund(client, invoice_id, "10.00", "USD").status_code == 400
    assert refund(client, invoice_id, "0.09").status_code == 400
    assert refund(client, invoice_id, "10").status_code == 202
    for _ in range(4):
        answer = refund(client, invoice_id, "10.00")
        assert answer.status_code == 202
        assert answer.json()["result"] == "SUCCESS"
    sixth = refund(client, invoice_id, "10.00")
    assert sixth.status_code == 400
    assert sixth.json()["error"]["cause"] == "refund_limit"
    got = client.get(f"{BASE}invoice/{invoice_id}", headers=auth()).json()["data"]
    assert got["order"]["status"] == "PARTIALLY_REFUNDED"
    assert [t["amount"] for t in got["transactions"] if t["type"] == "refund"] == ["-10.00"] * 5


def test_invoices_show_only_purchase_and_fee_lines_by_default(client) -> None:
    # Retrieving an invoice: the document's lines are of type purchase and fee only.
    invoice_id = paid_invoice(client)
    assert refund(client, invoice_id, "10").status_code == 202
    got = client.get(f"{BASE}invoice/{invoice_id}", headers=auth()).json()["data"]
    assert got["order"]["status"] == "PARTIALLY_REFUNDED"
    assert {t["type"] for t in got["transactions"]} == {"purchase", "fee"}


def test_refund_of_an_unpaid_invoice_is_refused(client) -> None:
    invoice_id = create(client).json()["data"]["invoice_id"]
    answer = refund(client, invoice_id, "10.00")
    assert answer.status_code == 400
    assert answer.json()["error"]["cause"] == "not_allowed"


def test_pending_refunds_wait_until_settled(client) -> None:
    invoice_id = paid_invoice(client)
    emulator.set_refund_mode("pending")
    answer = refund(client, invoice_id, "500.00").json()["data"]
    assert answer["order"]["status"] == "REFUND_PENDING"
    assert answer["refund"] == {"amount": "500.00", "status": "APPROVED"}
    assert refund(client, invoice_id, "0.10").json()["error"]["cause"] == "refund_amount"
    assert emulator.settle_refunds(invoice_id, notify=False) == 1
    got = client.get(f"{BASE}invoice/{invoice_id}", headers=auth()).json()["data"]
    assert got["order"]["status"] == "REFUNDED"


def test_hosted_page_refuses_a_second_choice(client) -> None:
    invoice_id = paid_invoice(client)
    again = client.post(f"{BASE}payment/?invoice={invoice_id}", {"outcome": "decline"})
    assert again.status_code == 409
    assert client.get(f"{BASE}payment/?invoice=NOPE").status_code == 404
    assert client.post(f"{BASE}payment/?invoice={invoice_id}", {"outcome": "x"}).status_code == 400


# ------------------------------------------------------------------------------------------------
# PortPos discount and EMI chosen per payment: checked, kept, sent over the alias's own.


# -- the emulator states the document's rules itself ----------------------------------------------


def create_with_offers(client: Any, **parts: Any) -> Any:
    customer = {
        "name": "Robbie Amell",
        "email": "robbie@example.com",
        "phone": "01711000000",
        "address": {
            "street": "House 1",
            "city": "Dhaka",
            "state": "Dhaka",
            "zipcode": "1212",
            "country": "BD",
        },
    }
    body = {
        "order": {
            "amount": "500.00",
            "currency": "BDT",
            "redirect_url": "http://testserver/back/",
            "reference": "R-1",
        },
        "product": {"name": "Polo T-shirt", "description": "A polo T-shirt"},
        "billing": {"customer": customer},
        "shipping": {"customer": customer},
        **parts,
    }
    stamp = portwallet_common.unix_time()
    return client.post(
        "/sandbox/portpos/invoice",
        body,
        content_type="application/json",
        headers={
            "Authorization": authorization("portpos-app-key-one", "portpos-secret-key-one", stamp)
        },
    )


@pytest.mark.parametrize(
    ("parts", "prop"),
    [
        ({"discount": {"enable": True}}, "discount.enable"),
        ({"discount": {"enable": 2}}, "discount.enable"),
        ({"discount": {"codes": ["A"]}}, "discount.enable"),
        ({"discount": {"enable": 1, "codes": ["c"] * 11}}, "discount.codes"),
        ({"discount": {"enable": 1, "codes": ["x" * 101]}}, "discount.codes"),
        ({"discount": {"enable": 1, "codes": [""]}}, "discount.codes"),
        ({"discount": "yes"}, "discount"),
        ({"emi": {"enable": 1, "tenures": [61]}}, "emi.tenures"),
        ({"emi": {"enable": 1, "tenures": ["6"]}}, "emi.tenures"),
        ({"emi": {"enable": 1, "tenures": list(range(11))}}, "emi.tenures"),
        ({"emi": {"enable": False}}, "emi.enable"),
    ],
)
def test_emulator_refuses_offers_the_document_does_not_allow(
    router: EmulatorRouter, parts: dict[str, Any], prop: str
) -> None:
    # Posted to the emulator itself: its own rules, never the backend's request check.
    response = create_with_offers(router.client, **parts)
    assert response.status_code == 400
    assert response.json()["error"]["property"] == prop


def test_emulator_takes_the_documents_offers(router: EmulatorRouter) -> None:
    response = create_with_offers(
        router.client,
        discount={"enable": 1, "codes": ["Bengal 1", "Bengal 2"]},
        emi={"enable": 1, "tenures": [0, 3, 60]},
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["order"]["has_discount"], data["order"]["has_emi"]) == (1, 1)
    assert data["order"]["type"] == "emi_purchase"
    assert {"discount_code": "Bengal 1,Bengal 2"} in data["customs"]
