"""The PortWallet emulator is as strict as the document: credentials, fields, limits, refunds."""

from __future__ import annotations

import hashlib
import time
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from django_multipay.gateways import portwallet_common
from django_multipay.sandbox import portwallet as emulator
from django_multipay.sandbox.store import store
from tests.gateways.test_portwallet import FORM
from tests.gateways.test_portwallet_wire import APP_KEY, SECRET, form_value

API = "/sandbox/portwallet/"

pytestmark = pytest.mark.django_db


def md5_token(secret: str, timestamp: int) -> str:
    """Parameter ``token``: "the md5 of your secret key + timestamp you provided on second
    parameter" (Create Invoice), written out here from the document."""
    return hashlib.md5(f"{secret}{timestamp}".encode()).hexdigest()


@pytest.fixture(autouse=True)
def empty_emulator() -> Any:
    store.reset()
    yield
    store.reset()


def signed(call: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    now = int(time.time()) if timestamp is None else timestamp
    return {
        "app_key": APP_KEY,
        "timestamp": str(now),
        "token": md5_token(secret, now),
        "call": call,
    }


INVOICE = {
    "amount": "100.00",
    "currency": "BDT",
    "product_name": "1x Polo T-shirt",
    "product_description": "1x Polo T-shirt with shipping and handling",
    "name": "Robbie Amell",
    "email": "test@example.com",
    "phone": "+880123456789",
    "address": "House 1, Road1, Gulshan 1",
    "city": "Dhaka",
    "state": "Dhaka",
    "zipcode": "1212",
    "country": "BD",
    "redirect_url": "http://testserver/payments/return/x/",
}


def api(fields: dict[str, str]) -> dict[str, Any]:
    response = Client().post(API, fields)
    assert response.status_code == 200
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


def new_invoice(**override: str) -> str:
    answer = api({**signed("gen_invoice"), **INVOICE, **override})
    assert answer["status"] == 200, answer
    return str(answer["data"]["invoice_id"])


def test_gen_invoice_answers_like_the_sample() -> None:
    answer = api({**signed("gen_invoice"), **INVOICE, "amount": "100"})
    assert answer["status"] == 200
    data = answer["data"]
    assert data["amount"] == "100"
    assert set(data) >= {
        "id",
        "client_id",
        "currency",
        "ship_to_name",
        "ship_to_zipcode",
        "gateway_txn_id",
        "reason",
        "invoice_id",
    }
    assert len(data["invoice_id"]) == 16


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"token": "0" * 32}, 500, "Invalid app_key or token"),
        ({"app_key": "f" * 32}, 500, "Invalid app_key or token"),
        ({"app_key": "f" * 33}, 400, "at most 32 characters"),
        ({"timestamp": "12345678901"}, 400, "at most 10 digits"),
        ({"timestamp": "soon"}, 400, "at most 10 digits"),
        ({"call": "delete_everything"}, 400, {"call": "Unknown call delete_everything"}),
        ({"call": ""}, 400, {"call": "call is not set"}),
    ],
)
def test_wrong_credentials_and_parameters_are_refused(
    change: dict[str, str], status: int, message: Any
) -> None:
    answer = api({**signed("gen_invoice"), **INVOICE, **change})
    assert answer["status"] == status
    if isinstance(message, dict):
        assert answer["message"] == message
    else:
        assert message in answer["message"]


def test_stale_timestamp_is_refused() -> None:
    stale = int(time.time()) - emulator.TIMESTAMP_TOLERANCE - 5
    answer = api({**signed("gen_invoice", timestamp=stale), **INVOICE})
    assert answer == {"status": 400, "message": "timestamp is not current"}


def test_token_of_another_secret_is_refused() -> None:
    answer = api({**signed("gen_invoice", secret="guessed"), **INVOICE})
    assert answer["status"] == 500


