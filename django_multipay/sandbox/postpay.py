"""Emulator of the Postpay v1 API: checkouts, hosted checkout, capture, orders, refunds,
settlement transactions and hooks, with signed webhooks; as strict as the documented API."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

import requests
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from django_multipay import money
from django_multipay.sandbox.accounts import accounts
from django_multipay.sandbox.guard import guarded
from django_multipay.sandbox.store import store

logger = logging.getLogger("django_multipay.sandbox.postpay")

CONTENT_TYPE = "application/vnd.api+json"
#: A checkout can be completed for an hour ("Create a checkout" sample: created + 1 h).
CHECKOUT_TTL = timedelta(hours=1)
#: An approved order must be captured within this time, or capture answers 410 expired.
CAPTURE_TTL = timedelta(days=7)
#: Settlement fee of an order transaction, as in the "List transactions" sample:
#: 4.50 % plus 1.00, plus 5 % tax on the fee.
FEE_RATE, FEE_TAX_RATE, FEE_AMOUNT = 450, 500, 100
OUTCOMES = ("approve", "deny", "cancel")
#: "Address": the fields, each a String ("country": an ISO 3166 alpha-2 code).
ADDRESS_STRINGS = (
    "first_name",
    "last_name",
    "phone",
    "alt_phone",
    "line1",
    "line2",
    "city",
    "state",
    "country",
    "postal_code",
)
REQUIRED = "This field is required."
#: The backend whose aliases are the emulator's merchant accounts (named, never imported).
BACKEND = "django_multipay.gateways.postpay.PostpayGateway"

# -- the document's rules ------------------------------------------------------------------------
# Written here from postpay.txt, not taken from the backend, so that one misreading of the
# document cannot pass both sides. A field is required where its table marks it with ❗️.

#: "Create a checkout" (POST /checkouts): the body's required members. ``merchant`` is not
#: marked: "The merchant configuration", optional in the document (see MERCHANT_NEEDED).
CHECKOUT_REQUIRED = (
    "order_id",
    "total_amount",
    "tax_amount",
    "currency",
    "shipping",
    "customer",
    "items",
)
#: "⚬ Address": first_name, last_name, line1, city, country, postal_code (phone, alt_phone,
#: line2 and state are not marked).
ADDRESS_REQUIRED = ("first_name", "last_name", "line1", "city", "country", "postal_code")
#: "⚬ Shipping": name, amount, address (id is not marked).
SHIPPING_REQUIRED = ("name", "amount", "address")
#: "⚬ Customer": email only.
CUSTOMER_REQUIRED = ("email",)
#: "⚬ Item": reference, name, url, unit_price, qty (description and image_url are not).
ITEM_REQUIRED = ("reference", "name", "url", "unit_price", "qty")
#: "⚬ Discount": code and amount (name is not).
DISCOUNT_REQUIRED = ("code", "amount")
#: "⚬ Merchant": both URLs, whenever a merchant object is sent.
MERCHANT_REQUIRED = ("confirmation_url", "cancel_url")
#: The emulator's own limit, not the document's: the real service presumably falls back on
#: the URLs configured for the merchant, which the emulator has none of, so it needs the
#: ``merchant`` object to send the customer back.
MERCHANT_NEEDED = "The emulator has no merchant settings: send merchant with both URLs."
#: "Create a hook": "Events the hook is triggered for. Options are order, transaction."
HOOK_EVENTS = ("order", "transaction")
#: "Pagination": "20 items by default ... a custom page size up to 50".
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 50


class ApiError(Exception):
    """An error answer: ``{"error": {"code", "message", "fields"}}`` ("Errors")."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def _answer(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, content_type=CONTENT_TYPE, safe=False)


def _error(exc: ApiError) -> JsonResponse:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.fields:
        error["fields"] = exc.fields
    return _answer({"error": error}, exc.status)


def _now() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


