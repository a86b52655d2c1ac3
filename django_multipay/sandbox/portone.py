"""Emulator of PortOne Global: payments, links, capture, refunds, webhooks, listing, channels."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote_plus, urlsplit

import requests
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from django_multipay import money
from django_multipay.conf import multipay_settings
from django_multipay.sandbox.accounts import account_with
from django_multipay.sandbox.guard import guarded
from django_multipay.sandbox.store import store

logger = logging.getLogger("django_multipay.sandbox.portone")

#: The backend whose aliases are the emulator's merchant accounts (named, never imported).
BACKEND = "django_multipay.gateways.portone.PortOneGateway"

#: What the customer can do on the hosted page, and the transaction status it leads to.
OUTCOMES = {
    "success": ("Success", "2000", "SUCCESS"),
    "failure": ("Failed", "6001", "BANK_REFUSED_TRANSACTION"),
    "pending": ("Pending", "1000", "PENDING"),
    "cancelled": ("Cancelled", "4071", "INVALID_TRANSACTION_ORDER_CANCELLED_ERROR"),
}
METHOD_NAME = "Emulated Credit Card"
TRANSACTIONS = "portone.transactions"
LINKS = "portone.links"
WEBHOOKS = "portone.webhooks"
CHANNELS = "portone.channels"
#: "Create JWT Token": the lifetime PortOne's example gives its tokens.
TOKEN_LIFETIME = 21600
ISSUER = "PORTONE"

# -- the rules, from payment-openapi and refund-openapi -------------------------------------------
# Each body is checked as the documents state it: its required members present, each member of
# its documented type, each enum among its values, and no member the document does not name (an
# unknown member is refused, though PortOne may ignore it: what we send must be what it reads).

STRING, NUMBER, INTEGER, BOOLEAN, OBJECT, ARRAY = (
    "string",
    "number",
    "integer",
    "boolean",
    "object",
    "array",
)
ENVIRONMENTS = ("live", "sandbox")
UCF = {f"user_configured_field{n}": STRING for n in range(1, 6)}

#: ``Address``, ``BillingDetails``, ``ShippingDetails``, ``OrderDetails`` items and the other
#: nested objects: their members and types. A nested schema is ``(members, required)``.
Schema = tuple[dict[str, Any], tuple[str, ...]]
ADDRESS: Schema = (
    {
        n: STRING
        for n in (
            "city",
            "country_code",
            "country_name",
            "locale",
            "line_1",
            "line_2",
            "postal_code",
            "state",
            "address_ref",
        )
    },
    (),
)
BILLING: Schema = (
    {
        "billing_name": STRING,
        "billing_surname": STRING,
        "billing_email": STRING,
        "billing_phone": STRING,
        "billing_address": ADDRESS,
    },
    (),
)
SHIPPING: Schema = (
    {
        "shipping_name": STRING,
        "shipping_surname": STRING,
        "shipping_email": STRING,
        "shipping_phone": STRING,
        "shipping_address": ADDRESS,
    },
    (),
)
ORDER_ITEM: Schema = (
    {
        "id": STRING,
        "name": STRING,
        "price": NUMBER,
        "quantity": INTEGER,
        "image": STRING,
        "additional_details": OBJECT,
    },
    (),
)
TOKEN_PARAMS: Schema = (
    {
        "token": STRING,
        "partial_card_number": STRING,
        "expiry_month": STRING,
        "expiry_year": STRING,
        "type": STRING,
        "save_card": BOOLEAN,
        "is_channel_token": BOOLEAN,
    },
    (),
)
ROUTE: Schema = ({"channel_key": STRING, "method_key": STRING, "rank": INTEGER}, ())
ROUTING_PARAMS: Schema = ({"type": STRING, "routing_ref": STRING, "data": [ROUTE]}, ())
MERCHANT_DETAILS: Schema = (
    {
        "name": STRING,
        "back_url": STRING,
        "promo_code": STRING,
        "promo_discount": NUMBER,
        "shipping_charges": NUMBER,
        "logo": STRING,
    },
    ("name", "promo_discount", "shipping_charges"),
)
NOTE: Schema = ({"key": STRING, "value": STRING}, ())
CUSTOMER_DETAILS: Schema = (
    {"name": STRING, "email_address": STRING, "phone_number": STRING},
    (),
)
DCC_RATE: Schema = (
    {
        "forex_rate": NUMBER,
        "invoice_amount": NUMBER,
        "invoice_currency": STRING,
        "payment_currency": STRING,
        "payment_amount": NUMBER,
        "show_fx_conversion": BOOLEAN,
    },
    (),
)

INITIATE_PAYMENT: Schema = (
    {
        "key": STRING,
        "merchant_order_id": STRING,
        "pmt_channel": STRING,
        "pmt_method": STRING,
        "description": STRING,
        "environment": ENVIRONMENTS,
        "amount": NUMBER,
        "currency": STRING,
        "signature_hash": STRING,
        "billing_details": BILLING,
        "shipping_details": SHIPPING,
        "token_params": TOKEN_PARAMS,
        "order_details": [ORDER_ITEM],
        "success_url": STRING,
        "failure_url": STRING,
        "pending_url": STRING,
        "routing_enabled": BOOLEAN,
        "routing_params": ROUTING_PARAMS,
        "transaction_type": ("PREAUTH", "PURCHASE"),
        **UCF,
    },
    (
        "key",
        "merchant_order_id",
        "pmt_channel",
        "pmt_method",
        "description",
        "environment",
        "amount",
        "currency",
        "signature_hash",
        "success_url",
        "failure_url",
    ),
)
LINK_FLAGS = {
    n: BOOLEAN
    for n in (
        "show_shipping_details",
        "show_back_button",
        "is_checkout_embed",
        "notify_by_email",
        "notify_by_phone",
        "use_merchant_configured_dcc_rate",
    )
}
PAYMENT_LINK: Schema = (
    {
        "portone_key": STRING,
        "merchant_details": MERCHANT_DETAILS,
        "merchant_order_id": STRING,
        "signature_hash": STRING,
        "environment": ENVIRONMENTS,
        "amount": NUMBER,
        "currency": STRING,
        "country_code": STRING,
        "description": STRING,
        "billing_details": BILLING,
        "shipping_details": SHIPPING,
        "order_details": [ORDER_ITEM],
        "success_url": STRING,
        "failure_url": STRING,
        "pending_url": STRING,
        "expiry_date": STRING,
        "source": ("default", "api", "checkout"),
        "notes": [NOTE],
        "custom_txn_webhook_urls": [STRING],
        "merchant_dcc_rate": DCC_RATE,
        **LINK_FLAGS,
        **UCF,
    },
    (
        "portone_key",
        "merchant_order_id",
        "amount",
        "currency",
        "signature_hash",
        "country_code",
        "merchant_details",
        "success_url",
        "failure_url",
        "source",
        "environment",
    ),
)
UPDATE_PAYLINK: Schema = (
    {
        "country_code": STRING,
        "amount": NUMBER,
        "currency": STRING,
        "billing_details": BILLING,
        "shipping_details": SHIPPING,
        "order_details": [ORDER_ITEM],
        "success_url": STRING,
        "failure_url": STRING,
        "pending_url": STRING,
        "merchant_details": MERCHANT_DETAILS,
        "expiry_date": STRING,
        "reminder_time": NUMBER,
        "reminder_time_unit": ("hour", "day"),
        "scheduled_date": STRING,
        "description": STRING,
        "mobile_redirect_url": STRING,
        "default_guest_checkout": BOOLEAN,
        "is_billing_shipping_same": BOOLEAN,
        "show_items": BOOLEAN,
        "show_saved_cards": BOOLEAN,
        "notes": [NOTE],
        "custom_txn_webhook_urls": [STRING],
        "customer_details": CUSTOMER_DETAILS,
        "merchant_dcc_rate": DCC_RATE,
        **LINK_FLAGS,
        **UCF,
    },
    (),
)
REFUND: Schema = (
    {
        "amount": NUMBER,
        "channel": STRING,
        "description": STRING,
        "environment": ENVIRONMENTS,
        "refund_type": ("full", "partial"),
        "refund_reason": STRING,
    },
    ("amount", "channel", "description", "environment", "refund_type", "refund_reason"),
)
AUTH_TOKEN: Schema = (
    {"portone_key": STRING, "portone_secret": STRING},
    ("portone_key", "portone_secret"),
)
GENERATE_SIGNATURE: Schema = (
    {
        "portone_key": STRING,
        "currency": STRING,
        "amount": NUMBER,
        "merchant_order_id": STRING,
        "success_url": STRING,
        "failure_url": STRING,
    },
    ("portone_key", "currency", "amount", "merchant_order_id", "success_url", "failure_url"),
)
WEBHOOK: Schema = (
    {
        "name": STRING,
        "url": STRING,
        "type": (
            "payment_status",
            "payment_link_status",
            "refund_status",
            "subscription_status",
            "payout_status",
            "onboarding_status",
        ),
        "environment": ENVIRONMENTS,
    },
    ("name", "url", "type", "environment"),
)
PSP_CREDS: Schema = (
    {"creds": OBJECT, "country": STRING, "environment": ENVIRONMENTS},
    ("creds", "country", "environment"),
)
TRANSACTION_STATUS: Schema = (
    {"status": ("Success", "Failed"), "merchant_order_ref": STRING, "signature": STRING},
    ("status", "merchant_order_ref", "signature"),
)
TRANSACTION_DETAILS_UPDATE: Schema = ({"description": STRING, **UCF}, ())
TRANSACTION_DETAILS: Schema = ({"order_ref": STRING}, ("order_ref",))
FETCH_ALL_PAYMENTS: Schema = (
    {"page": INTEGER, "size": INTEGER, "from": STRING, "to": STRING, "environment": ENVIRONMENTS},
    ("page", "size", "to", "from", "environment"),
)

#: payment-request-signature.md: the signed fields of a payment request and a payment link.
REQUEST_SIGNED = (
    "amount",
    "client_key",
    "currency",
    "failure_url",
    "merchant_order_id",
    "success_url",
)
#: payment-webhook-response.md, and the redirect query (redirect-response.md).
WEBHOOK_SIGNED = (
    "amount",
    "channel_key",
    "channel_order_ref",
    "country_code",
    "currency",
    "merchant_order_ref",
    "method_name",
    "order_ref",
    "status",
)
REDIRECT_SIGNED = ("channel_order_ref", "merchant_order_ref", "order_ref", "status")
#: "Update Transaction Status" signs "the payload data": its other two members (inferred).
TRANSACTION_STATUS_SIGNED = ("merchant_order_ref", "status")


class Refused(Exception):
    """An error answer in PortOne's shape: ``{message, status_code, status_reason}``."""

    def __init__(self, http: int, code: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.http, self.code, self.reason, self.message = http, code, reason, message


def invalid(message: str) -> Refused:
    return Refused(400, "4001", "INVALID_REQUEST", f"Invalid Request, err : {message}")


# -- the emulator's own signing, JSON and tokens (nothing of the backend's) --------------------


def trimmed(amount: Decimal | int) -> str:
    """An amount as PortOne signs it: no trailing zeros (``100.00`` → ``100``)."""
    text = format(Decimal(amount), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def signature(secret: str, values: Mapping[str, object], fields: Iterable[str]) -> str:
    """base64(HMAC-SHA256(secret, message)): the fields sorted by name, each ``name=value``
    with both form-encoded as Go's ``url.Values.Encode`` writes them (UTF-8 bytes as
    ``%XX``, space as ``+``, only ``A-Z a-z 0-9 - _ . ~`` kept), joined by ``&``."""
    pairs = sorted((name, "" if values.get(name) is None else str(values[name])) for name in fields)
    message = "&".join(f"{quote_plus(k, safe='~')}={quote_plus(v, safe='~')}" for k, v in pairs)
    digest = hmac.new(secret.encode("utf-8"), message.encode("ascii"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _signature_matches(
    secret: str, values: Mapping[str, object], fields: Iterable[str], given: object
) -> bool:
    expected = signature(secret, values, fields).encode("ascii")
    return isinstance(given, str) and hmac.compare_digest(expected, given.encode("utf-8"))


def issue_token(client_key: str, secret: str, lifetime: int = TOKEN_LIFETIME) -> str:
    """A JWT as "Create JWT Token" gives one: HS256 with the secret key, iss PORTONE."""
    import jwt

    now = int(time.time())
    claims = {"exp": now + lifetime, "iat": now, "iss": ISSUER, "sub": client_key}
    return str(jwt.encode(claims, secret, algorithm="HS256"))


def _token_ok(token: str, client_key: str, secret: str) -> bool:
    """jwt-authentication.md: HS256 with the merchant's secret, ``iss`` PORTONE, ``sub`` the
    client key, ``exp`` and ``iat`` present and not expired."""
    # Imported here: the emulator's URLs load even where PyJWT (the extra) is missing.
    import jwt

    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "iat", "iss", "sub"]},
        )
    except jwt.InvalidTokenError:
        return False
    return claims.get("iss") == ISSUER and claims.get("sub") == client_key


class _Number(str):
    """Text the emulator writes into JSON as a number, unquoted: payment-openapi gives every
    amount as ``type: number, format: double``, and the emulator writes the currency's
    decimals exactly (``111.12``, ``100000``), never through a float."""


def dumps(data: Any) -> str:
    """The emulator's JSON writer: :class:`_Number` values bare, everything else as
    :func:`json.dumps` writes it, with no spaces between members."""
    if isinstance(data, _Number):
        return str(data)
    if isinstance(data, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in data.items()) + "}"
    if isinstance(data, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in data) + "]"
    return json.dumps(data)


def _number(value: Decimal, currency: str) -> Any:
    """An amount written as a bare JSON number with the currency's decimals."""
    return _Number(money.format_decimal(value, currency))


def _numbers(data: Any) -> Any:
    """Decimals read from a request (``parse_float=Decimal``) written back as bare numbers."""
    if isinstance(data, Decimal):
        return _Number(format(data, "f"))
    if isinstance(data, Mapping):
        return {k: _numbers(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_numbers(v) for v in data]
    return data


def answer(data: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(dumps(_numbers(data)), status=status, content_type="application/json")


def refused(exc: Refused) -> HttpResponse:
    body = {"message": exc.message, "status_code": exc.code, "status_reason": exc.reason}
    return answer({"is_success": False, **body}, exc.http)


def ok(content: Any = None, message: str = "", **extra: Any) -> HttpResponse:
    body: dict[str, Any] = {} if content is None else {"content": content}
    if message:
        body["message"] = message
    return answer({**body, **extra, "status_code": "2000", "status_reason": "SUCCESS"})


def _ref() -> str:
    return secrets.token_urlsafe(20).replace("-", "A").replace("_", "B")[:27]


def _when(text: str) -> datetime | None:
    """A time from ISO 8601 text, or ``None`` (also for a day or time that does not exist)."""
    try:
        return parse_datetime(text)
    except ValueError:
        return None


def _wire_time(value: Any) -> str:
    moment = value if not isinstance(value, str) else _when(value)
    if moment is None:
        return ""
    utc = moment.astimezone(dt_timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# -- checking what arrives ----------------------------------------------------------------------


def _is(value: Any, kind: Any) -> bool:
    if isinstance(kind, tuple) and isinstance(kind[0], dict):  # a nested schema
        return isinstance(value, dict)
    if isinstance(kind, tuple):  # an enum of strings
        return isinstance(value, str)
    if isinstance(kind, list):  # an array of items of one schema
        return isinstance(value, list)
    return {
        STRING: isinstance(value, str),
        NUMBER: isinstance(value, (int, Decimal)) and not isinstance(value, bool),
        INTEGER: isinstance(value, int) and not isinstance(value, bool),
        BOOLEAN: isinstance(value, bool),
        OBJECT: isinstance(value, dict),
        ARRAY: isinstance(value, list),
    }[kind]


def _kind_name(kind: Any) -> str:
    if isinstance(kind, tuple) and isinstance(kind[0], dict):
        return OBJECT
    if isinstance(kind, tuple):
        return "one of " + ", ".join(kind)
    if isinstance(kind, list):
        return ARRAY
    return str(kind)


def check(data: Mapping[str, Any], schema: Schema, where: str = "") -> None:
    """Refuse (4001) what the schema does not allow; ``null`` counts as absent."""
    members, required = schema
    for name in required:
        if data.get(name) in (None, ""):
            raise invalid(f"{where}{name} is a required field")
    for name, value in data.items():
        if name not in members:
            raise invalid(f"{where}{name} is not a field of this request")
        kind = members[name]
        if value is None:
            continue
        if not _is(value, kind):
            raise invalid(f"{where}{name} must be {_kind_name(kind)}")
        if isinstance(kind, tuple) and isinstance(kind[0], dict):
            check(value, kind, f"{where}{name}.")
        elif isinstance(kind, tuple) and value not in kind:
            raise invalid(f"{where}{name} must be {_kind_name(kind)}")
        elif isinstance(kind, list):
            item_kind = kind[0]
            for index, item in enumerate(value):
                if not _is(item, item_kind):
                    raise invalid(f"{where}{name}[{index}] must be {_kind_name(item_kind)}")
                if isinstance(item_kind, tuple):
                    check(item, item_kind, f"{where}{name}[{index}].")


def _body(request: HttpRequest, schema: Schema) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}", parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "4001", "INVALID_REQUEST", "body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "4001", "INVALID_REQUEST", "body must be a JSON object")
    check(data, schema)
    return data


def _money(data: Mapping[str, Any]) -> tuple[Decimal, str]:
    try:
        currency = money.normalize_currency(str(data["currency"]))
        return money.validate_amount(data["amount"], currency), currency
    except (KeyError, ValidationError):
        raise Refused(400, "4041", "INVALID_AMOUNT", "invalid amount or currency") from None


def _check_request_signature(
    account: Mapping[str, Any], data: Mapping[str, Any], amount: Decimal
) -> None:
    values = {
        "amount": trimmed(amount),
        "client_key": account["client_key"],
        "currency": data.get("currency"),
        "failure_url": data.get("failure_url"),
        "merchant_order_id": data.get("merchant_order_id"),
        "success_url": data.get("success_url"),
    }
    if not _signature_matches(
        str(account["secret_key"]), values, REQUEST_SIGNED, data.get("signature_hash")
    ):
        raise Refused(
            401,
            "4011",
            "INVALID_UNAUTHORISED_TRANSACTION_SIGNATURE_ERROR",
            "signature_hash does not match",
        )


def _future(value: Any, name: str) -> Any:
    """An ISO 8601 time with its offset (``expiry_date``, ``scheduled_date``), or refused."""
    moment = _when(value) if isinstance(value, str) else None
    if moment is None or moment.tzinfo is None:
        raise invalid(f"{name} must be a date and time in UTC format")
    return moment


# -- who is asking -------------------------------------------------------------------------------


def _account_by_key(key: str) -> dict[str, Any] | None:
    return account_with(BACKEND, "client_key", key)


def _account(request: HttpRequest, *, token: bool) -> dict[str, Any]:
    """The PortOne alias whose client key the request carries; with ``token``, also a valid
    JWT (HS256 with its secret, iss PORTONE, sub the client key, not expired)."""
    key = request.headers.get("X-Portone-Client-Key", "")
    account = _account_by_key(key)
    if account is None:
        raise Refused(
            401, "4010", "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR", "invalid auth key"
        )
    if token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not _token_ok(value, key, str(account["secret_key"])):
            raise Refused(
                401,
                "4054",
                "INVALID_UNAUTHORIZED_JWT_TOKEN_ERROR",
                "The JWT Token or header is invalid or expired!",
            )
    return account


def _own_key(account: Mapping[str, Any], key: str) -> None:
    """A path's ``{key}`` must be the caller's own PortOne key."""
    if key != account["client_key"]:
        raise Refused(
            400,
            "4016",
            "MERCHANT_NOT_FOUND",
            f"Merchants not found with this PortOne Key : {key}",
        )


def _api(auth: str = "jwt", methods: tuple[str, ...] = ("POST",)) -> Callable[..., Any]:
    """Authenticate (``jwt``: client key and JWT; ``key``: client key only; ``none``), turn
    ``Refused`` into PortOne's error answer."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @require_http_methods(list(methods))
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                account = None if auth == "none" else _account(request, token=auth == "jwt")
                return view(request, account, *args, **kwargs)
            except Refused as exc:
                return refused(exc)

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return wrapper

    return decorate


# -- records ---------------------------------------------------------------------------------------


def _transaction(key: str, account: Mapping[str, Any], *, by: str = "order_ref") -> dict[str, Any]:
    with store.table(TRANSACTIONS) as table:
        found = next(
            (
                t
                for t in table.values()
                if t[by] == key and t["_client_key"] == account["client_key"]
            ),
            None,
        )
    if found is None:
        raise Refused(
            400, "4096", "INVALID_REFERENCE", "Transaction record with given reference not found"
        )
    assert isinstance(found, dict)
    return found


def _link(ref: str, account: Mapping[str, Any]) -> dict[str, Any]:
    with store.table(LINKS) as table:
        found = table.get(ref)
    if found is None or found["_client_key"] != account["client_key"]:
        raise Refused(400, "4083", "INVALID_PAYMENT_LINK_REF", "Invalid payment link reference")
    _expire(found)
    assert isinstance(found, dict)
    return found


def _expire(link: dict[str, Any]) -> None:
    """A link past its ``expiry_date`` reads Expired (life-cycle.md)."""
    with store.table(LINKS):
        expiry = _when(str(link.get("expiry_date") or ""))
        if link["status"] == "Created" and expiry is not None and expiry <= timezone.now():
            link["status"] = "Expired"


def _buyer(data: Mapping[str, Any]) -> dict[str, str]:
    """``buyer_*`` of "Get Transaction Details", from the request's billing details."""
    billing = data.get("billing_details") or {}
    address = billing.get("billing_address") or {}
    name = " ".join(p for p in (billing.get("billing_name"), billing.get("billing_surname")) if p)
    return {
        "buyer_name": name,
        "buyer_email": str(billing.get("billing_email") or ""),
        "buyer_phone": str(billing.get("billing_phone") or ""),
        "buyer_address1": str(address.get("line_1") or ""),
        "buyer_address2": str(address.get("line_2") or ""),
        "buyer_city": str(address.get("city") or ""),
        "buyer_country": str(address.get("country_code") or ""),
    }


def _new_transaction(
    account: Mapping[str, Any], data: Mapping[str, Any], **fields: Any
) -> dict[str, Any]:
    amount, currency = _money(data)
    order_ref = _ref()
    channel = str(data.get("pmt_channel") or "EMULATED")
    method = str(data.get("pmt_method") or "EMULATED_CARD")
    routes = (data.get("routing_params") or {}).get("data") or []
    if data.get("routing_enabled") and routes:
        # Routing: the first-ranked route takes the payment (failover comes later).
        first = min(routes, key=lambda route: route.get("rank") or 0)
        channel, method = str(first["channel_key"]), str(first["method_key"])
    return {
        "order_ref": order_ref,
        "channel_order_ref": "",
        "merchant_order_ref": str(data.get("merchant_order_id")),
        "link_order_ref": "",
        "payment_link_ref": "",
        "amount": amount,
        "currency": currency,
        "country_code": str(data.get("country_code") or "SG"),
        "status": "Initiated",
        "status_code": "",
        "status_reason": "",
        "channel_key": channel,
        "method_key": method,
        "method_name": str(data.get("_method_name") or METHOD_NAME),
        "transaction_type": str(data.get("transaction_type") or "PURCHASE").upper(),
        "environment": str(data.get("environment", "sandbox")),
        "description": str(data.get("description") or ""),
        "source": "api",
        "routing_enabled": bool(data.get("routing_enabled")),
        "created_at": timezone.now().isoformat(),
        "success_url": str(data.get("success_url")),
        "failure_url": str(data.get("failure_url")),
        "pending_url": str(data.get("pending_url") or data.get("success_url")),
        **_buyer(data),
        **{name: str(data.get(name) or "") for name in UCF},
        "_client_key": account["client_key"],
        "_refunds": [],
        "_token_params": data.get("token_params"),
        # A PREAUTH that reads Success is held until captured; nothing on the wire says so.
        "_held": False,
        **fields,
    }


def _public(txn: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction as PortOne answers it: no internal or address fields, a number amount."""
    content = {k: v for k, v in txn.items() if not k.startswith("_") and not k.endswith("_url")}
    content["amount"] = _number(txn["amount"], txn["currency"])
    return content


# -- API: authentication and signatures -----------------------------------------------------------


@_api(auth="none")
def auth_token(request: HttpRequest, account: None) -> HttpResponse:
    """``POST /api/merchant/auth-token`` ("Create JWT Token"): key and secret in the body."""
    data = _body(request, AUTH_TOKEN)
    found = _account_by_key(str(data["portone_key"]))
    if found is None or not hmac.compare_digest(
        str(found["secret_key"]).encode(), str(data["portone_secret"]).encode()
    ):
        raise Refused(
            400,
            "4016",
            "MERCHANT_NOT_FOUND",
            f"Merchant not found for this key : {data['portone_key']}",
        )
    token = issue_token(str(found["client_key"]), str(found["secret_key"]))
    return ok(
        {"expires_in": TOKEN_LIFETIME, "token": token},
        message="Auth Token generated successfully!",
    )


@_api()
def generate_signature(request: HttpRequest, account: dict[str, Any]) -> HttpResponse:
    """``POST /api/merchant/generate-signature``: the payment request signature of the
    fields given, made as PortOne makes it (amount without trailing zeros)."""
    data = _body(request, GENERATE_SIGNATURE)
    if data["portone_key"] != account["client_key"]:
        raise Refused(
            400,
            "4016",
            "MERCHANT_NOT_FOUND",
            f"Merchant not found for this key : {data['portone_key']}",
        )
    values = {**data, "client_key": data["portone_key"], "amount": trimmed(data["amount"])}
    made = signature(str(account["secret_key"]), values, REQUEST_SIGNED)
    return ok({"signature": made}, message="Signature generated successfully!")


# -- API: payments ------------------------------------------------------------------------------


@_api(auth="key")
def initiate_payment(request: HttpRequest, account: dict[str, Any]) -> HttpResponse:
    """``POST /api/initiatePayment``: client key and signature_hash, no JWT."""
    data = _body(request, INITIATE_PAYMENT)
    if data["key"] != account["client_key"]:
        raise Refused(
            401, "4010", "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR", "key mismatch"
        )
    amount, _currency = _money(data)
    _check_request_signature(account, data, amount)
    if data.get("routing_params") and not data.get("routing_enabled"):
        raise invalid("routing_params is applicable only when routing_enabled is true")
    if data.get("token_params") and not (data["token_params"].get("token")):
        raise invalid("token_params.token is a required field")
    with store.table(TRANSACTIONS) as table:
        if any(
            t["merchant_order_ref"] == str(data["merchant_order_id"])
            and t["_client_key"] == account["client_key"]
            for t in table.values()
        ):
            raise Refused(400, "4002", "DUPLICATE_TRANSACTION_ERROR", "duplicate merchant_order_id")
        txn = _new_transaction(account, data)
        table[txn["order_ref"]] = txn
    url = request.build_absolute_uri(
        reverse("multipay_sandbox:portone-pay", args=[txn["order_ref"]])
    )
    return answer(
        {
            "is_success": True,
            "redirect_url": url,
            "channel_order_ref": txn["channel_order_ref"],
            "merchant_order_ref": txn["merchant_order_ref"],
            "order_ref": txn["order_ref"],
            "message": "",
            "deep_link": "",
            "additional_data": None,
            "qrcode_url": "",
            "expiry_in_minutes": "20",
        }
    )


@_api(methods=("GET",))
def transaction_status(
    request: HttpRequest, account: dict[str, Any], merchant_ref: str
) -> HttpResponse:
    """``GET /api/transaction/{merchantOrderRef}/status``."""
    txn = _transaction(merchant_ref, account, by="merchant_order_ref")
    content = {
        "channel_order_ref": txn["channel_order_ref"],
        "order_ref": txn["order_ref"],
        "status": txn["status"],
    }
    return answer({"content": content, "status_code": "2000", "status_reason": "SUCCESS"})


@_api()
def transaction_details(request: HttpRequest, account: dict[str, Any], key: str) -> HttpResponse:
    """``POST /api/{key}/transaction-details``."""
    data = _body(request, TRANSACTION_DETAILS)
    if key != account["client_key"]:
        raise Refused(
            401, "4010", "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR", "key mismatch"
        )
    txn = _transaction(str(data["order_ref"]), account)
    return answer({"content": _public(txn), "status_code": "2000", "status_reason": "SUCCESS"})


@_api(methods=("PUT",))
def transaction_status_update(request: HttpRequest, account: dict[str, Any]) -> HttpResponse:
    """``PUT /api/transaction/status`` ("Update Transaction Status or COD Order Status"):
    signed over ``merchant_order_ref`` and ``status``; only a transaction still open
    (Initiated or Pending) takes Success or Failed. Its payment webhook follows."""
    data = _body(request, TRANSACTION_STATUS)
    values = {"merchant_order_ref": data["merchant_order_ref"], "status": data["status"]}
    if not _signature_matches(
        str(account["secret_key"]), values, TRANSACTION_STATUS_SIGNED, data["signature"]
    ):
        raise Refused(
            401,
            "4011",
            "INVALID_UNAUTHORISED_TRANSACTION_SIGNATURE_ERROR",
            "signature does not match",
        )
    txn = _transaction(str(data["merchant_order_ref"]), account, by="merchant_order_ref")
    with store.table(TRANSACTIONS):
        if txn["status"] not in ("Initiated", "Pending"):
            raise Refused(400, "4079", "INVALID_STATUS_TYPE", f"Transaction is {txn['status']}")
        settle(txn, "success" if data["status"] == "Success" else "failure")
    deliver_webhook(request, txn, account)
    return answer(
        {
            "message": "Transaction status updated successfully",
            "status_code": "2000",
            "status_reason": "SUCCESS",
        }
    )


@_api(methods=("PUT",))
def transaction_details_update(
    request: HttpRequest, account: dict[str, Any], key: str, merchant_ref: str
) -> HttpResponse:
    """``PUT /api/{portOneKey}/update-transaction-details/{merchant_order_ref}``: a partial
    update of the description and the user configured fields."""
    _own_key(account, key)
    data = _body(request, TRANSACTION_DETAILS_UPDATE)
    txn = _transaction(merchant_ref, account, by="merchant_order_ref")
    with store.table(TRANSACTIONS):
        txn.update({k: v for k, v in data.items() if v is not None})
    return ok(
        {k: txn[k] for k in data if data[k] is not None},
        message="Transaction details updated successfully",
    )


#: ``MerchantTransactionsContent``: the members a listed payment has (no transaction type).
LISTED = (
    "currency",
    "order_ref",
    "channel_order_ref",
    "merchant_order_ref",
    "status",
    "channel_key",
    "method_name",
    "method_key",
    "status_code",
    "status_reason",
    "country_code",
    "buyer_name",
    "buyer_email",
    "buyer_phone",
    "buyer_address1",
    "buyer_address2",
    "buyer_city",
    "buyer_country",
    "source",
    "description",
    "link_order_ref",
    "payment_link_ref",
    *UCF,
)


def _listed(txn: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **{name: txn.get(name, "") for name in LISTED},
        "amount": _number(txn["amount"], txn["currency"]),
        "status_channel_reason": "",
        "created_at": _wire_time(txn["created_at"]),
        "is_refund_allowed": txn["status"] == "Success" and not txn["_held"],
        "is_multi_refund_allowed": True,
        "refund_completed": False,
        "merchant_key": account["client_key"],
        "remit_status": "UNSETTLED",
        "payment_link_merchant_order_ref": txn["link_order_ref"],
    }


@_api()
def fetch_all_payments(request: HttpRequest, account: dict[str, Any], key: str) -> HttpResponse:
    """``POST /api/merchant/{key}/fetch-all-payments`` ("Fetch Merchant Transactions"): the
    account's payments of one environment created from ``from`` to ``to``, newest first, a
    page at a time, in ``body`` (``MerchantTransactionsAPIResponseContent``)."""
    if key != account["client_key"]:
        return answer(
            {
                "message": f"Merchants not found with this PortOne Key : {key}",
                "status_code": "4016",
                "status_message": "MERCHANT_NOT_FOUND",
            },
            400,
        )
    data = _body(request, FETCH_ALL_PAYMENTS)
    page, size = data["page"], data["size"]
    if page < 1 or size < 1:
        raise invalid("page and size must be at least 1")
    start, end = _when(str(data["from"])), _when(str(data["to"]))
    if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
        raise invalid("from and to must be dates and times in UTC format")
    with store.table(TRANSACTIONS) as table:
        rows = [
            t
            for t in table.values()
            if t["_client_key"] == account["client_key"]
            and t["environment"] == data["environment"]
            and start <= _when(t["created_at"]) <= end  # type: ignore[operator]
        ]
        rows.sort(key=lambda t: str(t["created_at"]), reverse=True)
        content = [_listed(t, account) for t in rows[(page - 1) * size : page * size]]
    pages = (len(rows) + size - 1) // size
    return answer(
        {
            "body": {
                "content": content,
                "total_elements": len(rows),
                "total_pages": pages,
                "size": size,
                "page": page,
                "number_of_elements": len(content),
            },
            "status_code": "2000",
            "status_message": "SUCCESS",
        }
    )


@_api()
def capture(request: HttpRequest, account: dict[str, Any], order_ref: str) -> HttpResponse:
    """``POST /api/transaction/{order_ref}/capture`` (no body): captures a held PREAUTH. Its
    status reads Success before and after, as "Get Transaction Status" names no other; a
    purchase, a payment not held, or one already captured is refused."""
    txn = _transaction(order_ref, account)
    with store.table(TRANSACTIONS):
        if txn["transaction_type"] != "PREAUTH" or txn["status"] != "Success" or not txn["_held"]:
            state = "captured" if txn["status"] == "Success" else txn["status"]
            raise Refused(400, "4079", "INVALID_STATUS_TYPE", f"Transaction is {state}")
        txn.update(_held=False, status_code="2000", status_reason="SUCCESS")
    deliver_webhook(request, txn, account)
    return answer(
        {
            "message": "Transaction captured successfully",
            "status_code": "2000",
            "status_reason": "SUCCESS",
        }
    )


# -- API: payment links ---------------------------------------------------------------------------


@_api()
def payment_link(request: HttpRequest, account: dict[str, Any]) -> HttpResponse:
    """``POST /api/paymentLink``: a link to the hosted checkout page; a master merchant may
    make it for a sub-merchant (``X-Portone-SubMerchant-Key``)."""
    data = _body(request, PAYMENT_LINK)
    if data["portone_key"] != account["client_key"]:
        raise Refused(
            401, "4010", "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR", "key mismatch"
        )
    amount, currency = _money(data)
    _check_request_signature(account, data, amount)
    if data.get("expiry_date"):
        _future(data["expiry_date"], "expiry_date")
    for url in data.get("custom_txn_webhook_urls") or []:
        if urlsplit(url).scheme not in ("http", "https"):
            raise invalid("custom_txn_webhook_urls must hold http or https URLs")
    ref = _ref()
    link = {
        "ref": ref,
        "merchant_order_ref": str(data["merchant_order_id"]),
        "status": "Created",
        "amount": amount,
        "currency": currency,
        "country_code": str(data["country_code"]),
        "description": str(data.get("description", "")),
        "expiry_date": data.get("expiry_date") or "",
        "data": data,
        "transactions": [],
        "created_at": timezone.now().isoformat(),
        "_client_key": account["client_key"],
        "_sub_merchant": request.headers.get("X-Portone-SubMerchant-Key", ""),
    }
    with store.table(LINKS) as table:
        if any(
            li["merchant_order_ref"] == link["merchant_order_ref"]
            and li["_client_key"] == account["client_key"]
            for li in table.values()
        ):
            raise Refused(400, "4002", "DUPLICATE_TRANSACTION_ERROR", "duplicate merchant_order_id")
        table[ref] = link
    url = request.build_absolute_uri(reverse("multipay_sandbox:portone-checkout")) + f"?ref={ref}"
    return answer({"payment_link_ref": ref, "payment_link": url})


def _link_answer(link: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, Any]:
    """A link as "Update the Payment Link" answers it (the members it names)."""
    data = link["data"]
    return {
        **{k: v for k, v in data.items() if k not in ("signature_hash", "amount")},
        "chaipay_key": account["client_key"],
        "portone_key": account["client_key"],
        "amount": _number(link["amount"], link["currency"]),
        "currency": link["currency"],
        "status": link["status"],
        "link": f"https://checkout.portone.cloud?ref={link['ref']}",
        "created_at": _wire_time(link["created_at"]),
        "expired_at": _wire_time(data["expiry_date"]) if data.get("expiry_date") else "",
        "link_order_ref": link["merchant_order_ref"],
        "master_merchant_key": account["client_key"] if link["_sub_merchant"] else "",
    }


@_api(methods=("PUT",))
def update_paylink(request: HttpRequest, account: dict[str, Any], ref: str) -> HttpResponse:
    """``PUT /api/update-paylink/{payment_link_ref}``: a link still Created takes new values
    for the members the document names; the same sub-merchant header as at creation."""
    link = _link(ref, account)
    if request.headers.get("X-Portone-SubMerchant-Key", "") != link["_sub_merchant"]:
        raise Refused(400, "4083", "INVALID_PAYMENT_LINK_REF", "Invalid payment link reference")
    data = _body(request, UPDATE_PAYLINK)
    for name in ("expiry_date", "scheduled_date"):
        if data.get(name):
            _future(data[name], name)
    with store.table(LINKS):
        if link["status"] != "Created":
            raise Refused(
                400,
                "4001",
                "INVALID_PAYMENT_REQUEST",
                f"Payment link in status {link['status']} cannot be updated",
            )
        if "amount" in data or "currency" in data:
            merged = {
                "amount": data.get("amount", link["amount"]),
                "currency": data.get("currency", link["currency"]),
            }
            link["amount"], link["currency"] = _money(merged)
        if "merchant_details" in data:
            data["merchant_details"] = {
                **link["data"]["merchant_details"],
                **data["merchant_details"],
            }
        link["data"] = {**link["data"], **{k: v for k, v in data.items() if v is not None}}
        link["expiry_date"] = link["data"].get("expiry_date") or ""
    return ok(_link_answer(link, account), message="Payment link updated successfully")


@_api(methods=("PUT",))
def link_status_update(
    request: HttpRequest, account: dict[str, Any], ref: str, link_status: str
) -> HttpResponse:
    """``PUT /api/paymentLink/{ref}/status/{link_status}``: only ``cancelled``."""
    link = _link(ref, account)
    if link_status != "cancelled":
        raise Refused(
            401,
            "4001",
            "INVALID_PAYMENT_REQUEST",
            "Invalid status! Only cancelled status is allowed",
        )
    with store.table(LINKS):
        if link["status"] not in ("Created", "Processing"):
            raise Refused(
                400, "4001", "INVALID_PAYMENT_REQUEST", f"Payment link is {link['status']}"
            )
        link["status"] = "Cancelled"
    return answer(
        {
            "message": "Payment link status updated successfully to cancelled",
            "status_code": "2000",
            "status_reason": "SUCCESS",
        }
    )


def _link_content(link: Mapping[str, Any]) -> dict[str, Any]:
    """``PaymentLinkContent``."""
    transactions = [
        {
            "channelOrderRef": t["channel_order_ref"],
            "createdAt": t.get("created_at", ""),
            "merchantOrderRef": t["merchant_order_ref"],
            "status": t["status"],
            "statusCode": t["status_code"],
            "statusReason": t["status_reason"],
        }
        for t in link["transactions"]
    ]
    return {
        "merchantOrderRef": link["merchant_order_ref"],
        "paymentLinkRef": link["ref"],
        "status": link["status"],
        "transactionsList": transactions,
    }


@_api(methods=("GET",))
def link_fetch_status(request: HttpRequest, account: dict[str, Any], ref: str) -> HttpResponse:
    """``GET /api/paymentLink/{portOneLinkRef}/fetch-status``."""
    link = _link(ref, account)
    return answer(
        {"content": _link_content(link), "status_code": "2000", "status_reason": "SUCCESS"}
    )


@_api(methods=("GET",))
def merchant_link_status(
    request: HttpRequest, account: dict[str, Any], sub_key: str, merchant_ref: str
) -> HttpResponse:
    """``GET /api/merchant/{smchKey}/paymentLink/{merchantLinkRef}/status``: a link by the
    merchant's reference, of the caller's account (``smchKey`` its own key) or of the
    sub-merchant it made the link for (``smchKey`` that sub-merchant's key)."""
    with store.table(LINKS) as table:
        found = next(
            (
                li
                for li in table.values()
                if li["merchant_order_ref"] == merchant_ref
                and li["_client_key"] == account["client_key"]
                and (li["_sub_merchant"] or account["client_key"]) == sub_key
            ),
            None,
        )
    if found is None:
        raise Refused(400, "4083", "INVALID_PAYMENT_LINK_REF", "Invalid payment link reference")
    _expire(found)
    return answer(
        {"content": _link_content(found), "status_code": "2000", "status_reason": "SUCCESS"}
    )


# -- API: refunds (refund-openapi) --------------------------------------------------------------


def _refund_answer(txn: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "amountToRefund": _number(_left(txn), txn["currency"]),
        "refundDetails": [
            {**r, "amount": _number(r["amount"], r["currency"])} for r in txn["_refunds"]
        ],
    }


def _left(txn: Mapping[str, Any]) -> Decimal:
    done = sum((r["amount"] for r in txn["_refunds"] if r["refund_status"] != "FAILED"), Decimal(0))
    return Decimal(txn["amount"]) - done


@_api(methods=("GET", "POST"))
def refunds(request: HttpRequest, account: dict[str, Any], order_ref: str) -> HttpResponse:
    """``GET``/``POST /api/refund/{order_ref}`` (portone-refunds.txt): every refund, and what
    is left to refund (``amountToRefund``)."""
    txn = _transaction(order_ref, account)
    if request.method == "GET":
        return answer(_refund_answer(txn))
    data = _body(request, REFUND)
    if data["channel"] != txn["channel_key"]:
        raise Refused(400, "4046", "INVALID_PAYMENT_CHANNEL_KEY", "channel is not the payment's")
    with store.table(TRANSACTIONS):
        if txn["status"] != "Success" or txn["_held"]:
            # A hold is released, not refunded: only money taken can be given back.
            raise Refused(
                400,
                "4070",
                "INVALID_PAYMENT_REQUEST_REFUND_NOT_ALLOWED",
                f"Transaction is {'held' if txn['_held'] else txn['status']}",
            )
        left = _left(txn)
        if data["refund_type"] == "full":
            amount = left  # the amount is ignored for a full refund
        else:
            amount = money.validate_amount(data["amount"], txn["currency"])
        if amount <= 0 or amount > left:
            raise Refused(
                400, "4041", "INVALID_AMOUNT", f"amount exceeds the {left} left to refund"
            )
        refund = {
            "refund_date": timezone.now().isoformat(),
            "refund_id": _ref()[:22],
            "psp_refund_id": str(secrets.randbelow(10**10)),
            "amount": amount,
            "currency": txn["currency"],
            "refund_status": "SUCCESS",
            "refund_type": data["refund_type"],
            "refund_reason": str(data["refund_reason"]),
            "merchant_id": "1",
            "description": str(data["description"]),
        }
        txn["_refunds"].append(refund)
    deliver_refund_webhook(request, txn, refund, account)
    return answer(_refund_answer(txn))


# -- API: webhook endpoints -----------------------------------------------------------------------


@_api(methods=("GET", "POST"))
def webhooks(request: HttpRequest, account: dict[str, Any], key: str) -> HttpResponse:
    """``POST``/``GET /api/merchant/{key}/webhook``: add an endpoint (its name unique, its
    URL unique for its type and environment), or list those of ``?environment=``."""
    if key != account["client_key"]:
        raise Refused(
            401, "4010", "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR", "invalid auth key"
        )
    with store.table(WEBHOOKS) as table:
        hooks = table.setdefault(account["client_key"], [])
        if request.method == "GET":
            environment = request.GET.get("environment", "")
            if environment not in ENVIRONMENTS:
                raise invalid("environment is a required field (live or sandbox)")
            listed = [
                {k: v for k, v in h.items() if k != "environment"}
                for h in hooks
                if h["environment"] == environment
            ]
            return ok(listed, message="Webhook fetched successfully!")
        data = _body(request, WEBHOOK)
        if urlsplit(data["url"]).scheme not in ("http", "https"):
            raise invalid("url must be an http or https URL")
        for hook in hooks:
            if hook["name"] == data["name"]:
                raise Refused(400, "4002", "DUPLICATE_WEBHOOK", "webhook name already exists")
            if (hook["url"], hook["type"], hook["environment"]) == (
                data["url"],
                data["type"],
                data["environment"],
            ):
                raise Refused(400, "4002", "DUPLICATE_WEBHOOK", "webhook url already exists")
        hook = {
            "name": data["name"],
            "uuid": str(uuid.uuid4()),
            "url": data["url"],
            "enabled": True,
            "created_at": timezone.now().strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC"),
            "type": data["type"],
            "environment": data["environment"],
        }
        hooks.append(hook)
    return ok(
        {k: v for k, v in hook.items() if k != "environment"},
        message="Webhook added successfully!",
    )


# -- API: PSP credentials -------------------------------------------------------------------------


def _mask(value: Any) -> str:
    """As PortOne masks a credential: stars, then its last three characters."""
    text = json.dumps(value) if not isinstance(value, str) else value
    return "*" * max(len(text) - 3, 0) + text[-3:]


@_api(methods=("POST", "PUT"))
def pay_channel_creds(
    request: HttpRequest, account: dict[str, Any], key: str, channel: str
) -> HttpResponse:
    """``POST`` (add) and ``PUT`` (update) ``/api/merchant/{key}/add-pay-channel/{pckey}``:
    the answer names the credentials with their values masked."""
    _own_key(account, key)
    data = _body(request, PSP_CREDS)
    if not data["creds"]:
        raise invalid("creds is a required field")
    entry = f"{account['client_key']}|{data['environment']}|{channel}"
    with store.table(CHANNELS) as table:
        if request.method == "POST" and entry in table:
            raise Refused(400, "4002", "DUPLICATE_PAY_CHANNEL", "Payment channel already added")
        if request.method == "PUT" and entry not in table:
            raise Refused(400, "4046", "INVALID_PAYMENT_CHANNEL_KEY", "Payment channel not added")
        table[entry] = {"creds": data["creds"], "country": data["country"], "key": channel}
    return ok(
        {
            "MerchantUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, str(account["client_key"]))),
            "PaymentChannelKey": channel,
            "maskedData": {k: _mask(v) for k, v in data["creds"].items()},
        },
        message="Payment Channel Creds added successfully!",
    )


@_api(methods=("GET",))
def pay_channel(
    request: HttpRequest, account: dict[str, Any], key: str, channel: str
) -> HttpResponse:
    """``GET /api/merchant/{key}/pay-channel/{pckey}?environment=&payType=``."""
    _own_key(account, key)
    environment, pay_type = request.GET.get("environment", ""), request.GET.get("payType", "")
    if environment not in ENVIRONMENTS:
        raise invalid("environment is a required field (live or sandbox)")
    if pay_type not in ("PAYIN", "PAYOUT"):
        raise invalid("payType is a required field (PAYIN or PAYOUT)")
    with store.table(CHANNELS) as table:
        found = table.get(f"{account['client_key']}|{environment}|{channel}")
    content = (
        [
            {
                "key": channel,
                "type": "Gateway",
                "logo": "",
                "creds": {k: _mask(v) for k, v in found["creds"].items()},
                "is_enabled": True,
                "country": found["country"],
                "pay_type": pay_type,
                "is_va_flow": False,
            }
        ]
        if found and pay_type == "PAYIN"
        else []
    )
    return ok(content, message="Payment Channel Creds fetched successfully!")


# -- webhooks ----------------------------------------------------------------------------------


def notify_urls(
    request: HttpRequest, account: Mapping[str, Any], kind: str, environment: str
) -> list[str]:
    """Where PortOne sends a webhook of ``kind``: the endpoints the account registered for it
    ("Add Webhook Endpoint"); else its ``webhook_url`` option (set in PortOne's dashboard
    in real life); else the shop's notify URL for the alias."""
    with store.table(WEBHOOKS) as table:
        registered = [
            h["url"]
            for h in table.get(str(account.get("client_key")), [])
            if h["type"] == kind and h["environment"] == environment and h["enabled"]
        ]
    if registered:
        return registered
    if account.get("webhook_url"):
        return [str(account["webhook_url"])]
    try:
        path_ = reverse("django_multipay:notify", kwargs={"alias": account["alias"]})
    except NoReverseMatch:
        return []
    base = multipay_settings.BASE_URL
    return [str(base).rstrip("/") + path_ if base else request.build_absolute_uri(path_)]


def webhook_for(txn: Mapping[str, Any], secret: str) -> dict[str, Any]:
    """The payment webhook body (payment-webhook.md), signed with ``signature_hash``."""
    body = {
        "currency": txn["currency"],
        "amount": _number(txn["amount"], txn["currency"]),
        "order_ref": txn["order_ref"],
        "channel_order_ref": txn["channel_order_ref"],
        "merchant_order_ref": txn["merchant_order_ref"],
        "country_code": txn["country_code"],
        "status": txn["status"],
        "channel_key": txn["channel_key"],
        "method_name": txn["method_name"],
        "method_key": txn["method_key"],
        "status_code": txn["status_code"],
        "status_reason": txn["status_reason"],
        "environment": txn["environment"],
        "link_order_ref": txn["link_order_ref"],
        "payment_link_ref": txn["payment_link_ref"],
        "source": "checkout" if txn["payment_link_ref"] else "api",
    }
    values = {**body, "amount": trimmed(txn["amount"])}
    body["signature_hash"] = signature(secret, values, WEBHOOK_SIGNED)
    return body


def refund_webhook_for(txn: Mapping[str, Any], refund: Mapping[str, Any]) -> dict[str, Any]:
    """The refund webhook body (refund-webhook.md): no signature."""
    return {
        **refund,
        "amount": _number(refund["amount"], refund["currency"]),
        "payment_txn_ref": txn["order_ref"],
        "payment_channel": txn["channel_key"],
        "payment_method": txn["method_name"],
    }


def _post(url: str | None, body: Mapping[str, Any]) -> bool:
    if not url:
        return False
    try:
        response = requests.post(
            url,
            data=dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            timeout=(5, 30),
        )
    except requests.RequestException as exc:
        logger.warning("PortOne webhook to %s failed: %s", url, exc)
        return False
    return 200 <= response.status_code < 300


def _deliver(urls: Iterable[str], body: Mapping[str, Any]) -> bool:
    delivered = [_post(url, body) for url in urls]
    return bool(delivered) and all(delivered)


def deliver_webhook(
    request: HttpRequest, txn: Mapping[str, Any], account: Mapping[str, Any]
) -> bool:
    urls = notify_urls(request, account, "payment_status", str(txn["environment"]))
    link = None
    if txn["payment_link_ref"]:
        with store.table(LINKS) as links:
            link = links.get(txn["payment_link_ref"])
    if link is not None:
        # custom_txn_webhook_urls: this link's payment webhooks go there too.
        urls += [u for u in link["data"].get("custom_txn_webhook_urls") or [] if u not in urls]
    return _deliver(urls, webhook_for(txn, str(account["secret_key"])))


def deliver_refund_webhook(
    request: HttpRequest,
    txn: Mapping[str, Any],
    refund: Mapping[str, Any],
    account: Mapping[str, Any],
) -> bool:
    urls = notify_urls(request, account, "refund_status", str(txn["environment"]))
    return _deliver(urls, refund_webhook_for(txn, refund))


# -- the customer's pages -------------------------------------------------------------------


def redirect_query(txn: Mapping[str, Any], secret: str) -> str:
    """The query PortOne appends to the shop's URL (redirect-parameters.md), signed."""
    from urllib.parse import urlencode

    query = {
        "order_ref": txn["order_ref"],
        "channel_order_ref": txn["channel_order_ref"],
        "merchant_order_ref": txn["merchant_order_ref"],
        "status": txn["status"],
        "status_code": txn["status_code"],
        "status_reason": txn["status_reason"],
        "amount": trimmed(txn["amount"]),
        "currency": txn["currency"],
        "link_order_ref": txn["link_order_ref"],
        "method_name": txn["method_name"],
    }
    query["signature_hash"] = signature(secret, query, REDIRECT_SIGNED)
    return urlencode(query)


def _account_for(txn: Mapping[str, Any]) -> dict[str, Any] | None:
    return _account_by_key(str(txn["_client_key"]))


def settle(txn: dict[str, Any], outcome: str) -> None:
    """Put the transaction in the state ``outcome`` leads to. A PREAUTH success reads
    "Success" (the documented word) and is held until captured."""
    status, code, reason = OUTCOMES[outcome]
    txn.update(
        _held=status == "Success" and txn["transaction_type"] == "PREAUTH",
        status=status,
        status_code=code,
        status_reason=reason,
        channel_order_ref=txn["channel_order_ref"] or "ch_" + secrets.token_hex(6),
    )


def _finish(request: HttpRequest, txn: dict[str, Any], outcome: str) -> HttpResponse:
    account = _account_for(txn)
    if account is None:
        return HttpResponse("Unknown merchant.", status=404, content_type="text/plain")
    with store.table(TRANSACTIONS):
        if txn["status"] not in ("Initiated", "Pending"):
            return HttpResponse(
                f"Payment is already {txn['status']}.", status=409, content_type="text/plain"
            )
        settle(txn, outcome)
    if txn["payment_link_ref"]:
        with store.table(LINKS) as links:
            link = links[txn["payment_link_ref"]]
            link["status"] = "Success" if txn["status"] == "Success" else "Processing"
    deliver_webhook(request, txn, account)
    target = {"Success": "success_url", "Pending": "pending_url"}.get(txn["status"], "failure_url")
    url = txn[target]
    return HttpResponseRedirect(
        url + ("&" if "?" in url else "?") + redirect_query(txn, str(account["secret_key"]))
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def hosted_page(request: HttpRequest, order_ref: str) -> HttpResponse:
    """The channel's page for an initiated payment: succeed, fail, stay pending, or cancel."""
    with store.table(TRANSACTIONS) as table:
        txn = table.get(order_ref)
    if txn is None:
        return HttpResponse("No such payment.", status=404, content_type="text/plain")
    if request.method == "GET":
        return render(
            request,
            "django_multipay/sandbox/portone_checkout.html",
            {
                "amount": money.format_decimal(txn["amount"], txn["currency"]),
                "currency": txn["currency"],
                "reference": txn["merchant_order_ref"],
                "outcomes": list(OUTCOMES),
                "link": False,
            },
        )
    outcome = request.POST.get("outcome", "")
    if outcome not in OUTCOMES:
        return HttpResponse("Choose an outcome.", status=400, content_type="text/plain")
    return _finish(request, txn, outcome)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def checkout_page(request: HttpRequest) -> HttpResponse:
    """PortOne's own checkout page for a payment link (``?ref=<link ref>``)."""
    ref = request.GET.get("ref", "")
    with store.table(LINKS) as links:
        link = links.get(ref)
    if link is None:
        return HttpResponse("No such payment link.", status=404, content_type="text/plain")
    _expire(link)
    if request.method == "GET":
        return render(
            request,
            "django_multipay/sandbox/portone_checkout.html",
            {
                "amount": money.format_decimal(link["amount"], link["currency"]),
                "currency": link["currency"],
                "reference": link["merchant_order_ref"],
                "outcomes": list(OUTCOMES),
                "link": True,
            },
        )
    outcome = request.POST.get("outcome", "")
    if outcome not in OUTCOMES:
        return HttpResponse("Choose an outcome.", status=400, content_type="text/plain")
    with store.table(LINKS):
        if link["status"] not in ("Created", "Processing"):
            return HttpResponse(
                f"Payment link is {link['status']}.", status=409, content_type="text/plain"
            )
        account = {"client_key": link["_client_key"]}
        data = {
            **link["data"],
            "amount": link["amount"],
            "currency": link["currency"],
            "merchant_order_id": f"{ref}_{len(link['transactions']) + 1}",
            "pmt_channel": "EMULATED",
            "pmt_method": "EMULATED_CARD",
            "transaction_type": "PURCHASE",
        }
        txn = _new_transaction(
            account,
            data,
            link_order_ref=link["merchant_order_ref"],
            payment_link_ref=ref,
            source="checkout",
        )
        link["transactions"].append(txn)
    with store.table(TRANSACTIONS) as table:
        table[txn["order_ref"]] = txn
    return _finish(request, txn, outcome)


urlpatterns = [
    path("api/merchant/auth-token", auth_token, name="portone-auth-token"),
    path("api/merchant/generate-signature", generate_signature, name="portone-signature"),
    path("api/merchant/<str:key>/webhook", webhooks, name="portone-webhooks"),
    path(
        "api/merchant/<str:key>/fetch-all-payments",
        fetch_all_payments,
        name="portone-fetch-all-payments",
    ),
    path(
        "api/merchant/<str:sub_key>/paymentLink/<str:merchant_ref>/status",
        merchant_link_status,
        name="portone-merchant-link-status",
    ),
    path(
        "api/merchant/<str:key>/add-pay-channel/<str:channel>",
        pay_channel_creds,
        name="portone-add-pay-channel",
    ),
    path(
        "api/merchant/<str:key>/pay-channel/<str:channel>", pay_channel, name="portone-pay-channel"
    ),
    path("api/initiatePayment", initiate_payment, name="portone-initiate"),
    path("api/paymentLink", payment_link, name="portone-link"),
    path("api/update-paylink/<str:ref>", update_paylink, name="portone-link-update"),
    path(
        "api/paymentLink/<str:ref>/status/<str:link_status>",
        link_status_update,
        name="portone-link-status",
    ),
    path("api/paymentLink/<str:ref>/fetch-status", link_fetch_status, name="portone-link-fetch"),
    path("api/transaction/status", transaction_status_update, name="portone-status-update"),
    path("api/transaction/<str:merchant_ref>/status", transaction_status, name="portone-status"),
    path("api/transaction/<str:order_ref>/capture", capture, name="portone-capture"),
    path("api/refund/<str:order_ref>", refunds, name="portone-refunds"),
    path("api/<str:key>/transaction-details", transaction_details, name="portone-details"),
    path(
        "api/<str:key>/update-transaction-details/<str:merchant_ref>",
        transaction_details_update,
        name="portone-details-update",
    ),
    path("pay/<str:order_ref>", hosted_page, name="portone-pay"),
    path("checkout", checkout_page, name="portone-checkout"),
]

# Answered only where test-only parts may run (DEBUG, or ALLOW_TEST_GATEWAYS).
urlpatterns = guarded(urlpatterns)
