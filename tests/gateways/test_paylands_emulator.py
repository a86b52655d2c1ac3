"""The Paylands emulator computes its notifications' hash and states its operatives itself,
from paylands.txt ("Validation using the hash of the notification", "Operational"), never
with the backend's code (django_multipay.gateways.paylands_hash, paylands.OPERATIVES)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest

from django_multipay.sandbox import paylands as emulator
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.test_paylands_scripts import php_encode
from tests.gateways.test_paylands_wire import BASIC, SERVICE, SIGNATURE

TEXTS = [
    "José Núñez",
    "রহিম উদ্দিন",
    "محمد علي",
    "Mozilla/5.0 (X11; Linux x86_64)",
    "Zoë 😀",
    'Ann "Bee" \\ O\'Neil <a&b>',
    "tab\there\nnew line\x01",
    "del\x7fchar",
    "\u2028line separator",
]


@pytest.mark.parametrize("text", TEXTS)
def test_its_json_is_phps_json_encode(text: str) -> None:
    value = {"order": {"customer": text, "amount": 1050, "paid": True, "token": None, "t": []}}
    assert emulator.php_json(value) == php_encode(value)
    assert json.loads(emulator.php_json(value)) == value


NOTIFICATION = {
    "message": "OK",
    "code": 200,
    "current_time": "2024-01-01T00:00:00+0000",
    "order": {"uuid": "D16004FF", "amount": 1050, "currency": "978", "status": "SUCCESS"},
    "client": {"uuid": "42B8CF56-A7D7-4D4A-8349-4E27263CB2D5"},
    "extra_data": {"profile": {"first_name": "José", "agent": "Mozilla/5.0"}},
}


@pytest.mark.parametrize("extra_data", [True, False])
def test_its_hash_is_sha256_of_order_client_and_extra_data_then_the_signature(
    extra_data: bool,
) -> None:
    # "extract the order, client and extra_data fields ... json encode this array and
    # calculate the hash using the SHA 256 algorithm and the signature"; "The extra_data
    # field will only appear if it was included in the initial request."
    body = copy.deepcopy(NOTIFICATION)
    if not extra_data:
        del body["extra_data"]
    names = ("order", "client", "extra_data")
    text = php_encode({k: body[k] for k in names if k in body})
    sha = hashlib.sha256((text + SIGNATURE).encode()).hexdigest()
    keyed = hmac.new(SIGNATURE.encode(), text.encode(), hashlib.sha256).hexdigest()
    assert emulator.validation_hash(body, SIGNATURE, "sha256") == sha
    assert emulator.validation_hash(body, SIGNATURE, "hmac-sha256") == keyed
    # message, code and current_time are not covered.
    assert emulator.validation_hash({**body, "code": 201}, SIGNATURE, "sha256") == sha


@pytest.mark.parametrize(
    ("operative", "status"),
    [
        # "Operational": an order is created as AUTHORIZATION or DEFERRED; the others are
        # operations on an order, at their own URLs.
        ("AUTHORIZATION", 200),
        ("DEFERRED", 200),
        ("REFUND", 400),
        ("CONFIRMATION", 400),
        ("CANCELLATION", 400),
        ("PAYOUT", 400),
        ("authorization", 400),
    ],
)
def test_an_order_takes_only_the_documents_operatives(
    router: EmulatorRouter, operative: str, status: int
) -> None:
    body: dict[str, Any] = {
        "amount": 100,
        "operative": operative,
        "service": SERVICE,
        "customer_ext_id": "c",
        "description": "d",
        "url_ok": "http://x/",
        "url_ko": "http://x/",
        "url_post": "http://x/n",
        "signature": SIGNATURE,
    }
    response = router.client.post(
        "/sandbox/paylands/payment",
        body,
        content_type="application/json",
        headers={"Authorization": BASIC},
    )
    assert response.status_code == status