def _account(request: HttpRequest) -> dict[str, Any]:
    """The Postpay alias whose ``merchant_id:secret_key`` the Basic credentials carry."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    merchant, sep, key = decoded.partition(":")
    if scheme.lower() == "basic" and sep and merchant and key:
        for account in accounts(BACKEND):
            same_id = secrets.compare_digest(str(account.get("merchant_id") or ""), merchant)
            same_key = secrets.compare_digest(str(account.get("secret_key") or ""), key)
            if same_id and same_key:
                return account
    raise ApiError(401, "authentication_failed", "Invalid authentication credentials.")


def _check_accept(request: HttpRequest) -> None:
    """Only ``application/vnd.postpay+json; version=v1`` ("Media types")."""
    media, *params = [p.strip() for p in request.headers.get("Accept", "").split(";")]
    options = dict(p.partition("=")[::2] for p in params)
    if media != "application/vnd.postpay+json" or options.get("version") != "v1":
        raise ApiError(406, "not_acceptable", "Could not satisfy the request Accept header.")


def _body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    if request.content_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", f'Unsupported media type "{request.content_type}".'
        )
    try:
        data = json.loads(request.body)
    except ValueError:
        raise ApiError(400, "parse_error", "Malformed request.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "parse_error", "Malformed request.")
    return data


View = Callable[..., Any]


def _api(*methods: str) -> Callable[[View], View]:
    """Authenticate, check the Accept header and method, parse the body; errors → JSON."""

    def decorate(view: View) -> View:
        @csrf_exempt
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                account = _account(request)
                _check_accept(request)
                if request.method not in methods:
                    raise ApiError(
                        405, "method_not_allowed", f'Method "{request.method}" not allowed.'
                    )
                data = _body(request) if request.method in ("POST", "PATCH") else {}
                with store.table("postpay.lock"):
                    result = view(request, account, data, **kwargs)
                response, deliveries = result if isinstance(result, tuple) else (result, [])
            except ApiError as exc:
                return _error(exc)
            for hook, event in deliveries:
                deliver(hook, event)
            return response  # type: ignore[no-any-return]

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return wrapper

    return decorate


def _merchant(account: dict[str, Any]) -> str:
    return str(account["merchant_id"])


def _orders(account: dict[str, Any]) -> dict[str, dict[str, Any]]:
    with store.table("postpay.orders") as table:
        return table.setdefault(_merchant(account), {})  # type: ignore[no-any-return]


def _order(account: dict[str, Any], order_id: str) -> dict[str, Any]:
    found = _orders(account).get(order_id)
    if found is None:
        raise ApiError(404, "not_found", "Not found.")
    return found


def _list(account: dict[str, Any], name: str) -> list[dict[str, Any]]:
    with store.table(f"postpay.{name}") as table:
        return table.setdefault(_merchant(account), [])  # type: ignore[no-any-return]


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def summary(order: dict[str, Any]) -> dict[str, Any]:
    """The order as lists and transactions show it."""
    keys = ("order_id", "status", "status_changed", "total_amount", "tax_amount", "currency")
    return {**{k: order[k] for k in keys}, "created": order["created"]}


def _set_status(order: dict[str, Any], status: str) -> None:
    order["status"] = status
    order["status_changed"] = _now()


# -- validation ("Create a checkout") --------------------------------------------------------


def _validate_checkout(data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def need(obj: Any, names: tuple[str, ...], prefix: str) -> None:
        if not isinstance(obj, dict):
            return
        for name in names:
            if obj.get(name) in (None, "", []):
                errors[f"{prefix}{name}"] = [REQUIRED]

    def integer(obj: Any, name: str, prefix: str) -> None:
        if isinstance(obj, dict) and name in obj and obj[name] is not None:
            value = obj[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors[f"{prefix}{name}"] = ["A valid integer is required."]

    def address(obj: Any, prefix: str) -> None:
        if obj is None:
            return
        if not isinstance(obj, dict):
            errors[prefix.rstrip(".")] = ["Invalid data."]
            return
        need(obj, ADDRESS_REQUIRED, prefix)
        # "Address": every field is a String (country an ISO code); phone and alt_phone
        # ("Alternative phone number.") are optional.
        for name in ADDRESS_STRINGS:
            if name in obj and obj[name] is not None and not isinstance(obj[name], str):
                errors[f"{prefix}{name}"] = ["Not a valid string."]
        if obj.get("country") and not re.fullmatch(r"[A-Z]{2}", str(obj["country"])):
            errors[f"{prefix}country"] = ["Use an ISO 3166 alpha-2 code."]

    need(data, CHECKOUT_REQUIRED, "")
    for name in ("total_amount", "tax_amount", "num_instalments"):
        integer(data, name, "")
    if data.get("currency"):
        try:
            money.normalize_currency(str(data["currency"]))
        except ValidationError:
            errors["currency"] = ["Invalid currency."]
    shipping = data.get("shipping")
    need(shipping, SHIPPING_REQUIRED, "shipping.")
    integer(shipping, "amount", "shipping.")
    address(shipping.get("address") if isinstance(shipping, dict) else None, "shipping.address.")
    address(data.get("billing_address"), "billing_address.")
    customer = data.get("customer")
    need(customer, CUSTOMER_REQUIRED, "customer.")
    if isinstance(customer, dict):
        if customer.get("email") and "@" not in str(customer["email"]):
            errors["customer.email"] = ["Enter a valid email address."]
        address(customer.get("default_address"), "customer.default_address.")
    for index, item in enumerate(data.get("items") or []):
        need(item, ITEM_REQUIRED, f"items[{index}].")
        for name in ("unit_price", "qty"):
            integer(item, name, f"items[{index}].")
    for index, discount in enumerate(data.get("discounts") or []):
        need(discount, DISCOUNT_REQUIRED, f"discounts[{index}].")
        integer(discount, "amount", f"discounts[{index}].")
    if data.get("merchant") is None:
        errors["merchant"] = [MERCHANT_NEEDED]
    elif not isinstance(data["merchant"], dict):
        errors["merchant"] = ["Invalid data."]
    need(data.get("merchant"), MERCHANT_REQUIRED, "merchant.")
    return errors


# -- lists: filters, ordering, pagination ----------------------------------------------------


def _compare(value: Any, lookup: str, wanted: str) -> bool:
    if lookup == "isnull":
        return (value is None) == (wanted.lower() == "true")
    if value is None:
        return False
    if lookup == "in":
        return str(value) in wanted.split(",")
    if lookup == "contains" and isinstance(value, list):
        return wanted in value
    text, needle = str(value), wanted
    if lookup in ("icontains", "istartswith", "iendswith", "iregex"):
        text, needle, lookup = text.lower(), needle.lower(), lookup[1:]
    if lookup == "contains":
        return needle in text
    if lookup == "startswith":
        return text.startswith(needle)
    if lookup == "endswith":
        return text.endswith(needle)
    if lookup == "regex":
        return re.search(needle, text) is not None
    if isinstance(value, bool):
        return value == (wanted.lower() == "true")
    if isinstance(value, list):
        return ",".join(value) == wanted
    left: Any = value
    right: Any = wanted
    if isinstance(value, int):
        right = int(wanted)
    elif parse_datetime(str(value)) is not None:
        left = parse_datetime(str(value))
        right = parse_datetime(wanted) or datetime.fromisoformat(wanted)
        if right.tzinfo is None:
            right = right.replace(tzinfo=left.tzinfo)
    compared: bool = {
        "exact": left == right,
        "gt": left > right,
        "lt": left < right,
        "gte": left >= right,
        "lte": left <= right,
    }[lookup]
    return compared


TRANSFORMS = ("date", "year", "month", "day", "hour", "week_day")


def _matches(record: dict[str, Any], key: str, wanted: str) -> bool:
    """Django-style ``field[__transform][__lookup]`` against one record."""
    name, *lookups = key.split("__")
    value = record.get(name)
    if name == "last_response_code":
        value = (record.get("last_response") or {}).get("code")
    transform = lookups[0] if lookups and lookups[0] in TRANSFORMS else None
    rest = lookups[1:] if transform else lookups
    if transform and value is not None:
        moment = parse_datetime(str(value))
        if moment is None:
            return False
        if transform == "date":
            value = moment.date().isoformat()
        elif transform == "week_day":
            value = moment.isoweekday() % 7 + 1  # Django: Sunday is 1
        else:
            value = getattr(moment, transform)
    return _compare(value, rest[0] if rest else "exact", wanted)


def _listing(
    request: HttpRequest, records: list[dict[str, Any]], fields: tuple[str, ...]
) -> dict[str, Any]:
    """Filtered, ordered and paginated like the real API ("Pagination": 20 by default,
    ``page_size`` up to 50). Unknown parameters are ignored, as django-filter does."""
    params = request.GET
    selected = list(records)
    for key in params:
        wanted = str(params.get(key, ""))
        if key.split("__")[0] in fields:
            try:
                selected = [r for r in selected if _matches(r, key, wanted)]
            except (ValueError, TypeError, KeyError, re.error):
                raise ApiError(
                    400, "invalid", "Invalid input.", {key: ["Enter a valid value."]}
                ) from None
    for item in reversed([i for i in params.get("ordering", "").split(",") if i]):
        name = item.lstrip("-")
        selected.sort(key=lambda r: (r.get(name) is None, r.get(name) or 0), reverse=item[0] == "-")
    try:
        size = min(int(params.get("page_size", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
        page = int(params.get("page", 1))
    except ValueError:
        raise ApiError(404, "not_found", "Invalid page.") from None
    if size < 1 or page < 1 or (page > 1 and (page - 1) * size >= len(selected)):
        raise ApiError(404, "not_found", "Invalid page.")

    def link(number: int) -> str:
        query = params.copy()
        query["page"] = str(number)
        parts = urlsplit(request.build_absolute_uri())
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query.urlencode(), ""))

    return {
        "count": len(selected),
        "next": link(page + 1) if page * size < len(selected) else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": [_public(r) for r in selected[(page - 1) * size : page * size]],
    }


# -- webhooks --------------------------------------------------------------------------------


def event_for(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The body the emulator POSTs to a hook: ``{"id", "type", "created", "data"}``."""
    return {"id": "evt_" + secrets.token_hex(12), "type": kind, "created": _now(), "data": data}


