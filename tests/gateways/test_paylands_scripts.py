"""Paylands with customers' names in any script: the wire, PHP's JSON and the validation hash."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_multipay import payments
from django_multipay.gateways.paylands_hash import php_json, validation_hash
from django_multipay.models import Invoice, Notification, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import paylands as emulator
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

SIGNATURE = "paylands-signature-one"
OK = "5590337536718399"

#: Names as customers write them, and how ``extra_data.profile`` splits them.
NAMES = [
    pytest.param("José Núñez", "José", "Núñez", id="accents"),
    pytest.param("রহিম উদ্দিন", "রহিম", "উদ্দিন", id="bangla"),
    pytest.param("محمد علي", "محمد", "علي", id="arabic"),
    pytest.param("A/B Traders", "A/B", "Traders", id="slash"),
]


def php_encode(value: Any) -> str:
    """PHP's ``json_encode`` with default flags, written out from its rules rather than from
    Python's encoder: no spaces; ``"``, ``\\`` and ``/`` escaped with a backslash; the short
    escapes for backspace, form feed, newline, return and tab; other characters below U+0020
    as ``\\u00XX``; ASCII from U+0020 (DEL included) as it is; everything else as ``\\uXXXX``
    of its UTF-16 code units, lower-case hex."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{php_encode(k)}:{php_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(php_encode(v) for v in value) + "]"
    assert isinstance(value, str)
    short = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
    short.update({"\r": "\\r", "\t": "\\t"})
    out = []
    for char in value:
        point = ord(char)
        if char in short:
            out.append(short[char])
        elif point < 0x20:
            out.append(f"\\u{point:04x}")
        elif point < 0x80:
            out.append(char)
        elif point < 0x10000:
            out.append(f"\\u{point:04x}")
        else:
            high, low = divmod(point - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
    return '"' + "".join(out) + '"'


def make_order(**fields: Any) -> Order:
    order = OrderFactory(**fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def start(name: str) -> Invoice:
    order = make_order(customer_name=name, description=f"Gift for {name}")
    payments.start_payment(order, "paylands")
    return Invoice.objects.get(order=order)


def emulated(invoice: Invoice) -> dict[str, Any]:
    order = emulator._load(invoice.gateway_id)
    assert order is not None
    return order


def notify(raw: bytes) -> Any:
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": "paylands"}),
        data=raw,
        content_type="application/json",
    )


def hashed_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("order", "client", "extra_data") if k in body}


# -- the payment order ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "first", "last"), NAMES)
def test_names_in_any_script_reach_the_profile_intact(
    router: EmulatorRouter, name: str, first: str, last: str
) -> None:
    invoice = start(name)
    [call] = router.requests_to(r"/payment$", "POST")
    raw = call.body if isinstance(call.body, bytes) else str(call.body).encode()
    # JSON with \uXXXX escapes: plain ASCII on the wire, whatever the script.
    assert raw.isascii()
    body = json.loads(raw)
    assert body["extra_data"]["profile"]["first_name"] == first
    assert body["extra_data"]["profile"]["last_name"] == last
    assert body["description"] == f"Gift for {name}"
    # The emulator read the same text back.
    order = emulated(invoice)
    assert order["_extra_data"]["profile"]["first_name"] == first
    assert order["_description"] == f"Gift for {name}"
    assert invoice.status == InvoiceStatus.PENDING


# -- PHP's JSON and the hash ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "José Núñez",
        "রহিম উদ্দিন",
        "محمد علي",
        "A/B Traders",
        "Zoë 😀",  # outside the Basic Multilingual Plane: a UTF-16 surrogate pair
        'Ann "Bee" \\ O\'Neil <a&b>',
        "tab\there\nnew line",
        "del\x7fchar",
        "\\u00e9 as typed",  # a backslash and "u00e9", not an é
        "\u2028line separator",
    ],
)
def test_php_json_writes_what_php_json_encode_writes(text: str) -> None:
    value = {"order": {"customer": text, "amount": 1050, "paid": True, "token": None}}
    assert php_json(value) == php_encode(value)
    assert json.loads(php_json(value)) == value


