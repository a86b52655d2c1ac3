"""Emulator of the Paylands (Payshop POP) REST API, payment page, APM pages and notifications."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid as uuidlib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from django_multipay import money
from django_multipay.sandbox.accounts import account_with, accounts
from django_multipay.sandbox.guard import guarded
from django_multipay.sandbox.store import store

logger = logging.getLogger("django_multipay.sandbox.paylands")

#: The backend whose aliases are the emulator's merchant accounts (named, never imported).
BACKEND = "django_multipay.gateways.paylands.PaylandsGateway"
#: "Operational": the operative of an order created at /payment is AUTHORIZATION ("Collection
#: order effective at the time of the transaction") or DEFERRED ("Allows a charge to be sent
#: for later confirmation"); REFUND, CONFIRMATION and CANCELLATION are operations on it.
OPERATIVES = ("AUTHORIZATION", "DEFERRED")
ORDERS = "paylands.orders"
TOKENS = "paylands.tokens"
CARDS = "paylands.cards"

#: Card orders not paid within this time read as EXPIRED.
ORDER_TTL = timedelta(hours=1)
#: Payshop references are valid 3 days unless the order says otherwise ("Custom fields").
REFERENCE_DAYS = 3
#: "Whitelist IPS": Payshop gives the addresses its notifications come from on request. The
#: emulator's come from the machine it runs on: loopback (127.0.0.1 through the tests' router),
#: what an alias's ``notification_ips`` lists to take them.
SOURCE_NETWORKS = ("127.0.0.0/8", "::1/128")
#: Payshop and Multibanco are Portuguese: their dates ("Custom fields") are Lisbon's.
LISBON = ZoneInfo("Europe/Lisbon")
#: "Custom fields": Payshop's expiration date in Ymd, Multibanco's deadline in Y-m-d.
DEADLINE_FORMATS = {
    "expiration_date": ("%Y%m%d", r"\d{8}"),
    "deadline": ("%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
}

#: The sandbox test cards (docs.paylands.com, "Paylands" payment service): number → behaviour.
TEST_CARDS: dict[str, str] = {
    "4761739000091011": "3ds_ok",
    "5150796024238164": "3ds_ko",
    "5590337536718399": "ok",
    "5223798193659108": "sca",
    "5485009949201879": "ko",
}
APM_NAMES = ("MBWAY", "MULTIBANCO", "PAYSHOP", "BIZUM", "PICPAY", "PIX")
OPEN_STATUSES = (
    "CREATED",
    "PENDING_CARD",
    "PENDING_PROCESSOR_RESPONSE",
    "PENDING_3DS_RESPONSE",
    "REDIRECTED_TO_3DS",
    "AUTHENTICATION_REQUIRED",
    "PENDING_PAYMENT",
)


def _now() -> str:
    return timezone.now().strftime("%Y-%m-%dT%H:%M:%S+0000")


def _lisbon_today() -> date:
    return timezone.now().astimezone(LISBON).date()


def _deadline_problem(payment: dict[str, Any]) -> str:
    """What is wrong with a reference's last day in ``extra_data.payment`` ("Custom fields"):
    Payshop's ``expiration_date`` is Ymd and "must be equal to or greater than the current
    date" (in Lisbon); Multibanco's ``deadline`` is Y-m-d (the document sets it no floor)."""
    for name, (fmt, shape) in DEADLINE_FORMATS.items():
        if name not in payment:
            continue
        text = str(payment[name])
        try:
            if not re.fullmatch(shape, text):
                raise ValueError(text)
            day = datetime.strptime(text, fmt).date()
        except ValueError:
            return f"payment.{name} must be a date written {fmt.replace('%', '')}"
        if name == "expiration_date" and day < _lisbon_today():
            return "payment.expiration_date must be equal to or greater than the current date"
    return ""


# -- PHP's json_encode and the notification hash ------------------------------------------------
# Written here from paylands.txt, not taken from the backend: "Validation using the hash of the
# notification" puts the order, client and extra_data fields ("The extra_data field will only
# appear if it was included in the initial request") in one array, JSON-encodes it and hashes
# it "using the SHA 256 algorithm and the signature". The sender is PHP: the documented
# notification writes "Mozilla\/5.0", json_encode with its default flags.

