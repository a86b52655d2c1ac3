"""Emulator of the dummy gateway: JSON API, hosted payment page and signed notifications."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import requests
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from django_multipay import money
from django_multipay.sandbox.accounts import account_with
from django_multipay.sandbox.guard import guarded
from django_multipay.sandbox.store import store

logger = logging.getLogger("django_multipay.sandbox.dummy")

#: The backend whose aliases are the emulator's merchant accounts (named, never imported).
BACKEND = "django_multipay.gateways.dummy.DummyGateway"
PAYMENT_TTL = timedelta(hours=1)
OUTCOMES = ("paid", "declined", "cancelled")
#: docs/gateways/dummy.md, "Notifications" / "Signature": the header the emulator signs with.
SIGNATURE_HEADER = "Multipay-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The emulator's own ``Multipay-Signature`` value (docs/gateways/dummy.md, "Signature"):
    ``t=<unix time>,v1=<hex HMAC-SHA256(webhook_secret, "<t>." + body)>``, over the raw body
    bytes exactly as sent."""
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _account(request: HttpRequest) -> dict[str, Any] | None:
    """The dummy alias whose api_key the request carries (the emulator's merchant accounts)."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer":
        return None
    return account_with(BACKEND, "api_key", key)


def _public(payment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payment.items() if not k.startswith("_")}


def _json_body(request: HttpRequest) -> dict[str, Any]:
    data = json.loads(request.body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _load(payment_id: str, account: dict[str, Any]) -> dict[str, Any] | None:
    with store.table("dummy.payments") as payments:
        payment = payments.get(payment_id)
    if payment is None or payment["_api_key"] != account["api_key"]:
        return None
    assert isinstance(payment, dict)
    if payment["status"] in ("pending", "authorized") and timezone.now() > payment["_expires"]:
        payment["status"] = "expired"
    return payment


def _authenticated(view: Any) -> Any:
    """Answer 401 without a known API key; hand the view the account, and the payment named
    by ``payment_id`` (404 if it is not this account's); invalid input is a 400."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account = _account(request)
        if account is None:
            return _error(401, "unauthorized", "Missing or unknown API key.")
        if "payment_id" in kwargs:
            found = _load(kwargs.pop("payment_id"), account)
            if found is None:
                return _error(404, "not_found", "No such payment.")
            kwargs["found"] = found
        try:
            return view(request, account, *args, **kwargs)  # type: ignore[no-any-return]
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            return _error(400, "invalid_request", f"{type(exc).__name__}: {exc}")

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return csrf_exempt(wrapper)


@_authenticated
@require_http_methods(["POST"])
def payments(request: HttpRequest, account: dict[str, Any]) -> HttpResponse:
    """Create a payment. Repeating the same ``Idempotency-Key`` returns the same payment."""
    data = _json_body(request)
    key = request.headers.get("Idempotency-Key", "")
    with store.table("dummy.idempotency") as seen:
        if key and key in seen:
            with store.table("dummy.payments") as table:
                return JsonResponse(_public(table[seen[key]]), status=200)
    currency = money.normalize_currency(data["currency"])
    amount = money.validate_amount(data["amount"], currency)
    for field in ("reference", "return_url", "notify_url"):
        if not str(data.get(field, "")).strip():
            return _error(400, "invalid_request", f"{field} is required.")
    payment_id = "pay_" + secrets.token_hex(8)
    now = timezone.now()
    payment = {
        "id": payment_id,
        "status": "pending",
        "amount": money.format_decimal(amount, currency),
        "currency": currency,
        "captured_amount": "0",
        "refunded_amount": "0",
        "reference": str(data["reference"]),
        "description": str(data.get("description", "")),
        "capture": "manual" if data.get("capture") == "manual" else "automatic",
        "url": request.build_absolute_uri(reverse("multipay_sandbox:dummy-pay", args=[payment_id])),
        "created_at": now.isoformat(),
        "expires_at": (now + PAYMENT_TTL).isoformat(),
        "failure_reason": "",
        "_api_key": account["api_key"],
        "_expires": now + PAYMENT_TTL,
        "_return_url": str(data["return_url"]),
        "_cancel_url": str(data.get("cancel_url") or data["return_url"]),
        "_notify_url": str(data["notify_url"]),
        "_refunds": [],
    }
    with store.table("dummy.payments") as table:
        table[payment_id] = payment
    if key:
        with store.table("dummy.idempotency") as seen:
            seen[key] = payment_id
    return JsonResponse(_public(payment), status=201)


@_authenticated
@require_http_methods(["GET"])
def payment(request: HttpRequest, account: dict[str, Any], found: dict[str, Any]) -> HttpResponse:
    """Read a payment."""
    return JsonResponse(_public(found))


@_authenticated
@require_http_methods(["POST"])
def capture(request: HttpRequest, account: dict[str, Any], found: dict[str, Any]) -> HttpResponse:
    """Capture an authorized payment (all or part of it)."""
    data = _json_body(request)
    amount = money.validate_amount(data.get("amount", found["amount"]), found["currency"])
    with store.table("dummy.payments"):
        if found["status"] != "authorized":
            return _error(409, "invalid_status", f"Payment is {found['status']}.")
        if amount > Decimal(found["amount"]):
            return _error(400, "amount_too_large", "Capture exceeds the authorized amount.")
        found["status"] = "paid"
        found["captured_amount"] = money.format_decimal(amount, found["currency"])
    return JsonResponse(_public(found))


@_authenticated
@require_http_methods(["POST"])
def cancel(request: HttpRequest, account: dict[str, Any], found: dict[str, Any]) -> HttpResponse:
    """Cancel a payment that is pending or authorized."""
    with store.table("dummy.payments"):
        if found["status"] not in ("pending", "authorized"):
            return _error(409, "invalid_status", f"Payment is {found['status']}.")
        found["status"] = "cancelled"
    return JsonResponse(_public(found))


@_authenticated
@require_http_methods(["GET", "POST"])
def refunds(request: HttpRequest, account: dict[str, Any], found: dict[str, Any]) -> HttpResponse:
    """List refunds (GET) or refund part or all of a paid payment (POST, idempotent by key)."""
    if request.method == "GET":
        return JsonResponse({"refunds": list(found["_refunds"])})
    data = _json_body(request)
    key = request.headers.get("Idempotency-Key", "")
    currency = found["currency"]
    with store.table("dummy.payments"):
        for existing in found["_refunds"]:
            if key and existing["idempotency_key"] == key:
                return JsonResponse(existing, status=200)
        if found["status"] not in ("paid", "partially_refunded"):
            return _error(409, "invalid_status", f"Payment is {found['status']}.")
        if money.normalize_currency(data.get("currency", currency)) != currency:
            return _error(400, "currency_mismatch", "Refund currency differs from the payment's.")
        amount = money.validate_amount(data["amount"], currency)
        refunded = Decimal(found["refunded_amount"])
        if refunded + amount > Decimal(found["captured_amount"]):
            return _error(400, "amount_too_large", "Refund exceeds what is left to refund.")
        refund = {
            "id": "re_" + secrets.token_hex(8),
            "status": "succeeded",
            "amount": money.format_decimal(amount, currency),
            "currency": currency,
            "reason": str(data.get("reason", "")),
            "idempotency_key": key,
            "created_at": timezone.now().isoformat(),
        }
        found["_refunds"].append(refund)
        refunded += amount
        found["refunded_amount"] = money.format_decimal(refunded, currency)
        found["status"] = (
            "refunded" if refunded == Decimal(found["captured_amount"]) else "partially_refunded"
        )
    # Like real gateways, the webhook may reach the shop before the answer does.
    deliver_notification(found, account, refund_event_for(found, refund))
    return JsonResponse(refund, status=201)


@_authenticated
@require_http_methods(["POST"])
def resend(request: HttpRequest, account: dict[str, Any], found: dict[str, Any]) -> HttpResponse:
    """Send the payment's notification again (as a gateway's retry would)."""
    delivered = deliver_notification(found, account)
    return JsonResponse({"delivered": delivered})


def notification_for(payment: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """The event body the emulator sends for a payment's current state."""
    return {
        "id": event_id or f"evt_{payment['id']}_{payment['status']}",
        "type": f"payment.{payment['status']}",
        "created": int(time.time()),
        "data": {
            "payment_id": payment["id"],
            "reference": payment["reference"],
            "status": payment["status"],
            "amount": payment["amount"],
            "currency": payment["currency"],
        },
    }


def refund_event_for(payment: dict[str, Any], refund: dict[str, Any]) -> dict[str, Any]:
    """The event body the emulator sends when a refund settles."""
    return {
        "id": f"evt_{refund['id']}_{refund['status']}",
        "type": f"refund.{refund['status']}",
        "created": int(time.time()),
        "data": {
            "payment_id": payment["id"],
            "reference": payment["reference"],
            "refund_id": refund["id"],
            "idempotency_key": refund["idempotency_key"],
            "status": refund["status"],
            "amount": refund["amount"],
            "currency": refund["currency"],
        },
    }


def deliver_notification(
    payment: dict[str, Any], account: dict[str, Any], event: dict[str, Any] | None = None
) -> bool:
    """POST a signed notification to the shop's notify URL; True if it answered 2xx."""
    body = json.dumps(event or notification_for(payment)).encode()
    header = sign(str(account["webhook_secret"]), int(time.time()), body)
    try:
        response = requests.post(
            payment["_notify_url"],
            data=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: header},
            timeout=(5, 30),
        )
    except requests.RequestException as exc:
        logger.warning("Dummy notification to %s failed: %s", payment["_notify_url"], exc)
        return False
    return 200 <= response.status_code < 300


@csrf_exempt
@require_http_methods(["GET", "POST"])
def hosted_page(request: HttpRequest, payment_id: str) -> HttpResponse:
    """The page the customer is sent to: choose paid, declined or cancelled."""
    with store.table("dummy.payments") as table:
        found = table.get(payment_id)
    if found is None:
        return HttpResponse("No such payment.", status=404, content_type="text/plain")
    if request.method == "GET":
        return render(
            request,
            "django_multipay/sandbox/dummy_pay.html",
            {"payment": _public(found), "outcomes": OUTCOMES},
        )
    outcome = request.POST.get("outcome", "")
    if outcome not in OUTCOMES:
        return HttpResponse(
            "Choose paid, declined or cancelled.", status=400, content_type="text/plain"
        )
    with store.table("dummy.payments"):
        if found["status"] != "pending":
            return HttpResponse(
                f"Payment is already {found['status']}.", status=409, content_type="text/plain"
            )
        if outcome == "paid":
            if found["capture"] == "manual":
                found["status"] = "authorized"
            else:
                found["status"] = "paid"
                found["captured_amount"] = found["amount"]
        elif outcome == "declined":
            found["status"] = "declined"
            found["failure_reason"] = "Card declined (emulated)"
        else:
            found["status"] = "cancelled"
    account = account_with(BACKEND, "api_key", found["_api_key"])
    if account is not None and account.get("webhook_secret"):
        deliver_notification(found, account)
    target = found["_cancel_url"] if outcome == "cancelled" else found["_return_url"]
    return HttpResponseRedirect(target)


urlpatterns = [
    path("api/payments", payments, name="dummy-payments"),
    path("api/payments/<str:payment_id>", payment, name="dummy-payment"),
    path("api/payments/<str:payment_id>/capture", capture, name="dummy-capture"),
    path("api/payments/<str:payment_id>/cancel", cancel, name="dummy-cancel"),
    path("api/payments/<str:payment_id>/refunds", refunds, name="dummy-refunds"),
    path("api/payments/<str:payment_id>/notify", resend, name="dummy-resend"),
    path("pay/<str:payment_id>", hosted_page, name="dummy-pay"),
]

# Answered only where test-only parts may run (DEBUG, or ALLOW_TEST_GATEWAYS).
urlpatterns = guarded(urlpatterns)