def test_json_body_is_refused() -> None:
    response = Client().post(API, {**signed("get_invoice"), "invoice": "X"}, "application/json")
    assert response.json()["status"] == 400


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"amount": ""}, "amount", "amount is not set"),
        ({"amount": "9.99"}, "amount", "Minimum amount is 10.00"),
        ({"amount": "10.001"}, "amount", "amount must be a number with at most 2 decimals"),
        ({"amount": "100000000"}, "amount", "amount has at most 8 digits"),
        ({"currency": "EUR"}, "currency", "Only BDT acceptable."),
        (
            {"product_name": "x" * 151},
            "product_name",
            "product_name must be at most 150 characters",
        ),
        ({"name": "x" * 51}, "name", "name must be at most 50 characters"),
        ({"phone": "+880123456789012"}, "phone", "phone must be at most 15 characters"),
        ({"country": "Bangladesh"}, "country", "country must be at most 3 characters"),
        ({"country": "B1"}, "country", "country must be a 2 or 3 letter ISO code"),
        ({"email": "nobody"}, "email", "email is not a valid email address"),
        ({"redirect_url": ""}, "redirect_url", "redirect_url is not set"),
        ({"ipn_url": "http://x/" + "i" * 250}, "ipn_url", "ipn_url must be at most 250 characters"),
        ({"ship_to_zipcode": "123456789"}, "ship_to_zipcode", "must be at most 8 characters"),
    ],
)
def test_invalid_invoice_fields_are_named(change: dict[str, str], field: str, message: str) -> None:
    answer = api({**signed("gen_invoice"), **INVOICE, **change})
    assert answer["status"] == 400
    assert message in answer["message"][field]
    with store.table("portwallet.invoices") as invoices:
        assert not invoices


def test_every_missing_field_is_named_like_the_failed_sample() -> None:
    answer = api(signed("gen_invoice"))
    assert answer["status"] == 400
    assert answer["message"]["amount"] == "amount is not set"
    assert set(answer["message"]) == {
        name for name, (req, _) in emulator.INVOICE_FIELDS.items() if req
    }
    assert "client_id" in answer["data"]


def test_invoices_belong_to_their_merchant(settings: Any) -> None:
    invoice_id = new_invoice()
    other = {"app_key": "other-merchant-app-key", "secret_key": "other-secret"}
    config = {**settings.MULTIPAY, "GATEWAYS": {**settings.MULTIPAY["GATEWAYS"]}}
    config["GATEWAYS"]["portwallet-2"] = {
        "BACKEND": "django_multipay.gateways.portwallet.PortWalletGateway",
        "OPTIONS": other,
    }
    settings.MULTIPAY = config
    now = int(time.time())
    fields = {
        "app_key": other["app_key"],
        "timestamp": str(now),
        "token": md5_token(other["secret_key"], now),
        "call": "get_invoice",
        "invoice": invoice_id,
    }
    assert api(fields) == {"status": 400, "message": "Invalid Request"}
    assert api({**signed("get_invoice"), "invoice": invoice_id})["status"] == 100


def test_ipn_validate_needs_the_invoice_amount() -> None:
    invoice_id = new_invoice()
    wrong = api({**signed("ipn_validate"), "invoice": invoice_id, "amount": "99.00"})
    assert wrong == {"status": 400, "message": "Invalid IPN Request"}
    right = api({**signed("ipn_validate"), "invoice": invoice_id, "amount": "100"})
    assert right["status"] == 100
    # Like the PENDING sample: no currency, a null status.
    assert right["data"]["status"] is None
    assert "currency" not in right["data"]


def pay(invoice_id: str, outcome: str = "pay") -> Any:
    return Client().post(
        "/sandbox/portwallet/payment/", {"invoice": invoice_id, "outcome": outcome}
    )


def test_hosted_page_pays_once_and_redirects_with_the_invoice() -> None:
    invoice_id = new_invoice(redirect_url="http://testserver/back/?order=7")
    page = Client().get("/sandbox/portwallet/payment/", {"invoice": invoice_id})
    assert page.status_code == 200
    assert b"100.00 BDT" in page.content
    response = pay(invoice_id)
    assert response.status_code == 302
    assert response["Location"] == (
        f"http://testserver/back/?order=7&invoice={invoice_id}&status=ACCEPTED"
    )
    assert pay(invoice_id, "decline").status_code == 409
    assert pay("NOPE").status_code == 404
    assert pay(invoice_id, "steal").status_code == 400
    answer = api({**signed("get_invoice"), "invoice": invoice_id})
    assert answer["status"] == 200
    assert answer["data"]["status"] == "ACCEPTED"
    assert answer["data"]["currency"] == "BDT"


