"""Emulator of PortWallet API v1: the form-encoded API, hosted payment page, IPN and redirect."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
import zlib
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from django_multipay.sandbox.accounts import account_with
from django_multipay.sandbox.guard import guarded
from django_multipay.sandbox.store import store

logger = logging.getLogger("django_multipay.sandbox.portwallet")

#: The backend whose aliases are the emulator's merchant accounts (named, never imported).
BACKEND = "django_multipay.gateways.portwallet.PortWalletGateway"

#: The document's status codes, as the emulator answers them.
NAMES: dict[int, str] = {
    100: "PENDING",
    120: "CANCELLED",
    200: "ACCEPTED",
    210: "REFUND_PENDING",
    215: "REFUND_PROCESSING",
    220: "REFUNDED",
    230: "PARTIALLY_REFUNDED",
    240: "CHARGED_BACK",
    300: "REJECTED",
    400: "INVALID_REQUEST",
    500: "NOT_ALLOWED",
}
#: The timestamp must be "Current": the emulator allows this much clock difference.
TIMESTAMP_TOLERANCE = 600
OUTCOMES = ("pay", "decline", "cancel")
#: Invoices in these states take refund requests.
REFUNDABLE = (200, 210, 215, 230)
TWO_PLACES = Decimal("0.01")

#: Create Invoice parameters: name → (required, maximum length or None).
INVOICE_FIELDS: dict[str, tuple[bool, int | None]] = {
    "amount": (True, None),
    "currency": (True, 3),
    "product_name": (True, 150),
    "product_description": (True, 300),
    "name": (True, 50),
    "email": (True, 50),
    "phone": (True, 15),
    "address": (True, 200),
    "city": (True, 50),
    "state": (True, 50),
    "zipcode": (True, None),
    "country": (True, 3),
    "redirect_url": (True, None),
    "ipn_url": (False, 250),
    "ship_to_name": (False, 50),
    "ship_to_email": (False, 50),
    "ship_to_phone": (False, 15),
    "ship_to_address": (False, 200),
    "ship_to_city": (False, 50),
    "ship_to_state": (False, 50),
    "ship_to_zipcode": (False, 8),
    "ship_to_country": (False, 3),
}
COUNTRY_RE = re.compile(r"^[A-Za-z]{2,3}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL_RE = re.compile(r"^https?://\S+$")

#: What the emulated card network reports for a paid invoice (the document's sample).
CARD = {
    "payer_account": "411111XXXXXX1111",
    "payer_name": "Sandbox Payer",
    "ip_address": "127.0.0.1",
    "user_agent": "django-multipay sandbox",
    "gateway_name": "Sandbox Bank",
    "gateway_url": "http://127.0.0.1/",
    "issuer_name": "Sandbox Issuer",
    "issuer_phone": "+8800000000000",
    "issuer_website": "http://127.0.0.1/",
    "card_brand": "VISA",
    "card_type": "credit",
    "card_category": "Platinum",
    "issuer_country_iso2": "BD",
    "issuer_country": "Bangladesh",
}


# -- answers ---------------------------------------------------------------------------------


def _answer(status: int, data: dict[str, Any] | None = None, message: Any = None) -> JsonResponse:
    """PortWallet answers HTTP 200 with the outcome in ``status`` (every sample does)."""
    body: dict[str, Any] = {"status": status}
    if data is not None:
        body["data"] = data
    if message is not None:
        body["message"] = message
    return JsonResponse(body)


def _invalid(message: Any, data: dict[str, Any] | None = None) -> JsonResponse:
    return _answer(400, data=data, message=message)


def _not_allowed(message: str) -> JsonResponse:
    return _answer(500, message=message)


def transaction_data(invoice: dict[str, Any]) -> dict[str, Any]:
    """An invoice as ipn_validate, get_invoice and refund_request show it."""
    pending = invoice["code"] == 100
    paid = bool(invoice["_card"])
    data: dict[str, Any] = {
        "invoice_id": invoice["invoice_id"],
        "amount": invoice["amount"],
        "buyer_email": invoice["email"],
        "buyer_name": invoice["name"],
        "buyer_phone": invoice["phone"],
        "buyer_address": invoice["address"],
        "product_name": invoice["product_name"],
        "product_description": invoice["product_description"],
    }
    if not pending:
        # The PENDING sample has neither a currency nor a status.
        data["currency"] = invoice["currency"]
    data["status"] = None if pending else NAMES[invoice["code"]]
    for key, value in CARD.items():
        data[key] = value if paid else None
    data["gateway_txn_id"] = invoice["gateway_txn_id"]
    data["reason"] = invoice["reason"]
    return data


def _public(invoice: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in invoice.items() if not k.startswith("_") and k != "code"}


# -- the API ---------------------------------------------------------------------------------


def request_token(secret_key: str, timestamp: int) -> str:
    """The ``token`` the emulator expects ("Create Invoice", parameter ``token``: "the md5 of
    your secret key + timestamp you provided on second parameter"), in lower-case hex."""
    text = f"{secret_key}{timestamp}".encode()
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def _authenticate(form: QueryDict) -> tuple[dict[str, Any] | None, JsonResponse | None]:
    """The account behind ``app_key``, once the four common parameters check out."""
    missing = {
        name: f"{name} is not set"
        for name in ("app_key", "timestamp", "token", "call")
        if not form.get(name)
    }
    if missing:
        return None, _invalid(missing)
    app_key, timestamp, token = (str(form.get(n, "")) for n in ("app_key", "timestamp", "token"))
    if len(app_key) > 32 or len(token) > 32:
        return None, _invalid("app_key and token have at most 32 characters")
    if not timestamp.isdigit() or len(timestamp) > 10:
        return None, _invalid("timestamp must be a Unix timestamp of at most 10 digits")
    if abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE:
        return None, _invalid("timestamp is not current")
    account = account_with(BACKEND, "app_key", app_key)
    expected = request_token(str((account or {}).get("secret_key") or ""), int(timestamp))
    if account is None or not secrets.compare_digest(expected, token.lower()):
        return None, _not_allowed("Invalid app_key or token")
    return account, None


def _amount(value: str) -> Decimal | None:
    """A positive amount with at most two decimals, or None."""
    try:
        amount = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        return None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(TWO_PLACES):
        return None
    return amount.quantize(TWO_PLACES)


def _load(form: QueryDict, account: dict[str, Any]) -> dict[str, Any] | None:
    with store.table("portwallet.invoices") as invoices:
        found = invoices.get(form.get("invoice", ""))
    if found is None or found["_app_key"] != account["app_key"]:
        return None
    assert isinstance(found, dict)
    return found


def gen_invoice(form: QueryDict, account: dict[str, Any]) -> JsonResponse:
    """Create New Invoice for payment."""
    values = {name: form.get(name, "").strip() for name in INVOICE_FIELDS}
    errors: dict[str, str] = {}
    for name, (required, limit) in INVOICE_FIELDS.items():
        value = values[name]
        if required and not value:
            errors[name] = f"{name} is not set"
        elif limit is not None and len(value) > limit:
            errors[name] = f"{name} must be at most {limit} characters"
    amount = _amount(values["amount"]) if values["amount"] else None
    if values["amount"] and amount is None:
        errors["amount"] = "amount must be a number with at most 2 decimals"
    elif amount is not None and amount < Decimal("10.00"):
        errors["amount"] = "Minimum amount is 10.00"
    elif amount is not None and amount >= Decimal("100000000"):
        errors["amount"] = "amount has at most 8 digits"
    if values["currency"] and values["currency"] != "BDT":
        errors["currency"] = "Only BDT acceptable."
    for name in ("country", "ship_to_country"):
        if values[name] and name not in errors and not COUNTRY_RE.match(values[name]):
            errors[name] = f"{name} must be a 2 or 3 letter ISO code"
    for name in ("email", "ship_to_email"):
        if values[name] and name not in errors and not EMAIL_RE.match(values[name]):
            errors[name] = f"{name} is not a valid email address"
    for name in ("redirect_url", "ipn_url"):
        if values[name] and name not in errors and not URL_RE.match(values[name]):
            errors[name] = f"{name} is not a valid URL"
    client_id = str(zlib.crc32(str(account["alias"]).encode()) % 1000)
    if errors:
        echo = {k: v for k, v in values.items() if k not in errors and k != "amount"}
        return _invalid(errors, data={"client_id": client_id, **echo})
    assert amount is not None
    with store.table("portwallet.invoices") as invoices:
        invoice_id = secrets.token_hex(8).upper()
        invoice: dict[str, Any] = {
            "id": str(len(invoices) + 1),
            "client_id": client_id,
            **values,
            "amount": f"{amount:f}",
            "gateway_txn_id": "",
            "reason": "",
            "invoice_id": invoice_id,
            "code": 100,
            "_sent_amount": values["amount"],
            "_app_key": account["app_key"],
            "_card": False,
            "_refunds": [],
        }
        invoices[invoice_id] = invoice
    # The sample answer echoes the amount as it was sent ("amount":"100").
    return _answer(200, data={**_public(invoice), "amount": invoice["_sent_amount"]})


def ipn_validate(form: QueryDict, account: dict[str, Any]) -> JsonResponse:
    """Verify existing transaction: the invoice must be this merchant's, for this amount."""
    found = _load(form, account)
    amount = _amount(form.get("amount", ""))
    if found is None or amount is None or amount != Decimal(found["amount"]):
        return _invalid("Invalid IPN Request")
    return _answer(found["code"], data=transaction_data(found))


def get_invoice(form: QueryDict, account: dict[str, Any]) -> JsonResponse:
    """Retrieve existing transaction."""
    found = _load(form, account)
    if found is None:
        return _invalid("Invalid Request")
    return _answer(found["code"], data=transaction_data(found))


def refund_request(form: QueryDict, account: dict[str, Any]) -> JsonResponse:
    """Refund part or all of what is left of a paid invoice."""
    found = _load(form, account)
    if found is None:
        return _invalid("Invalid Request")
    amount = _amount(form.get("amount", ""))
    if amount is None:
        return _invalid(
            {"amount": "amount is not set"} if not form.get("amount") else "Invalid amount"
        )
    with store.table("portwallet.invoices"):
        if found["code"] not in REFUNDABLE:
            return _not_allowed(f"Invoice is {NAMES[found['code']]} and cannot be refunded")
        left = Decimal(found["amount"]) - sum(
            (Decimal(r["amount"]) for r in found["_refunds"]), Decimal(0)
        )
        if amount > left:
            return _invalid(f"Refund amount exceeded. Refundable amount is {left:.2f}")
        found["_refunds"].append({"amount": f"{amount:f}", "settled": False})
        found["code"] = 210
        instant = refund_mode() == "instant"
    if instant:
        advance_refunds(found["invoice_id"], settle=True)
    return _answer(found["code"], data=transaction_data(found))


CALLS = {
    "gen_invoice": gen_invoice,
    "ipn_validate": ipn_validate,
    "get_invoice": get_invoice,
    "refund_request": refund_request,
}


@csrf_exempt
@require_http_methods(["POST"])
def api(request: HttpRequest) -> HttpResponse:
    """The one endpoint: form-encoded parameters, the ``call`` names the operation."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return _invalid("Parameters must be form-encoded")
    form = request.POST
    account, refused = _authenticate(form)
    if refused is not None:
        return refused
    assert account is not None
    call = str(form.get("call", ""))
    handler = CALLS.get(call)
    if handler is None:
        return _invalid({"call": f"Unknown call {call}"})
    return handler(form, account)


# -- emulator controls (tests, demo) ---------------------------------------------------------


def refund_mode() -> str:
    with store.table("portwallet.config") as config:
        return str(config.get("refunds", "instant"))


def set_refund_mode(mode: str) -> None:
    """``"instant"`` (default): the bank settles a refund at once (220/230, then the IPN).
    ``"pending"``: it stays 210 REFUND_PENDING until :func:`advance_refunds`."""
    if mode not in ("instant", "pending"):
        raise ValueError(mode)
    with store.table("portwallet.config") as config:
        config["refunds"] = mode


def advance_refunds(invoice_id: str, *, settle: bool = True) -> int:
    """Move an invoice's refunds on: 210 → 215 REFUND_PROCESSING, or (``settle``) to 220
    REFUNDED / 230 PARTIALLY_REFUNDED with the refund IPN. Returns the new code."""
    with store.table("portwallet.invoices") as invoices:
        found = invoices[invoice_id]
        if found["code"] not in (210, 215):
            return int(found["code"])
        if not settle:
            found["code"] = 215
            return 215
        for refund in found["_refunds"]:
            refund["settled"] = True
        refunded = sum((Decimal(r["amount"]) for r in found["_refunds"]), Decimal(0))
        found["code"] = 220 if refunded >= Decimal(found["amount"]) else 230
        code = int(found["code"])
    deliver_ipn(found)
    return code


def charge_back(invoice_id: str) -> None:
    """The issuing bank charged the payment back: 240 CHARGED_BACK, and the IPN."""
    with store.table("portwallet.invoices") as invoices:
        found = invoices[invoice_id]
        found["code"] = 240
    deliver_ipn(found)


def ipn_for(invoice: dict[str, Any]) -> dict[str, str]:
    """The IPN form the emulator posts for an invoice's current state."""
    return {
        "invoice": invoice["invoice_id"],
        "amount": invoice["amount"],
        "status": NAMES[invoice["code"]],
    }


def deliver_ipn(invoice: dict[str, Any]) -> bool:
    """POST the IPN to the invoice's ``ipn_url`` (if it has one); True if it answered 2xx."""
    url = invoice.get("ipn_url")
    if not url:
        return False
    try:
        response = requests.post(url, data=ipn_for(invoice), timeout=(5, 30))
    except requests.RequestException as exc:
        logger.warning("PortWallet IPN to %s failed: %s", url, exc)
        return False
    return 200 <= response.status_code < 300


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *extra.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def hosted_page(request: HttpRequest) -> HttpResponse:
    """``payment/?invoice=ID``: the customer pays, is declined, or cancels."""
    invoice_id = request.GET.get("invoice") or request.POST.get("invoice", "")
    with store.table("portwallet.invoices") as invoices:
        found = invoices.get(invoice_id)
    if found is None:
        return HttpResponse("No such invoice.", status=404, content_type="text/plain")
    if request.method == "GET":
        return render(
            request,
            "django_multipay/sandbox/portwallet_pay.html",
            {
                "invoice": _public(found),
                "status": NAMES[found["code"]],
                "outcomes": OUTCOMES,
                "action": reverse("multipay_sandbox:portwallet-pay"),
            },
        )
    outcome = request.POST.get("outcome", "")
    if outcome not in OUTCOMES:
        return HttpResponse("Choose pay, decline or cancel.", status=400, content_type="text/plain")
    with store.table("portwallet.invoices"):
        if found["code"] != 100:
            return HttpResponse(
                f"Invoice is already {NAMES[found['code']]}.", status=409, content_type="text/plain"
            )
        if outcome == "pay":
            found["code"] = 200
            found["_card"] = True
            found["gateway_txn_id"] = str(secrets.randbelow(10**9)).zfill(9)
        elif outcome == "decline":
            found["code"] = 300
            found["_card"] = True
            found["reason"] = "Unsuccessful - Declined"
        else:
            found["code"] = 120
            found["reason"] = "Cancelled by the customer"
    if outcome != "cancel":
        # "It will notify only on success/failed/refund payment."
        deliver_ipn(found)
    target = _with_query(
        found["redirect_url"], {"invoice": found["invoice_id"], "status": NAMES[found["code"]]}
    )
    return HttpResponseRedirect(target)


urlpatterns = [
    path("", api, name="portwallet-api"),
    path("payment/", hosted_page, name="portwallet-pay"),
]

# Answered only where test-only parts may run (DEBUG, or ALLOW_TEST_GATEWAYS).
urlpatterns = guarded(urlpatterns)