#: json_encode's short escapes; every other character below U+0020 is \u00XX.
_PHP_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _php_string(text: str) -> str:
    """A string as json_encode writes it: the short escapes above, other control characters
    and every character beyond ASCII as \\uXXXX of their UTF-16 code units (lower-case hex),
    the rest of ASCII (DEL included) as it is."""
    out = ['"']
    for char in text:
        point = ord(char)
        if char in _PHP_ESCAPES:
            out.append(_PHP_ESCAPES[char])
        elif point < 0x20 or 0x7F < point < 0x10000:
            out.append(f"\\u{point:04x}")
        elif point >= 0x10000:
            high, low = divmod(point - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def php_json(value: Any) -> str:
    """``value`` as PHP's json_encode writes it with default flags: no spaces, keys in the
    order they came. An empty object is written ``{}`` (an object, as the sender holds it)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _php_string(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, dict):
        members = (f"{_php_string(str(k))}:{php_json(v)}" for k, v in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(php_json(v) for v in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON")


def validation_hash(notification: dict[str, Any], signature: str, algorithm: str) -> str:
    """The ``validation_hash`` the emulator sends: over ``{"order","client","extra_data"}``
    (extra_data only when present), json-encoded as above. ``sha256``: the hex SHA-256 of that
    text followed by the signature credential; ``hmac-sha256``: the hex HMAC-SHA256 of the text
    keyed with it (the alias's ``validation_hash`` option names which its account uses)."""
    fields = {k: notification[k] for k in ("order", "client", "extra_data") if k in notification}
    text = php_json(fields).encode("utf-8")
    key = signature.encode("utf-8")
    if algorithm == "hmac-sha256":
        return hmac.new(key, text, hashlib.sha256).hexdigest()
    return hashlib.sha256(text + key).hexdigest()


def _answer(status: int = 200, **fields: Any) -> HttpResponse:
    """A JSON answer in the API's envelope (``message``, ``code``, ``current_time``)."""
    messages = {200: "OK", 303: "See Other"}
    body = {"message": messages.get(status, "OK"), "code": status, "current_time": _now(), **fields}
    return HttpResponse(php_json(body), status=status, content_type="application/json")


def _error(status: int, message: str, details: str) -> JsonResponse:
    return JsonResponse({"message": message, "code": status, "details": details}, status=status)


def _client_uuid(account: dict[str, Any]) -> str:
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"paylands:{account['api_key']}")).upper()


def _api_key(request: HttpRequest) -> str:
    """The API key from ``Basic base64(key:)`` (password empty or absent) or ``Bearer key``."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme == "Bearer":
        return value.strip()
    if scheme == "Basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[0]
    return ""


def public(order: dict[str, Any]) -> dict[str, Any]:
    """The order as the API shows it (private bookkeeping keys start with ``_``)."""
    return {k: v for k, v in order.items() if not k.startswith("_")}


def _load(order_uuid: str, account: dict[str, Any] | None = None) -> dict[str, Any] | None:
    with store.table(ORDERS) as orders:
        order = orders.get(str(order_uuid).upper())
        if order is None or (account is not None and order["_api_key"] != account["api_key"]):
            return None
        if order["status"] in OPEN_STATUSES and timezone.now() > order["_expires"]:
            order["status"] = "EXPIRED"
        assert isinstance(order, dict)
        return order


def _api(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Authenticate like the real API: 401 without a known API key; 403 when a POST body lacks
    the account's ``signature``; 400 for a body that is not JSON or misses a field."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = _api_key(request)
        account = account_with(BACKEND, "api_key", key)
        if account is None:
            return _error(401, "Unauthorized", "No valid API key provided")
        body: dict[str, Any] = {}
        if request.method == "POST":
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return _error(400, "Bad Request", "The body is not JSON")
            if not isinstance(body, dict):
                return _error(400, "Bad Request", "The body is not a JSON object")
            given = str(body.get("signature") or "")
            if not given or not secrets.compare_digest(given, str(account.get("signature") or "")):
                return _error(403, "Unauthenticated", "Api key or signature are incorrect")
        try:
            return view(request, account, body, *args, **kwargs)
        except (KeyError, ValueError, TypeError) as exc:
            return _error(400, "Bad Request", f"Invalid request: {type(exc).__name__} {exc}")

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return csrf_exempt(wrapper)


def _integer(body: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    """Amounts are integer minor units: a string, a float or a bool is refused."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer amount in cents")
    return value


