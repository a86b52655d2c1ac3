"""Emulator of PortPos API v2: invoices, hosted payment page, IPN, IPN validate and refunds."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pycountry
import requests
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from django_multipay import money
from django_multipay.sandbox.accounts import account_with
from django_multipay.sandbox.guard import guarded
from django_multipay.sandbox.store import store

logger = logging.getLogger("django_multipay.sandbox.portpos")

TABLE = "portpos.invoices"
SETTINGS = "portpos.settings"
#: How far a token's timestamp may be from the emulator's clock.
TOKEN_TOLERANCE = 300
#: An invoice without ``validity`` stays payable this long.
DEFAULT_VALIDITY = 24 * 3600
#: The emulated fee, as a share of the payment (the document's sample charges about 3%).
FEE_RATE = Decimal("0.03")
OUTCOMES = {"pay": "ACCEPTED", "decline": "REJECTED", "cancel": "CANCELLED"}
REFUND_MODES = ("instant", "pending")
#: The backend whose aliases are the emulator's merchant accounts (named, never imported).
BACKEND = "django_multipay.gateways.portpos.PortPosGateway"

# -- the document's rules ------------------------------------------------------------------------
# Written here from portpos-v2.txt, not taken from the backend, so that one misreading of the
# document cannot pass both sides.

#: "Create Invoice" / "Refund Request": an amount is 'a string that consists of the characters
#: 0-9 and '.' and represents a valid decimal number', from 0.1 to 99999999.
AMOUNT_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
AMOUNT_RANGE = (Decimal("0.1"), Decimal("99999999"))
#: "Refund Request": "You can do so up to 5 times, until the entire transaction has been
#: refunded."
MAX_REFUNDS = 5
#: "Create Invoice": each field of the body by its path: (COMPULSORY, what it holds, minimum
#: and maximum length, or of the value for seconds), as the document's table gives them.
TEXT, URL, SECONDS, EMAIL, PHONE, COUNTRY, CURRENCY = (
    "text",
    "url",
    "seconds",
    "email",
    "phone",
    "country",
    "currency",
)
INVOICE_FIELDS: dict[str, tuple[bool, str, int, int]] = {
    "order.currency": (True, CURRENCY, 3, 3),
    "order.redirect_url": (True, URL, 10, 200),
    "order.ipn_url": (False, URL, 10, 200),
    "order.reference": (False, TEXT, 1, 100),
    "order.validity": (False, SECONDS, 60, 31536000),
    "product.name": (True, TEXT, 3, 150),
    "product.description": (True, TEXT, 3, 300),
    **{
        f"{part}.customer.{name}": rule
        for part in ("billing", "shipping")
        for name, rule in (
            ("name", (True, TEXT, 2, 50)),
            ("email", (True, EMAIL, 3, 50)),
            ("phone", (True, PHONE, 9, 15)),
            ("address.street", (True, TEXT, 2, 200)),
            ("address.city", (True, TEXT, 2, 200)),
            ("address.state", (True, TEXT, 2, 50)),
            ("address.zipcode", (True, TEXT, 3, 8)),
            ("address.country", (True, COUNTRY, 2, 3)),
        )
    },
}
#: "Any additional information to be included on the invoice. The field must include as key
#: value pair up to 10 items."
MAX_CUSTOMS = 10
#: "Data must be a valid phone number": digits, after an optional '+'.
PHONE_RE = re.compile(r"\+?[0-9]+")
#: "Must be an ISO 3166-1 alpha-2 or ISO 3166-1 alpha-3 country code" (pycountry's ISO table).
COUNTRY_CODES = frozenset(
    code for country in pycountry.countries for code in (country.alpha_2, country.alpha_3)
)
_ABSENT = object()


def _field(body: Mapping[str, Any], dotted: str) -> Any:
    value: Any = body
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def _amount_problem(value: Any) -> str:
    """Why ``value`` is not a document amount (a decimal string from 0.1 to 99999999)."""
    if not isinstance(value, str) or not AMOUNT_RE.fullmatch(value):
        return "must be a string of the characters 0-9 and '.' that is a decimal number"
    low, high = AMOUNT_RANGE
    if not low <= Decimal(value) <= high:
        return f"must be from {low} to {high}"
    return ""


def _is_http_url(value: str) -> bool:
    """An http(s) URL with a host and no spaces ("Data must consist of a valid http url")."""
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not any(c.isspace() for c in value)
    )


def _value_problem(kind: str, value: Any, low: int, high: int) -> str:
    if kind == SECONDS:
        if type(value) is not int or not low <= value <= high:
            return f"must be an integer of {low} to {high} seconds"
        return ""
    if not isinstance(value, str) or not low <= len(value) <= high:
        return f"must be a string of {low} to {high} characters"
    if kind == CURRENCY and not re.fullmatch(r"[A-Z]+", value):
        return "must consist of the characters A-Z"
    if kind == URL and not _is_http_url(value):
        return "must be a valid http url"
    if kind == PHONE and not PHONE_RE.fullmatch(value):
        return "must be a valid phone number"
    if kind == COUNTRY and value not in COUNTRY_CODES:
        return "must be an ISO 3166-1 alpha-2 or alpha-3 country code"
    if kind == EMAIL:
        try:
            validate_email(value)
        except ValidationError:
            return "must be a valid email address"
    return ""


def invoice_problems(body: Mapping[str, Any]) -> dict[str, str]:
    """Every field of a Create Invoice body that breaks the document's rules, by its path."""
    problems: dict[str, str] = {}
    amount = _field(body, "order.amount")
    if amount in (_ABSENT, None, ""):
        problems["order.amount"] = "is compulsory"
    elif _amount_problem(amount):
        problems["order.amount"] = _amount_problem(amount)
    for name, (compulsory, kind, low, high) in INVOICE_FIELDS.items():
        value = _field(body, name)
        if value in (_ABSENT, None, ""):
            if compulsory:
                problems[name] = "is compulsory"
            continue
        problem = _value_problem(kind, value, low, high)
        if problem:
            problems[name] = problem
    customs = body.get("customs", _ABSENT)
    if customs is not _ABSENT:
        pairs = isinstance(customs, list) and all(
            isinstance(item, Mapping)
            and len(item) == 1
            and all(isinstance(k, str) and k and isinstance(v, str) for k, v in item.items())
            for item in customs
        )
        if not pairs or len(customs) > MAX_CUSTOMS:
            problems["customs"] = f"must be up to {MAX_CUSTOMS} key/value pairs"
    return problems


