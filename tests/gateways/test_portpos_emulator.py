"""The PortPos emulator is as strict as the document: authorization, limits, refunds."""

from __future__ import annotations

import base64
import hashlib
import json
from unittest import mock

import pytest
from django.test import Client

from django_multipay.gateways import portwallet_common
from django_multipay.gateways.portpos import authorization
from django_multipay.sandbox import portpos as emulator
from django_multipay.sandbox.store import store

BASE = "/sandbox/portpos/"
APP_KEY = "portpos-app-key-one"
SECRET = "portpos-secret-key-one"


def auth(app_key: str = APP_KEY, secret: str = SECRET, offset: int = 0) -> dict[str, str]:
    return {"Authorization": authorization(app_key, secret, portwallet_common.unix_time() + offset)}


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
    stamp = portwallet_common.unix_time()
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
    with mock.patch.object(portwallet_common, "unix_time", return_value=1700000000):
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