def _order_for(body: dict[str, Any], account: dict[str, Any]) -> dict[str, Any] | None:
    return _load(str(body["order_uuid"]), account)


def _transaction(
    operative: str, amount: int, status: str = "SUCCESS", **extra: Any
) -> dict[str, Any]:
    return {
        "uuid": str(uuidlib.uuid4()).upper(),
        "created": _now(),
        "created_from_client_timezone": _now(),
        "operative": operative,
        "amount": amount,
        "authorization": secrets.token_hex(3) if status == "SUCCESS" else None,
        "processor_id": secrets.token_hex(8).upper(),
        "status": status,
        "error": "NONE" if status == "SUCCESS" else extra.pop("error", "DECLINED"),
        "source": extra.pop("source", None),
        "antifraud": None,
        "device": None,
        "error_details": None,
        **extra,
    }


def _answer_for(order: dict[str, Any], account: dict[str, Any], **extra: Any) -> HttpResponse:
    return _answer(order=public(order), client={"uuid": _client_uuid(account)}, **extra)


# -- API ---------------------------------------------------------------------------------------


def _contact_problem(extra_data: dict[str, Any]) -> str:
    """What is wrong with the addresses and phone in ``extra_data``: addresses carry an ISO
    3166 alpha-3 ``country``, the profile's ``phone`` a ``prefix`` (the calling code) and a
    ``number``, both digits (gateway notes, Paylands ``POST /payment`` ``extra_data``)."""
    for name in ("address", "billing_address", "shipping_address"):
        address = extra_data.get(name) or {}
        country = address.get("country") if isinstance(address, dict) else None
        if country is not None and not re.fullmatch(r"[A-Z]{3}", str(country)):
            return f"{name}.country must be an ISO 3166 alpha-3 code, not {country}"
    profile = extra_data.get("profile") or {}
    phone = profile.get("phone") if isinstance(profile, dict) else None
    if phone is not None:
        if not isinstance(phone, dict):
            return "profile.phone must be an object with number and prefix"
        if not re.fullmatch(r"\d{4,14}", str(phone.get("number", ""))):
            return "profile.phone.number must be 4 to 14 digits"
        if not re.fullmatch(r"[1-9]\d{0,2}", str(phone.get("prefix", ""))):
            return "profile.phone.prefix must be a calling code of 1 to 3 digits"
    return ""


@_api
@require_http_methods(["POST"])
def create_payment(
    request: HttpRequest, account: dict[str, Any], body: dict[str, Any]
) -> HttpResponse:
    """``POST /payment``: a payment order, with the token for the payment page."""
    amount = _integer(body, "amount")
    assert amount is not None
    operative = str(body["operative"])
    if operative not in OPERATIVES:
        return _error(400, "Bad Request", f"Invalid operative {operative}")
    for name in ("service", "customer_ext_id", "description", "url_post", "url_ok", "url_ko"):
        if not str(body.get(name) or "").strip():
            return _error(400, "Bad Request", f"{name} is required")
    # One merchant may run several aliases (one per service) with the same credentials.
    services: set[str] = set()
    for alias in accounts(BACKEND):
        if alias.get("api_key") == account["api_key"]:
            services.add(str(alias.get("service") or ""))
            services.update(str(v) for v in (alias.get("services") or {}).values())
    if body["service"] not in services - {""}:
        return _error(400, "Bad Request", f"Service not found: {body['service']}")
    currency = money.normalize_currency(str(body.get("currency") or "EUR"))
    extra_data = body.get("extra_data") or {}
    if not isinstance(extra_data, dict):
        return _error(400, "Bad Request", "extra_data must be an object")
    payment = extra_data.get("payment") or {}
    if "maxNbrPayments" in payment and str(payment["maxNbrPayments"]) != "1":
        return _error(400, "Bad Request", "maxNbrPayments must be 1")
    problem = _deadline_problem(payment)
    if problem:
        return _error(400, "Bad Request", problem)
    problem = _contact_problem(extra_data)
    if problem:
        return _error(400, "Bad Request", problem)
    order_uuid = str(uuidlib.uuid4()).upper()
    token = secrets.token_hex(64)
    now = timezone.now()
    order = {
        "uuid": order_uuid,
        "created": _now(),
        "created_from_client_timezone": _now(),
        "amount": amount,
        # Orders carry the ISO numeric code, as in the documented notification.
        "currency": money.numeric_code(currency),
        "paid": False,
        "status": "CREATED",
        "safe": bool(body.get("secure", False)),
        "refunded": 0,
        "additional": body.get("additional"),
        "service": "PAYLANDS",
        "service_uuid": body["service"],
        "customer": str(body["customer_ext_id"]),
        "cof_txnid": None,
        "transactions": [],
        "token": token,
        "ip": None,
        "reference": body.get("reference"),
        "dynamic_descriptor": None,
        "threeds_data": None,
        "dcc": None,
        "_api_key": account["api_key"],
        "_operative": operative,
        "_description": str(body["description"]),
        "_url_ok": str(body["url_ok"]),
        "_url_ko": str(body["url_ko"]),
        "_url_post": str(body["url_post"]),
        "_extra_data": extra_data,
        "_save_card": bool(body.get("save_card", False)),
        "_expires": now + ORDER_TTL,
        "_currency": currency,
    }
    with store.table(ORDERS) as orders:
        orders[order_uuid] = order
    with store.table(TOKENS) as tokens:
        tokens[token] = order_uuid
    return _answer_for(order, account)