def _events(account: dict[str, Any], kind: str, data: dict[str, Any]) -> list[Any]:
    """Deliveries for every active hook subscribed to ``kind`` (sent after the answer is
    computed, outside the store lock)."""
    hooks = _list(account, "hooks")
    return [
        (hook, event_for(kind, data)) for hook in hooks if hook["active"] and kind in hook["events"]
    ]


#: "Webhooks" / "Create a hook": the secret "will be used as the key to generate the HMAC hex
#: digest value in the X-Postpay-Signature header".
SIGNATURE_HEADER = "X-Postpay-Signature"


def sign(secret: str, timestamp: int, body: bytes, *, quoted: bool = False) -> str:
    """The emulator's own ``X-Postpay-Signature`` value (gateway notes, "Postpay / Webhook
    verification"): ``<ts>:<hex HMAC-SHA256(secret, "<ts>:" + body)>`` over the body's bytes
    as sent, in double quotes when ``quoted`` (as postpay-php's test shows it)."""
    digest = hmac.new(secret.encode(), f"{timestamp}:".encode() + body, hashlib.sha256)
    value = f"{timestamp}:{digest.hexdigest()}"
    return f'"{value}"' if quoted else value


def quotes_signature() -> bool:
    """Whether webhooks carry the signature in double quotes (:func:`set_signature_quoting`)."""
    with store.table("postpay.config") as config:
        return bool(config.get("quote_signature", False))