def set_refund_mode(mode: str) -> None:
    """``instant`` (default): refunds are paid back at once; ``pending``: they wait in
    REFUND_PENDING until :func:`settle_refunds` (or the panel) settles them."""
    if mode not in REFUND_MODES:
        raise ValueError(f"refund mode is one of {REFUND_MODES}")
    with store.table(SETTINGS) as settings:
        settings["refunds"] = mode


def set_refund_lines(shown: bool) -> None:
    """Whether refunds appear as ``refund`` lines among an invoice's ``transactions``. Off by
    default: the document's invoices show only ``purchase`` and ``fee`` lines, and report
    refunds through ``order.status`` alone."""
    with store.table(SETTINGS) as settings:
        settings["refund_lines"] = bool(shown)


def _refund_lines_shown() -> bool:
    with store.table(SETTINGS) as settings:
        return bool(settings.get("refund_lines", False))


def _refund_mode() -> str:
    with store.table(SETTINGS) as settings:
        return str(settings.get("refunds", "instant"))


def _error(status: int, cause: str, explanation: str, prop: str = "") -> JsonResponse:
    # Response and error format: {"result": ..., "error": {cause, explanation, property}}.
    return JsonResponse(
        {
            "result": "error",
            "error": {"cause": cause, "explanation": explanation, "property": prop or None},
        },
        status=status,
    )


#: "Create an invoice with discount" and "Create an invoice with EMI", as the document states
#: them: ``enable`` an Integer, COMPULSORY, 0 or 1; the list OPTIONAL, "Maximum items could be
#: 10", codes 1 to 100 characters, tenures 0 to 60.
OFFER_RULES = {"discount": ("codes", str, 1, 100), "emi": ("tenures", int, 0, 60)}
MAX_OFFER_ITEMS = 10