@_api
@require_http_methods(["GET"])
def read_order(
    request: HttpRequest, account: dict[str, Any], body: dict[str, Any], order_uuid: str
) -> HttpResponse:
    """``GET /order/{uuid}``."""
    order = _load(order_uuid, account)
    if order is None:
        return _error(404, "Not Found", "Order not found")
    return _answer_for(order, account)


@_api
@require_http_methods(["POST"])
def confirmation(
    request: HttpRequest, account: dict[str, Any], body: dict[str, Any]
) -> HttpResponse:
    """``POST /payment/confirmation``: take all or part of a DEFERRED hold."""
    order = _order_for(body, account)
    if order is None:
        return _error(404, "Not Found", "Order not found")
    amount = _integer(body, "amount", required=False) or order["amount"]
    with store.table(ORDERS):
        if order["status"] != "PENDING_CONFIRMATION":
            return _error(409, "Conflict", f"Order is {order['status']}")
        if amount > order["amount"]:
            return _error(400, "Bad Request", "Amount exceeds the held amount")
        order["transactions"].append(_transaction("CONFIRMATION", amount))
        order["status"] = "SUCCESS" if amount == order["amount"] else "PARTIALLY_CONFIRMED"
        order["paid"] = True
    deliver_notification(order)
    return _answer_for(order, account)


@_api
@require_http_methods(["POST"])
def cancellation(
    request: HttpRequest, account: dict[str, Any], body: dict[str, Any]
) -> HttpResponse:
    """``POST /payment/cancellation``: release a DEFERRED hold not yet confirmed."""
    order = _order_for(body, account)
    if order is None:
        return _error(404, "Not Found", "Order not found")
    with store.table(ORDERS):
        if order["status"] != "PENDING_CONFIRMATION":
            return _error(409, "Conflict", f"Order is {order['status']}")
        order["transactions"].append(_transaction("CANCELLATION", order["amount"]))
        order["status"] = "CANCELLED"
    deliver_notification(order)
    return _answer_for(order, account)


def _charged(order: dict[str, Any]) -> int:
    return sum(
        t["amount"]
        for t in order["transactions"]
        if t["operative"] in ("AUTHORIZATION", "CONFIRMATION") and t["status"] == "SUCCESS"
    )


@_api
@require_http_methods(["POST"])
def refund(request: HttpRequest, account: dict[str, Any], body: dict[str, Any]) -> HttpResponse:
    """``POST /payment/refund``: all (no amount) or part of what was charged, never more."""
    order = _order_for(body, account)
    if order is None:
        return _error(404, "Not Found", "Order not found")
    with store.table(ORDERS):
        if order["status"] not in ("SUCCESS", "PARTIALLY_CONFIRMED", "PARTIALLY_REFUNDED"):
            return _error(409, "Conflict", f"Order is {order['status']}")
        left = _charged(order) - order["refunded"]
        amount = _integer(body, "amount", required=False) or left
        if amount > left:
            return _error(402, "Failed", "Refund amount exceeds what is left to refund")
        transaction = _transaction("REFUND", amount)
        order["transactions"].append(transaction)
        order["refunded"] += amount
        order["status"] = (
            "REFUNDED" if order["refunded"] == _charged(order) else "PARTIALLY_REFUNDED"
        )
    # As at the real gateway, the notification may reach the shop before the answer does.
    deliver_notification(order)
    return _answer_for(order, account, transaction=transaction)