def set_signature_quoting(quoted: bool) -> None:
    """Send every webhook's ``X-Postpay-Signature`` as ``"<ts>:<hex>"`` (``True``) or bare
    ``<ts>:<hex>`` (``False``, the default). The API reference shows no form; postpay-php's
    test shows the quoted one: a shop must take both."""
    with store.table("postpay.config") as config:
        config["quote_signature"] = bool(quoted)


def webhook_body(event: dict[str, Any]) -> bytes:
    """The bytes of a webhook: JSON in UTF-8, non-ASCII text as it is (not ``\\u`` escapes),
    as Django REST framework's renderer writes it (Postpay's error bodies are that
    framework's), so the signature covers non-ASCII bytes."""
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def deliver(hook: dict[str, Any], event: dict[str, Any], *, quoted: bool | None = None) -> bool:
    """POST a signed event to a hook; record its answer as ``last_response``. ``quoted``
    chooses the signature's form for this delivery (default: :func:`quotes_signature`)."""
    body = webhook_body(event)
    if quoted is None:
        quoted = quotes_signature()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(str(hook["_secret"]), int(time.time()), body, quoted=quoted),
    }
    try:
        response = requests.post(hook["url"], data=body, headers=headers, timeout=(5, 30))
        code: int | None = response.status_code
    except requests.RequestException as exc:
        logger.warning("Postpay webhook to %s failed: %s", hook["url"], exc)
        code = None
    ok = code is not None and 200 <= code < 300
    with store.table("postpay.lock"):
        hook["last_response"] = {"code": code, "status": "success" if ok else "failure"}
    return ok


