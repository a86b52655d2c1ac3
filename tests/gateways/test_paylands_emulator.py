"""The Paylands emulator computes its notifications' hash and states its operatives itself,
from paylands.txt ("Validation using the hash of the notification", "Operational"), never
with the backend's code (django_multipay.gateways.paylands_hash, paylands.OPERATIVES); and it
refuses what the document does not allow (deadlines, countries, phones)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from django_multipay import payments
from django_multipay.models import Invoice
from django_multipay.registry import get_gateway
from django_multipay.sandbox import paylands as emulator
from django_multipay.sandbox.store import store
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.test_paylands import (
    MOMENTS,
    UTC,
    at,
    lisbon_midnight,
    make_order,
    sent_payment,
)
from tests.gateways.test_paylands_wire import BASIC, SERVICE, SIGNATURE, php_encode

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


# ------------------------------------------------------------------------------------------------
# Payshop and Multibanco reference expiry in Lisbon time, whatever the shop's TIME_ZONE.


@pytest.mark.parametrize(("shop_zone", "moment", "lisbon", "shop"), MOMENTS)
def test_emulators_default_payshop_deadline_is_three_lisbon_days(
    router: EmulatorRouter,
    clock: list[datetime],
    settings: Any,
    shop_zone: str,
    moment: datetime,
    lisbon: date,
    shop: date,
) -> None:
    at(clock, settings, shop_zone, moment)
    order = make_order()
    payments.start_payment(order, "paylands", options={"apm": "PAYSHOP", "push": True})
    invoice = Invoice.objects.get(order=order)
    # "By default, the expiration date is set within 3 days from the moment the payment is
    # triggered": no date was sent, the emulator counts three days from Lisbon's today.
    assert sent_payment(router) == {"maxNbrPayments": "1"}
    reference = get_gateway("paylands").payment_reference(invoice)
    assert reference is not None
    assert reference.deadline == lisbon + timedelta(days=3)
    assert invoice.expires_at == lisbon_midnight(lisbon + timedelta(days=4))
    stored = emulator._load(invoice.gateway_id)
    assert stored is not None
    assert stored["_expires"] == invoice.expires_at


def create_body(payment: dict[str, Any]) -> dict[str, Any]:
    return {
        "amount": 100,
        "operative": "AUTHORIZATION",
        "service": SERVICE,
        "customer_ext_id": "c",
        "description": "d",
        "url_ok": "http://x/",
        "url_ko": "http://x/",
        "url_post": "http://x/n",
        "signature": SIGNATURE,
        "extra_data": {"payment": payment},
    }


@pytest.mark.parametrize(
    ("payment", "status"),
    [
        ({"maxNbrPayments": "1", "expiration_date": "20261024"}, 400),
        ({"maxNbrPayments": "1", "expiration_date": "20261025"}, 200),
        ({"maxNbrPayments": "1", "expiration_date": "2026-10-26"}, 400),
        ({"maxNbrPayments": "1", "expiration_date": "20261326"}, 400),
        ({"deadline": "2026-10-24"}, 200),  # the document sets Multibanco no floor
        ({"deadline": "2026-10-25"}, 200),
        ({"deadline": "20261026"}, 400),
    ],
)
def test_emulator_refuses_a_deadline_before_lisbons_today_or_in_another_format(
    router: EmulatorRouter,
    clock: list[datetime],
    settings: Any,
    payment: dict[str, Any],
    status: int,
) -> None:
    # 24 October 23:30 in Los Angeles is already 25 October in Lisbon.
    settings.TIME_ZONE = "America/Los_Angeles"
    clock[0] = datetime(2026, 10, 25, 6, 30, tzinfo=UTC)
    response = router.client.post(
        "/sandbox/paylands/payment",
        create_body(payment),
        content_type="application/json",
        headers={"Authorization": "Bearer paylands-api-key-one"},
    )
    assert response.status_code == status, response.content


# ------------------------------------------------------------------------------------------------
# Paylands customer data on the wire: alpha-3 countries in addresses, split phone numbers.


# -- the emulator ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra_data", "status"),
    [
        ({"billing_address": {"country": "PRT"}, "profile": {}}, 200),
        ({"profile": {"phone": {"number": "912345678", "prefix": "351"}}}, 200),
        ({"billing_address": {"country": "PT"}}, 400),
        ({"shipping_address": {"country": "prt"}}, 400),
        ({"profile": {"phone": {"number": "912345678"}}}, 400),
        ({"profile": {"phone": {"number": "+351 912345678", "prefix": "351"}}}, 400),
        ({"profile": {"phone": {"number": "912345678", "prefix": "+351"}}}, 400),
    ],
)
def test_emulator_refuses_two_letter_countries_and_unsplit_phones(
    router: EmulatorRouter, extra_data: dict[str, Any], status: int
) -> None:
    body = {
        "amount": 100,
        "operative": "AUTHORIZATION",
        "service": "B1F13B01-BA97-491C-BBDE-1C18988BD229",
        "customer_ext_id": "c",
        "description": "d",
        "url_ok": "http://x/",
        "url_ko": "http://x/",
        "url_post": "http://x/n",
        "signature": "paylands-signature-one",
        "extra_data": extra_data,
    }
    response = router.client.post(
        "/sandbox/paylands/payment",
        body,
        content_type="application/json",
        headers={"Authorization": "Bearer paylands-api-key-one"},
    )
    assert response.status_code == status


# ------------------------------------------------------------------------------------------------
# Paylands wire format: every call's method, path, headers and body; errors; status maps;
# customer data (alpha-3 countries, split phones, names in any script, PHP's JSON).


def test_emulator_is_strict(router: EmulatorRouter) -> None:
    client = router.client
    url = "/sandbox/paylands/payment"
    good = {
        "amount": 100,
        "operative": "AUTHORIZATION",
        "service": SERVICE,
        "customer_ext_id": "c",
        "description": "d",
        "url_ok": "http://x/",
        "url_ko": "http://x/",
        "url_post": "http://x/n",
        "signature": SIGNATURE,
    }

    def post(body: dict[str, Any], auth: str = BASIC) -> int:
        return client.post(
            url, body, content_type="application/json", headers={"Authorization": auth}
        ).status_code

    assert post(good) == 200
    assert post(good, auth="Basic " + base64.b64encode(b"nobody:").decode()) == 401
    assert post({**good, "signature": "wrong"}) == 403
    assert post({k: v for k, v in good.items() if k != "signature"}) == 403
    assert post({**good, "amount": "1.00"}) == 400
    assert post({**good, "amount": 1.5}) == 400
    assert post({k: v for k, v in good.items() if k != "url_post"}) == 400
    assert post({**good, "service": "unknown"}) == 400
    assert post({**good, "operative": "PAYOUT"}) == 400


def test_emulator_state_is_per_test(router: EmulatorRouter) -> None:
    with store.table(emulator.ORDERS) as orders:
        assert orders == {}