def _offer_problem(body: dict[str, Any]) -> tuple[str, str] | None:
    """The first ``discount`` or ``emi`` field that breaks the document's rules, and why."""
    for section, (key, kind, low, high) in OFFER_RULES.items():
        if section not in body:
            continue
        part = body[section]
        if not isinstance(part, dict):
            return section, f"{section} must be an object."
        enable = part.get("enable")
        if type(enable) is not int or enable not in (0, 1):
            return f"{section}.enable", f"{section}.enable is compulsory: the integer 0 or 1."
        if key not in part:
            continue
        items = part[key]
        if not isinstance(items, list) or len(items) > MAX_OFFER_ITEMS:
            return f"{section}.{key}", f"{section}.{key} must be an array of at most 10 items."
        for item in items:
            size = len(item) if kind is str and isinstance(item, str) else item
            if type(item) is not kind or not low <= size <= high:
                return f"{section}.{key}", f"{section}.{key} items must be {low} to {high}."
    return None


def _success(data: dict[str, Any], status: int = 200, result: str = "success") -> JsonResponse:
    return JsonResponse({"result": result, "data": data}, status=status)


def _time(moment: datetime) -> str:
    """``Sun, 14 Oct 2018 14:35:09 +0600``, as the document's samples write times."""
    return moment.astimezone(timezone.get_fixed_timezone(360)).strftime("%a, %d %b %Y %H:%M:%S %z")


def unix_time() -> int:
    """The emulator's clock, in the seconds of the tokens' timestamps."""
    return int(time.time())


def request_token(secret_key: str, timestamp: int) -> str:
    """The second half of the Bearer token ("Create Invoice", Authentication:
    ``base64(APPKEY:md5(SECRETKEYTIMESTAMP))``): PHP's ``md5()``, lower-case hex."""
    text = f"{secret_key}{timestamp}".encode()
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def _account(request: HttpRequest) -> dict[str, Any] | None:
    """The alias whose app key signs ``Authorization: Bearer base64(APPKEY:md5(SECRET+TIME))``
    with a time close to the emulator's clock (lower-case hex only, like PHP's md5)."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    app_key, _, token = decoded.partition(":")
    account = account_with(BACKEND, "app_key", app_key)
    if account is None or len(token) != 32:
        return None
    secret = str(account.get("secret_key") or "")
    now = unix_time()
    for stamp in range(now - TOKEN_TOLERANCE, now + TOKEN_TOLERANCE + 1):
        if secrets.compare_digest(request_token(secret, stamp), token):
            return account
    return None


def _load(invoice_id: str, app_key: str | None = None) -> dict[str, Any] | None:
    with store.table(TABLE) as invoices:
        found = invoices.get(invoice_id)
        if found is None or (app_key is not None and found["_app_key"] != app_key):
            return None
        if found["order"]["status"] == "PENDING" and timezone.now() > found["_expires"]:
            found["order"]["status"] = "EXPIRED"
        assert isinstance(found, dict)
        return found


def _public(invoice: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in invoice.items() if not k.startswith("_") and k != "action"}
    copy: dict[str, Any] = json.loads(json.dumps(data))  # the caller may change it freely
    return copy


def _api(methods: list[str]) -> Callable[[Any], Any]:
    """Answer 401 without a valid token, 404 for another account's invoice, 405 otherwise."""

    def decorate(view: Any) -> Any:
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return _error(405, "method_not_allowed", f"Use {' or '.join(methods)}.")
            account = _account(request)
            if account is None:
                return _error(401, "unauthorized", "Invalid authorization token.", "Authorization")
            if "invoice_id" in kwargs:
                found = _load(kwargs.pop("invoice_id"), str(account["app_key"]))
                if found is None:
                    return _error(404, "not_found", "Invoice not found.", "invoice_id")
                kwargs["found"] = found
            return view(request, account, **kwargs)  # type: ignore[no-any-return]

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return csrf_exempt(wrapper)

    return decorate