@_api
@require_http_methods(["POST"])
def direct(request: HttpRequest, account: dict[str, Any], body: dict[str, Any]) -> HttpResponse:
    """``POST /payment/direct``: charge a saved card; ``303`` with the 3-D Secure page when
    the bank asks for authentication."""
    order = _order_for(body, account)
    if order is None:
        return _error(404, "Not Found", "Order not found")
    with store.table(CARDS) as cards:
        card = cards.get(str(body["card_uuid"]).upper())
    if (
        card is None
        or card["api_key"] != account["api_key"]
        or card["customer"] != order["customer"]
    ):
        return _error(404, "Not Found", "Card not found")
    if order["status"] not in ("CREATED", "PENDING_CARD"):
        return _error(409, "Conflict", f"Order is {order['status']}")
    behaviour = TEST_CARDS.get(card["number"], "ko")
    if behaviour in ("sca", "3ds_ok", "3ds_ko"):
        with store.table(ORDERS):
            order["status"] = "REDIRECTED_TO_3DS"
            order["_card"] = card["number"]
            order["ip"] = body.get("customer_ip")
        url = request.build_absolute_uri(f"threeds/{order['token']}")
        return _answer(303, details=url, order=public(order))
    _settle_card(order, card["number"], behaviour == "ok")
    return _answer_for(order, account)


@_api
@require_http_methods(["POST"])
def push(request: HttpRequest, account: dict[str, Any], body: dict[str, Any]) -> HttpResponse:
    """The push payment request: the reference (and deadline) in ``payment_data``."""
    order = _order_for(body, account)
    if order is None:
        return _error(404, "Not Found", "Order not found")
    apm = str(body.get("apm") or "").upper()
    if apm not in ("MBWAY", "MULTIBANCO", "PAYSHOP"):
        return _error(400, "Bad Request", "apm must be MBWAY, MULTIBANCO or PAYSHOP")
    if apm == "MBWAY":
        profile = order["_extra_data"].get("profile") or {}
        if not (profile.get("phone") or {}).get("number") or "first_name" not in profile:
            return _error(400, "Bad Request", "MB WAY needs first_name, last_name and phone")
    if order["status"] != "CREATED":
        return _error(409, "Conflict", f"Order is {order['status']}")
    issue_reference(order, apm)
    return _answer_for(order, account)


# -- references, cards, outcomes ----------------------------------------------------------------


def issue_reference(order: dict[str, Any], apm: str) -> dict[str, Any]:
    """Give the order a pending APM transaction with its ``payment_data`` (once)."""
    with store.table(ORDERS):
        for transaction in order["transactions"]:
            if transaction.get("payment_data") is not None:
                return dict(transaction["payment_data"])
        payment = order["_extra_data"].get("payment") or {}
        # "3 days from the moment the payment is triggered", in Lisbon, unless the order says.
        deadline = _lisbon_today() + timedelta(days=REFERENCE_DAYS)
        name = "expiration_date" if apm == "PAYSHOP" else "deadline"
        if payment.get(name):
            deadline = datetime.strptime(str(payment[name]), DEADLINE_FORMATS[name][0]).date()
        data: dict[str, Any] = {}
        if apm == "PAYSHOP":
            data = {
                "reference": f"{secrets.randbelow(10**13):013d}",
                "deadline": deadline.isoformat(),
            }
        elif apm == "MULTIBANCO":
            data = {
                "entity": "81921",
                "reference": f"{secrets.randbelow(10**9):09d}",
                "deadline": deadline.isoformat(),
            }
        order["transactions"].append(
            _transaction(
                "AUTHORIZATION",
                order["amount"],
                "PENDING",
                error="NONE",
                payment_data=data,
                apm=apm,
            )
        )
        order["status"] = "PENDING_PAYMENT"
        order["_apm"] = apm
        # The reference lives until its deadline: the end of that day in Lisbon.
        order["_expires"] = datetime.combine(
            deadline + timedelta(days=1), datetime.min.time(), LISBON
        )
        return data