def test_the_documented_user_agent_is_written_as_the_manual_shows_it() -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:106.0) Gecko/20100101 Firefox/106.0"
    assert php_json({"user_agent": agent}) == (
        '{"user_agent":"Mozilla\\/5.0 (X11; Linux x86_64; rv:106.0) Gecko\\/20100101'
        ' Firefox\\/106.0"}'
    )


@pytest.mark.parametrize(("name", "first", "last"), NAMES)
def test_the_emulators_hash_over_such_names_is_the_one_we_compute(
    router: EmulatorRouter, name: str, first: str, last: str
) -> None:
    invoice = start(name)
    body = emulator.notification_for(emulated(invoice))
    text = php_encode(hashed_fields(body))
    assert f'"first_name":{php_encode(first)}' in text
    expected = hashlib.sha256((text + SIGNATURE).encode("ascii")).hexdigest()
    assert body["validation_hash"] == expected
    assert validation_hash(body, SIGNATURE) == expected


@pytest.mark.parametrize(("name", "first", "last"), NAMES)
def test_a_paid_order_with_such_a_name_settles_through_its_notification(
    router: EmulatorRouter, name: str, first: str, last: str
) -> None:
    invoice = start(name)
    page = invoice.redirect_url.replace("http://testserver", "")
    router.client.get(page)
    router.client.post(page, {"action": "pay", "card_number": OK, "cvv": "123"})
    [sent] = router.requests_to(r"/payments/notify/paylands/$", "POST")
    raw = sent.body if isinstance(sent.body, bytes) else str(sent.body).encode()
    # The emulator sends what PHP sends: every character escaped to ASCII, "/" as "\/".
    assert raw.isascii()
    assert php_encode(first).encode() in raw
    assert b"/" not in raw.replace(b"\\/", b"")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    stored = Notification.objects.get(invoice=invoice)
    assert stored.result == NotificationResult.PROCESSED
    assert json.loads(stored.body)["extra_data"]["profile"]["first_name"] == first


@pytest.mark.parametrize(("name", "first", "last"), NAMES)
@pytest.mark.parametrize("algorithm", ["sha256", "hmac-sha256"])
def test_our_hash_is_checked_whatever_escaping_the_body_itself_uses(
    router: EmulatorRouter, settings: Any, algorithm: str, name: str, first: str, last: str
) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["paylands"]["OPTIONS"]["validation_hash"] = algorithm
    settings.MULTIPAY = config
    invoice = start(name)
    order = emulated(invoice)
    body = emulator.notification_for(order)
    text = php_encode(hashed_fields(body)).encode("ascii")
    if algorithm == "sha256":
        expected = hashlib.sha256(text + SIGNATURE.encode()).hexdigest()
    else:
        expected = hmac.new(SIGNATURE.encode(), text, hashlib.sha256).hexdigest()
    # Our signing gives the same hash as the emulator's, computed here from PHP's rules.
    assert validation_hash(body, SIGNATURE, algorithm) == expected == body["validation_hash"]
    gateway = get_gateway("paylands")
    # The hash covers the re-encoded fields, so a body sent as raw UTF-8 with bare "/"
    # (JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES) verifies as well as PHP's default.
    utf8 = json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert b"\\/" not in utf8
    assert b"\\u" not in utf8
    for raw in (php_json(body).encode(), utf8):
        gateway.check_validation_hash(json.loads(raw))
        assert notify(raw).status_code == 200  # read back: the order is still being paid
    # One letter of the name changed: refused before the order is read.
    forged = copy.deepcopy(body)
    forged["extra_data"]["profile"]["first_name"] = first[:-1] + "x"
    reads = len(router.requests_to(r"/order/", "GET"))
    assert notify(php_json(forged).encode()).status_code == 400
    assert len(router.requests_to(r"/order/", "GET")) == reads
    latest = Notification.objects.filter(gateway="paylands").latest("received_at")
    assert (latest.result, latest.reason) == (
        NotificationResult.REJECTED,
        "validation_hash does not match",
    )