@_api(["POST"])
def create_invoice(request: HttpRequest, account: dict[str, Any]) -> HttpResponse:
    """Create Invoice: every field checked against the documented limits; 201."""
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid_json", "Request body should be valid JSON format.")
    if not isinstance(body, dict):
        return _error(400, "invalid_json", "Request body should be a JSON object.")
    errors = invoice_problems(body)
    if errors:
        prop, explanation = sorted(errors.items())[0]
        return _error(400, "validation_error", f"{prop} {explanation}.", prop)
    offer = _offer_problem(body)
    if offer is not None:
        return _error(400, "validation_error", offer[1], offer[0])
    order = body["order"]
    currency = str(order["currency"])
    try:
        amount = money.validate_amount(order["amount"], currency)
    except Exception:
        return _error(400, "validation_error", "order.amount is not valid.", "order.amount")
    invoice_id = secrets.token_hex(8).upper()
    now = timezone.now()
    validity = int(order.get("validity") or DEFAULT_VALIDITY)
    emi = body.get("emi") or {}
    discount = body.get("discount") or {}
    customs = list(body.get("customs") or [])
    if discount.get("codes"):
        customs.append({"discount_code": ",".join(discount["codes"])})
    base = request.path[: -len("invoice")]
    page = request.build_absolute_uri(f"{base}payment/?invoice={invoice_id}")
    invoice: dict[str, Any] = {
        "invoice_id": invoice_id,
        "reference": order.get("reference"),
        "order": {
            "amount": money.format_decimal(amount, currency),
            "currency": currency,
            "type": "emi_purchase" if emi.get("enable") else "purchase",
            "has_emi": int(bool(emi.get("enable"))),
            "discount_availed": 0,
            "redirect_url": order["redirect_url"],
            "created_at": _time(now),
            "status": "PENDING",
        },
        "product": dict(body["product"]),
        "billing": {"customer": body["billing"]["customer"]},
        "shipping": {"customer": body["shipping"]["customer"]},
        "transactions": [],
        "customs": customs,
        "_app_key": account["app_key"],
        # What the payment page offers: the discount codes and EMI tenures asked for.
        "_discount": dict(discount),
        "_emi": dict(emi),
        "_ipn_url": order.get("ipn_url") or "",
        "_expires": now + timedelta(seconds=validity),
        "_page": page,
        "_refunds": [],
    }
    with store.table(TABLE) as invoices:
        invoices[invoice_id] = invoice
    data = _public(invoice)
    data["order"].update(
        {
            "has_discount": int(bool(discount.get("enable"))),
            "emi": {"partner": None, "tenor": None, "is_used": 0},
        }
    )
    data["order"].pop("discount_availed")
    data.pop("transactions")
    data["action"] = {"type": "redirect", "url": page, "payload": None, "method": "GET"}
    return _success(data, status=201)


@_api(["GET"])
def get_invoice(
    request: HttpRequest, account: dict[str, Any], found: dict[str, Any]
) -> HttpResponse:
    """Retrieving an invoice."""
    return _success(_public(found))


@_api(["GET"])
def ipn_validate(
    request: HttpRequest, account: dict[str, Any], found: dict[str, Any], amount: str
) -> HttpResponse:
    """IPN validate: the invoice, if ``amount`` is its amount."""
    if not AMOUNT_RE.fullmatch(amount) or Decimal(amount) != Decimal(found["order"]["amount"]):
        return _error(400, "invalid_amount", "Amount does not match the invoice.", "amount")
    return _success(_public(found))


def _remaining(invoice: dict[str, Any]) -> Decimal:
    taken = sum(
        (Decimal(r["amount"]) for r in invoice["_refunds"] if r["status"] != "REJECTED"),
        Decimal(0),
    )
    return Decimal(invoice["order"]["amount"]) - taken


def _refund_state(invoice: dict[str, Any]) -> str:
    live = [r for r in invoice["_refunds"] if r["status"] != "REJECTED"]
    if any(r["status"] == "REFUND_PENDING" for r in live):
        return "REFUND_PENDING"
    if not live:
        return "ACCEPTED"
    return "REFUNDED" if _remaining(invoice) == 0 else "PARTIALLY_REFUNDED"


def _refund_lines(invoice: dict[str, Any]) -> None:
    """Rewrite the invoice's refund transaction lines from its refunds."""
    others = [t for t in invoice["transactions"] if t["type"] != "refund"]
    if not _refund_lines_shown():
        invoice["transactions"] = others
        return
    invoice["transactions"] = others + [
        {
            "amount": f"-{r['amount']}",
            "currency": invoice["order"]["currency"],
            "status": r["status"],
            "type": "refund",
            "time": r["time"],
        }
        for r in invoice["_refunds"]
    ]