def register_card(api_key: str, customer_ext_id: str, number: str) -> str:
    """Save a card for a customer (as the payment page does with ``save_card``); its uuid."""
    card_uuid = str(uuidlib.uuid4()).upper()
    with store.table(CARDS) as cards:
        cards[card_uuid] = {"api_key": api_key, "customer": customer_ext_id, "number": number}
    return card_uuid


def _card_source(number: str) -> dict[str, Any]:
    return {
        "object": "CARD",
        "type": "CREDIT",
        "brand": "VISA" if number.startswith("4") else "MASTERCARD",
        "bin": int(number[:6]),
        "last4": number[-4:],
        "holder": "Test Holder",
        "expire_month": "12",
        "expire_year": "34",
        "origin": "PAYMENT_CARD",
    }


def _settle_card(order: dict[str, Any], number: str, approved: bool) -> None:
    """The bank's answer for a card payment; then the shop is notified."""
    with store.table(ORDERS):
        deferred = order["_operative"] == "DEFERRED"
        operative = "DEFERRED" if deferred else "AUTHORIZATION"
        if approved:
            order["transactions"].append(
                _transaction(operative, order["amount"], source=_card_source(number))
            )
            order["status"] = "PENDING_CONFIRMATION" if deferred else "SUCCESS"
            order["paid"] = not deferred
        else:
            order["transactions"].append(
                _transaction(operative, order["amount"], "REFUSED", source=_card_source(number))
            )
            order["status"] = "REFUSED"
    if approved and order["_save_card"]:
        register_card(order["_api_key"], order["customer"], number)
    deliver_notification(order)


def settle_apm(order: dict[str, Any], approved: bool) -> None:
    """The customer paid (or refused) the APM: Payshop agent, ATM, MB WAY app."""
    with store.table(ORDERS):
        pending = [t for t in order["transactions"] if t["status"] == "PENDING"]
        if pending:
            pending[-1]["status"] = "SUCCESS" if approved else "REFUSED"
            pending[-1]["error"] = "NONE" if approved else "DECLINED"
        else:
            status = "SUCCESS" if approved else "REFUSED"
            order["transactions"].append(_transaction("AUTHORIZATION", order["amount"], status))
        order["status"] = "SUCCESS" if approved else "REFUSED"
        order["paid"] = approved
    deliver_notification(order)


def expire(order: dict[str, Any], notify: bool = True) -> None:
    """The order expires; with "Notify expired orders" enabled the shop is told."""
    with store.table(ORDERS):
        order["status"] = "EXPIRED"
    if notify:
        deliver_notification(order)


# -- notifications --------------------------------------------------------------------------------


def notification_for(order: dict[str, Any]) -> dict[str, Any]:
    """The body sent to ``url_post``: order, client, extra_data (if sent) and the hash."""
    account = account_with(BACKEND, "api_key", order["_api_key"]) or {"api_key": ""}
    body: dict[str, Any] = {
        "message": "OK",
        "code": 200,
        "current_time": _now(),
        "order": public(order),
        "client": {"uuid": _client_uuid(account)},
    }
    if order["_extra_data"]:
        body["extra_data"] = order["_extra_data"]
    algorithm = str(account.get("validation_hash") or "sha256").lower()
    if algorithm == "off":
        algorithm = "sha256"
    body["validation_hash"] = validation_hash(body, str(account.get("signature") or ""), algorithm)
    return body


def deliver_notification(order: dict[str, Any]) -> bool:
    """POST the notification to the order's ``url_post``; True if it answered 2xx."""
    body = php_json(notification_for(order)).encode()
    try:
        response = requests.post(
            order["_url_post"],
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=(5, 30),
        )
    except requests.RequestException as exc:
        logger.warning("Paylands notification to %s failed: %s", order["_url_post"], exc)
        return False
    return 200 <= response.status_code < 300


# -- customer pages -------------------------------------------------------------------------------


def _by_token(token: str) -> dict[str, Any] | None:
    with store.table(TOKENS) as tokens:
        order_uuid = tokens.get(token)
    return _load(order_uuid) if order_uuid else None


def _page(
    request: HttpRequest, template: str, order: dict[str, Any], **context: Any
) -> HttpResponse:
    currency = order["_currency"]
    return render(
        request,
        f"django_multipay/sandbox/paylands_{template}.html",
        {
            "order": public(order),
            "amount": money.from_minor_units(order["amount"], currency),
            "currency": currency,
            "description": order["_description"],
            **context,
        },
    )