def test_refunds_never_exceed_what_is_left() -> None:
    invoice_id = new_invoice()
    unpaid = api({**signed("refund_request"), "invoice": invoice_id, "amount": "10.00"})
    assert unpaid["status"] == 500
    pay(invoice_id)
    first = api({**signed("refund_request"), "invoice": invoice_id, "amount": "81.00"})
    assert first["status"] == 230
    assert first["data"]["status"] == "PARTIALLY_REFUNDED"
    over = api({**signed("refund_request"), "invoice": invoice_id, "amount": "19.01"})
    assert over == {"status": 400, "message": "Refund amount exceeded. Refundable amount is 19.00"}
    bad = api({**signed("refund_request"), "invoice": invoice_id, "amount": "-1"})
    assert bad["status"] == 400
    last = api({**signed("refund_request"), "invoice": invoice_id, "amount": "19.00"})
    assert last["status"] == 220
    done = api({**signed("refund_request"), "invoice": invoice_id, "amount": "1.00"})
    assert done["status"] == 500


def test_pending_refunds_advance_to_processing_then_settled() -> None:
    emulator.set_refund_mode("pending")
    invoice_id = new_invoice()
    pay(invoice_id)
    answer = api({**signed("refund_request"), "invoice": invoice_id, "amount": "100.00"})
    assert answer["status"] == 210
    assert emulator.advance_refunds(invoice_id, settle=False) == 215
    assert emulator.advance_refunds(invoice_id) == 220
    with store.table("portwallet.invoices") as invoices:
        assert invoices[invoice_id]["_refunds"] == [{"amount": "100.00", "settled": True}]
    assert Decimal(api({**signed("get_invoice"), "invoice": invoice_id})["data"]["amount"]) == 100
    with pytest.raises(ValueError, match="eventually"):
        emulator.set_refund_mode("eventually")


def test_the_emulators_token_is_the_documents_md5_and_the_backends_alike() -> None:
    # The emulator computes the token itself; the backend's, computed apart, is the same.
    assert emulator.request_token(SECRET, 1424941656) == md5_token(SECRET, 1424941656)
    assert portwallet_common.md5_token(SECRET, 1424941656) == md5_token(SECRET, 1424941656)


def test_a_token_of_another_timestamp_or_secret_is_refused() -> None:
    now = int(time.time())
    for token in (md5_token(SECRET, now - 1), md5_token(SECRET + "x", now), md5_token("", now)):
        fields = {**signed("gen_invoice", now), "token": token, **INVOICE}
        assert api(fields) == {"status": 500, "message": "Invalid app_key or token"}


# ------------------------------------------------------------------------------------------------
# PortWallet (API v1) with customers' names in any script: UTF-8 percent-encoding on the wire.


def signed_form(**fields: str) -> dict[str, str]:
    now = int(time.time())
    token = hashlib.md5(f"{SECRET}{now}".encode()).hexdigest()
    return {"app_key": APP_KEY, "timestamp": str(now), "token": token, **fields}


def gen_invoice_form(name: str) -> dict[str, str]:
    return signed_form(
        call="gen_invoice",
        amount="100.00",
        currency="BDT",
        product_name="1x Polo T-shirt",
        product_description="1x Polo T-shirt",
        name=name,
        email="test@example.com",
        phone="+880123456789",
        address="House 1, Road1, Gulshan 1",
        city="Dhaka",
        state="Dhaka",
        zipcode="1212",
        country="BD",
        redirect_url="http://www.yoursite.com",
    )


def post_form(fields: dict[str, str]) -> Any:
    """POST the fields as the percent-encoded UTF-8 bytes of a form, written out by hand."""
    body = "&".join(f"{form_value(k)}={form_value(v)}" for k, v in fields.items())
    return Client().post("/sandbox/portwallet/", data=body.encode("ascii"), content_type=FORM)


@pytest.mark.django_db
def test_emulator_counts_characters_not_bytes() -> None:
    """ "Character limit (Max): 50 char": 50 characters of Bangla are about three times as
    many bytes of UTF-8 (and nine times as many once percent-encoded), and still 50."""
    fifty = ("রহিম উদ্দিন " * 5)[:50]
    assert len(fifty) == 50
    assert len(fifty.encode()) > 120
    accepted = post_form(gen_invoice_form(fifty)).json()
    assert accepted["status"] == 200, accepted
    assert accepted["data"]["name"] == fifty
    refused = post_form(gen_invoice_form(fifty + "ন")).json()
    assert refused["status"] == 400
    assert refused["message"] == {"name": "name must be at most 50 characters"}
    store.reset()