@_api(["POST"])
def refund(request: HttpRequest, account: dict[str, Any], found: dict[str, Any]) -> HttpResponse:
    """Refund Request: partial or full, at most 5 times, never above what is left; 202."""
    try:
        body = json.loads(request.body or b"")
        data = body["refund"]
        raw_amount = data["amount"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return _error(400, "validation_error", "refund.amount is required.", "refund.amount")
    currency = found["order"]["currency"]
    if not isinstance(raw_amount, str) or not AMOUNT_RE.fullmatch(raw_amount):
        return _error(
            400, "validation_error", "refund.amount must be a decimal string.", "refund.amount"
        )
    amount = Decimal(raw_amount)
    if _amount_problem(raw_amount):
        return _error(400, "validation_error", "refund.amount is out of range.", "refund.amount")
    if data.get("currency") != currency:
        return _error(
            400, "validation_error", "refund.currency must be the invoice's.", "refund.currency"
        )
    with store.table(TABLE):
        status = found["order"]["status"]
        if status not in ("ACCEPTED", "PARTIALLY_REFUNDED", "REFUND_PENDING"):
            return _error(400, "not_allowed", f"Invoice is {status}; it cannot be refunded.")
        live = [r for r in found["_refunds"] if r["status"] != "REJECTED"]
        if len(live) >= MAX_REFUNDS:
            return _error(400, "refund_limit", f"At most {MAX_REFUNDS} refunds per invoice.")
        if amount > _remaining(found):
            return _error(
                400,
                "refund_amount",
                "amount can not be more than the remaining invoice amount.",
                "refund.amount",
            )
        instant = _refund_mode() == "instant"
        found["_refunds"].append(
            {
                "amount": money.format_decimal(amount, currency),
                "status": "REFUNDED" if instant else "REFUND_PENDING",
                "time": _time(timezone.now()),
            }
        )
        _refund_lines(found)
        found["order"]["status"] = _refund_state(found)
        answer = {
            "order": {
                "invoice": found["invoice_id"],
                "amount": found["order"]["amount"],
                "currency": currency,
                "status": found["order"]["status"],
            },
            "refund": {"amount": money.format_decimal(amount, currency), "status": "APPROVED"},
        }
    if instant:
        send_ipn(found)
    return _success(answer, status=202, result="SUCCESS")


def settle_refunds(invoice_id: str, outcome: str = "refunded", *, notify: bool = True) -> int:
    """Settle every pending refund of an invoice (``refunded`` or ``rejected``); how many."""
    found = _load(invoice_id)
    if found is None:
        raise KeyError(invoice_id)
    final = {"refunded": "REFUNDED", "rejected": "REJECTED"}[outcome]
    with store.table(TABLE):
        pending = [r for r in found["_refunds"] if r["status"] == "REFUND_PENDING"]
        for item in pending:
            item["status"] = final
        _refund_lines(found)
        found["order"]["status"] = _refund_state(found)
    if pending and notify:
        send_ipn(found)
    return len(pending)


@csrf_exempt
@require_http_methods(["POST"])
def panel_refunds(request: HttpRequest, invoice_id: str) -> HttpResponse:
    """The merchant panel's view of refunds: settle the pending ones (emulator only)."""
    outcome = request.POST.get("outcome", "refunded")
    if outcome not in ("refunded", "rejected"):
        return HttpResponse("Choose refunded or rejected.", status=400, content_type="text/plain")
    try:
        count = settle_refunds(invoice_id, outcome)
    except KeyError:
        return HttpResponse("No such invoice.", status=404, content_type="text/plain")
    return HttpResponse(f"{count} refund(s) {outcome}.", content_type="text/plain")


def ipn_fields(invoice: dict[str, Any]) -> dict[str, str]:
    """The IPN's parameters for an invoice's current state (invoice, amount, status, reference)."""
    return {
        "invoice": invoice["invoice_id"],
        "amount": invoice["order"]["amount"],
        "status": invoice["order"]["status"],
        "reference": str(invoice.get("reference") or ""),
    }


def send_ipn(invoice: dict[str, Any]) -> bool:
    """POST the IPN (form-encoded) to the invoice's ``ipn_url``; True if it answered 2xx."""
    url = invoice["_ipn_url"]
    if not url:
        return False
    try:
        response = requests.post(url, data=ipn_fields(invoice), timeout=(5, 30))
    except requests.RequestException as exc:
        logger.warning("PortPos IPN to %s failed: %s", url, exc)
        return False
    return 200 <= response.status_code < 300


def settle_payment(invoice: dict[str, Any], outcome: str) -> None:
    """Apply the customer's choice (pay, decline, cancel) to a pending invoice."""
    status = OUTCOMES[outcome]
    order = invoice["order"]
    now = _time(timezone.now())
    order["status"] = status
    if status == "ACCEPTED":
        amount = Decimal(order["amount"])
        fee = (amount * FEE_RATE).quantize(Decimal("0.01"))
        customer = invoice["billing"]["customer"]
        invoice["billing"].update(
            {
                "payer": {
                    "name": customer.get("name"),
                    "account": "411111xxxxxx1111",
                    "ip_address": "127.0.0.1",
                    "user_agent": "PortPos emulator",
                },
                "gateway": {
                    "category": "card",
                    "network": "visa",
                    "status": "APPROVED",
                    "approve_code": secrets.token_hex(6).upper(),
                    "reason": "APPROVED (emulated)",
                },
                "source": {
                    "category": "card",
                    "number": "411111xxxxxx1111",
                    "brand": {"name": "VISA", "type": None, "category": None},
                    "issuer": {"name": "EMULATED BANK", "country": {"iso2": "BD", "iso3": "BGD"}},
                },
            }
        )
        invoice["transactions"] = [
            {
                "amount": order["amount"],
                "currency": order["currency"],
                "status": "ACCEPTED",
                "type": order["type"],
                "time": now,
            },
            {
                "amount": f"-{fee}",
                "currency": order["currency"],
                "status": "ACCEPTED",
                "type": "fee",
                "time": now,
            },
        ]
    elif status == "REJECTED":
        invoice["billing"]["gateway"] = {
            "category": "card",
            "network": "visa",
            "status": "DECLINED",
            "reason": "Card declined (emulated)",
        }


@csrf_exempt
@require_http_methods(["GET", "POST"])
def payment_page(request: HttpRequest) -> HttpResponse:
    """The hosted payment page (``/payment/?invoice=ID``): pay, decline or cancel."""
    invoice_id = request.GET.get("invoice", "")
    found = _load(invoice_id)
    if found is None:
        return HttpResponse("No such invoice.", status=404, content_type="text/plain")
    if request.method == "GET":
        return render(
            request,
            "django_multipay/sandbox/portpos_pay.html",
            {"invoice": _public(found), "outcomes": list(OUTCOMES)},
        )
    outcome = request.POST.get("outcome", "")
    if outcome not in OUTCOMES:
        return HttpResponse("Choose pay, decline or cancel.", status=400, content_type="text/plain")
    with store.table(TABLE):
        if found["order"]["status"] != "PENDING":
            return HttpResponse(
                f"Invoice is already {found['order']['status']}.",
                status=409,
                content_type="text/plain",
            )
        settle_payment(found, outcome)
    # IPN: "This will notify only on success/failed payment."
    if OUTCOMES[outcome] in ("ACCEPTED", "REJECTED"):
        send_ipn(found)
    return HttpResponseRedirect(found["order"]["redirect_url"])


urlpatterns = [
    path("invoice", create_invoice, name="portpos-invoices"),
    path("invoice/<str:invoice_id>", get_invoice, name="portpos-invoice"),
    path("invoice/ipn/<str:invoice_id>/<str:amount>", ipn_validate, name="portpos-ipn"),
    path("invoice/refund/<str:invoice_id>", refund, name="portpos-refund"),
    path("payment/", payment_page, name="portpos-pay"),
    path("panel/invoice/<str:invoice_id>/refunds", panel_refunds, name="portpos-panel-refunds"),
]

# Answered only where test-only parts may run (DEBUG, or ALLOW_TEST_GATEWAYS).
urlpatterns = guarded(urlpatterns)