def _back(order: dict[str, Any]) -> HttpResponseRedirect:
    ok = order["status"] in ("SUCCESS", "PENDING_CONFIRMATION", "PENDING_PAYMENT")
    return HttpResponseRedirect(order["_url_ok"] if ok else order["_url_ko"])


@csrf_exempt
@require_http_methods(["GET", "POST"])
def process(request: HttpRequest, token: str) -> HttpResponse:
    """``/payment/process/{token}``: the card form, or with ``?apm=`` that method's page."""
    order = _by_token(token)
    if order is None:
        return HttpResponse("Unknown or expired token.", status=404, content_type="text/plain")
    apm = (request.GET.get("apm") or "").upper()
    if apm and apm not in APM_NAMES:
        return HttpResponse(f"Unknown APM {apm}.", status=400, content_type="text/plain")
    if order["status"] not in (*OPEN_STATUSES, "PENDING_PAYMENT"):
        return _back(order)
    if apm:
        return _apm_page(request, order, apm)
    if request.method == "GET":
        with store.table(ORDERS):
            order["status"] = "PENDING_CARD"
        return _page(request, "card", order, cards=TEST_CARDS)
    if request.POST.get("action") == "cancel":
        with store.table(ORDERS):
            order["status"] = "USER_CANCELLED"
        deliver_notification(order)
        return _back(order)
    number = "".join(c for c in request.POST.get("card_number", "") if c.isdigit())
    if request.POST.get("cvv", "123") != "123":
        return _page(request, "card", order, cards=TEST_CARDS, error="The CVV is always 123.")
    behaviour = TEST_CARDS.get(number, "ko")
    if behaviour in ("sca", "3ds_ok", "3ds_ko"):
        with store.table(ORDERS):
            order["status"] = "REDIRECTED_TO_3DS"
            order["_card"] = number
        return HttpResponseRedirect(f"../threeds/{token}")
    _settle_card(order, number, behaviour == "ok")
    return _back(order)


def _apm_page(request: HttpRequest, order: dict[str, Any], apm: str) -> HttpResponse:
    reference = issue_reference(order, apm) if apm in ("PAYSHOP", "MULTIBANCO") else {}
    if request.method == "GET":
        return _page(request, "apm", order, apm=apm, reference=reference)
    outcome = request.POST.get("outcome", "")
    if outcome == "paid":
        settle_apm(order, True)
    elif outcome == "refused":
        settle_apm(order, False)
    elif outcome == "expired":
        expire(order)
    elif outcome != "later":
        return HttpResponse("Choose an outcome.", status=400, content_type="text/plain")
    return _back(order)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def threeds(request: HttpRequest, token: str) -> HttpResponse:
    """The bank's 3-D Secure step: authenticate, or abandon (THREEDS_EXPIRED)."""
    order = _by_token(token)
    if order is None or order["status"] not in ("REDIRECTED_TO_3DS", "PENDING_3DS_RESPONSE"):
        return HttpResponse("No authentication pending.", status=404, content_type="text/plain")
    if request.method == "GET":
        with store.table(ORDERS):
            order["status"] = "PENDING_3DS_RESPONSE"
        return _page(request, "3ds", order)
    if request.POST.get("result") == "abandon":
        with store.table(ORDERS):
            order["status"] = "THREEDS_EXPIRED"
        deliver_notification(order)
        return _back(order)
    number = order.get("_card", "")
    _settle_card(order, number, TEST_CARDS.get(number) in ("3ds_ok", "sca"))
    return _back(order)


urlpatterns = [
    path("payment", create_payment, name="paylands-payment"),
    path("payment/direct", direct, name="paylands-direct"),
    path("payment/confirmation", confirmation, name="paylands-confirmation"),
    path("payment/cancellation", cancellation, name="paylands-cancellation"),
    path("payment/refund", refund, name="paylands-refund"),
    path("payment/push", push, name="paylands-push"),
    path("payment/process/<str:token>", process, name="paylands-process"),
    path("payment/threeds/<str:token>", threeds, name="paylands-threeds"),
    path("order/<str:order_uuid>", read_order, name="paylands-order"),
]

# Answered only where test-only parts may run (DEBUG, or ALLOW_TEST_GATEWAYS).
urlpatterns = guarded(urlpatterns)