def order_event(order: dict[str, Any]) -> dict[str, Any]:
    """An ``order`` event for the order's current state (what tests sign and post)."""
    return event_for("order", summary(order))


# -- checkout and the hosted page ------------------------------------------------------------


@_api("POST")
def checkouts(request: HttpRequest, account: dict[str, Any], data: dict[str, Any]) -> Any:
    """``POST /checkouts``: validate, create the pending order, answer token and redirect."""
    errors = _validate_checkout(data)
    if errors:
        raise ApiError(400, "invalid", "Invalid input.", errors)
    orders = _orders(account)
    order_id = str(data["order_id"])
    if order_id in orders:
        raise ApiError(409, "conflict", "There is already an order with this order_id.")
    token = secrets.token_hex(16)
    now = timezone.now()
    order = {
        **{k: v for k, v in data.items() if k not in ("merchant", "metadata", "order_id")},
        "order_id": order_id,
        "status": "pending",
        "status_changed": _now(),
        "currency": money.normalize_currency(str(data["currency"])),
        "created": _now(),
        "_merchant": data["merchant"],
        "_metadata": data.get("metadata") or {},
        "_token": token,
        "_expires": now + CHECKOUT_TTL,
        "_refunds": [],
        "_account": _merchant(account),
    }
    orders[order_id] = order
    with store.table("postpay.checkouts") as table:
        table[token] = (_merchant(account), order_id)
    url = reverse("multipay_sandbox:postpay-checkout", args=[token])
    return _answer(
        {
            "token": token,
            "expires": (now + CHECKOUT_TTL).isoformat().replace("+00:00", "Z"),
            "redirect_url": request.build_absolute_uri(url),
        }
    )


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query ("Merchant": "The order_id and status ...
    will be sent to this URL as a HTTP query parameter"): after the shop's own parameters,
    joined with ``&``. The shop's parameters stay as written (order, repeats, blanks, their
    encoding); one of the same name as ours gives way, so none is sent twice."""
    parts = urlsplit(url)
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]) not in params
    ]
    query = "&".join([*kept, urlencode(params)] if params else kept)
    return urlunsplit(parts._replace(query=query))


@csrf_exempt
def checkout_page(request: HttpRequest, token: str) -> HttpResponse:
    """The hosted checkout: approve, deny or cancel, then back to the merchant's URL with
    ``order_id`` and ``status`` in the query ("Checkout / Workflow" step 4)."""
    with store.table("postpay.checkouts") as table:
        found = table.get(token)
    if found is None:
        return HttpResponse("No such checkout.", status=404, content_type="text/plain")
    merchant, order_id = found
    with store.table("postpay.orders") as table:
        order = table[merchant][order_id]
    if request.method == "GET":
        return render(
            request,
            "django_multipay/sandbox/postpay_checkout.html",
            {
                "order": _public(order),
                "total": money.from_minor_units(order["total_amount"], order["currency"]),
                "outcomes": OUTCOMES,
            },
        )
    if request.method != "POST":
        return HttpResponse(status=405)
    outcome = request.POST.get("outcome", "")
    if outcome not in OUTCOMES:
        return HttpResponse(
            "Choose approve, deny or cancel.", status=400, content_type="text/plain"
        )
    with store.table("postpay.lock"):
        if order["status"] != "pending":
            return HttpResponse(
                f"Order is already {order['status']}.", status=409, content_type="text/plain"
            )
        if timezone.now() > order["_expires"]:
            return HttpResponse("This checkout has expired.", status=410, content_type="text/plain")
        status = {"approve": "approved", "deny": "denied", "cancel": "cancelled"}[outcome]
        _set_status(order, status)
        if status == "approved":
            order["_capture_by"] = timezone.now() + CAPTURE_TTL
        account = next(
            (a for a in accounts(BACKEND) if str(a.get("merchant_id")) == merchant), None
        )
        deliveries = _events(account, "order", summary(order)) if account else []
    for hook, event in deliveries:
        deliver(hook, event)
    wire = status.upper()
    target = order["_merchant"]["confirmation_url" if status == "approved" else "cancel_url"]
    return HttpResponseRedirect(with_query(target, order_id=order_id, status=wire))


# -- capture, orders -------------------------------------------------------------------------


def _fees(amount: int) -> int:
    """The settlement fee with its tax, as in the "List transactions" sample."""
    fee = Decimal(amount) * FEE_RATE / 10000 + FEE_AMOUNT
    return int((fee * (10000 + FEE_TAX_RATE) / 10000).quantize(Decimal(1), ROUND_HALF_UP))


def _transaction(
    account: dict[str, Any], order: dict[str, Any], kind: str, amount: int, description: str = ""
) -> dict[str, Any]:
    fee = _fees(amount) if kind == "order" else 0
    record = {
        "id": secrets.token_hex(16),
        "type": kind,
        "currency": order["currency"],
        "amount": amount,
        "fee_amount": FEE_AMOUNT if kind == "order" else 0,
        "fee_rate": FEE_RATE if kind == "order" else 0,
        "fee_tax_rate": FEE_TAX_RATE if kind == "order" else 0,
        "total_amount": amount - fee,
        "description": description,
        "created": _now(),
        "paid": None,
        "order": summary(order),
    }
    _list(account, "transactions").append(record)
    return record


@_api("POST")
def capture(request: HttpRequest, account: dict[str, Any], data: Any, order_id: str) -> Any:
    """``POST /orders/{order_id}/capture`` with its documented errors (409, 402, 410)."""
    order = _order(account, order_id)
    if order["status"] != "approved":
        raise ApiError(409, "invalid_status", "Order status must be approved.")
    if timezone.now() > order["_capture_by"]:
        _set_status(order, "expired")
        raise ApiError(410, "expired", "The capture has expired.")
    if order.get("_capture_error"):
        _set_status(order, "denied")
        raise ApiError(402, "capture_error", "Payment transaction declined.")
    _set_status(order, "captured")
    transaction = _transaction(account, order, "order", int(order["total_amount"]))
    deliveries = _events(account, "order", summary(order))
    deliveries += _events(account, "transaction", _public(transaction))
    return _answer(_public(order)), deliveries


@_api("GET")
def orders(request: HttpRequest, account: dict[str, Any], data: Any) -> Any:
    """``GET /orders`` with filters, ordering and pagination."""
    records = [summary(o) for o in _orders(account).values()]
    fields = ("order_id", "status", "total_amount", "currency", "created")
    return _answer(_listing(request, records, fields))


@_api("GET")
def order(request: HttpRequest, account: dict[str, Any], data: Any, order_id: str) -> Any:
    """``GET /orders/{order_id}``."""
    return _answer(_public(_order(account, order_id)))


# -- refunds ---------------------------------------------------------------------------------


@_api("GET", "POST")
def refunds(request: HttpRequest, account: dict[str, Any], data: Any, order_id: str) -> Any:
    """List (GET) or create (POST) refunds; ``refund_id`` is unique per merchant."""
    order = _order(account, order_id)
    if request.method == "GET":
        fields = ("refund_id", "description", "amount", "created")
        return _answer(_listing(request, order["_refunds"], fields))
    errors: dict[str, list[str]] = {}
    refund_id = data.get("refund_id")
    if refund_id in (None, ""):
        errors["refund_id"] = [REQUIRED]
    amount = data.get("amount")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        errors["amount"] = ["A valid integer is required."]
    elif amount is not None and amount <= 0:
        errors["amount"] = ["Ensure this value is greater than 0."]
    if errors:
        raise ApiError(400, "invalid", "Invalid input.", errors)
    taken = any(
        r["refund_id"] == str(refund_id) for o in _orders(account).values() for r in o["_refunds"]
    )
    if taken:
        raise ApiError(409, "conflict", "There is already a refund with this ID.")
    if order["status"] != "captured":
        raise ApiError(409, "invalid_status", "Order status must be captured.")
    refunded = sum(int(r["amount"]) for r in order["_refunds"])
    left = int(order["total_amount"]) - refunded
    value = left if amount is None else int(amount)
    if value > left or value <= 0:
        raise ApiError(409, "limit_exceeded", "The amount exceeds the limit.")
    description = str(data.get("description") or "")
    refund = {
        "refund_id": str(refund_id),
        "amount": value,
        "full": value == int(order["total_amount"]),
        "description": description,
        "created": _now(),
    }
    order["_refunds"].append(refund)
    transaction = _transaction(account, order, "refund", -value, description)
    # Like the real service, the webhook may reach the shop before this answer does.
    return _answer(refund), _events(account, "transaction", _public(transaction))


@_api("GET")
def refund(
    request: HttpRequest, account: dict[str, Any], data: Any, order_id: str, refund_id: str
) -> Any:
    """``GET /orders/{order_id}/refunds/{refund_id}``."""
    for item in _order(account, order_id)["_refunds"]:
        if item["refund_id"] == refund_id:
            return _answer(item)
    raise ApiError(404, "not_found", "Not found.")


# -- settlements -----------------------------------------------------------------------------


@_api("GET")
def transactions(request: HttpRequest, account: dict[str, Any], data: Any) -> Any:
    """``GET /transactions`` with filters, ordering and pagination."""
    fields = ("id", "type", "amount", "currency", "created", "paid")
    return _answer(_listing(request, _list(account, "transactions"), fields))


@_api("GET")
def transaction(
    request: HttpRequest, account: dict[str, Any], data: Any, transaction_id: str
) -> Any:
    """``GET /transactions/{transaction_id}``."""
    for item in _list(account, "transactions"):
        if item["id"] == transaction_id:
            return _answer(item)
    raise ApiError(404, "not_found", "Not found.")


# -- hooks -----------------------------------------------------------------------------------


def _hook_fields(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if not partial:
        for name in ("events", "url", "secret"):
            if data.get(name) in (None, "", []):
                errors[name] = [REQUIRED]
    events = data.get("events")
    if events is not None and (
        not isinstance(events, list) or not events or set(events) - set(HOOK_EVENTS)
    ):
        errors["events"] = [f"Options are {', '.join(HOOK_EVENTS)}."]
    url = data.get("url")
    if url is not None and not re.match(r"^https?://", str(url)):
        errors["url"] = ["Enter a valid URL."]
    if "active" in data and not isinstance(data["active"], bool):
        errors["active"] = ["Must be a valid boolean."]
    if errors:
        raise ApiError(400, "invalid", "Invalid input.", errors)
    fields = {k: data[k] for k in ("events", "url", "active") if k in data}
    if data.get("secret"):
        fields["_secret"] = str(data["secret"])
    return fields


@_api("GET", "POST")
def hooks(request: HttpRequest, account: dict[str, Any], data: Any) -> Any:
    """List (GET) or create (POST) hooks."""
    table = _list(account, "hooks")
    if request.method == "GET":
        fields = ("id", "events", "url", "active", "last_response_code", "created")
        return _answer(_listing(request, table, fields))
    now = _now()
    hook = {
        "id": secrets.token_hex(16),
        "active": True,
        **_hook_fields(data, partial=False),
        "last_response": {"code": None, "status": "unused"},
        "created": now,
        "modified": now,
    }
    table.append(hook)
    return _answer(_public(hook))


@_api("GET", "PATCH", "DELETE")
def hook(request: HttpRequest, account: dict[str, Any], data: Any, hook_id: str) -> Any:
    """Read, edit or delete one hook."""
    table = _list(account, "hooks")
    found = next((h for h in table if h["id"] == hook_id), None)
    if found is None:
        raise ApiError(404, "not_found", "Not found.")
    if request.method == "DELETE":
        table.remove(found)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        found.update(_hook_fields(data, partial=True))
        found["modified"] = _now()
    return _answer(_public(found))


urlpatterns = [
    path("checkouts", checkouts, name="postpay-checkouts"),
    path("checkout/<str:token>", checkout_page, name="postpay-checkout"),
    path("orders", orders, name="postpay-orders"),
    path("orders/<str:order_id>", order, name="postpay-order"),
    path("orders/<str:order_id>/capture", capture, name="postpay-capture"),
    path("orders/<str:order_id>/refunds", refunds, name="postpay-refunds"),
    path("orders/<str:order_id>/refunds/<str:refund_id>", refund, name="postpay-refund"),
    path("transactions", transactions, name="postpay-transactions"),
    path("transactions/<str:transaction_id>", transaction, name="postpay-transaction"),
    path("hooks", hooks, name="postpay-hooks"),
    path("hooks/<str:hook_id>", hook, name="postpay-hook"),
]

# Answered only where test-only parts may run (DEBUG, or ALLOW_TEST_GATEWAYS).
urlpatterns = guarded(urlpatterns)
