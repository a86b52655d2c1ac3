"""Emulator of PortOne Global: payments, payment links, capture, refunds, signed webhooks."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from django_multipay import money
from django_multipay.conf import multipay_settings
from django_multipay.gateways import portone_signing as signing
from django_multipay.sandbox.accounts import account_with
from django_multipay.sandbox.guard import guarded
from django_multipay.sandbox.store import store

logger = logging.getLogger("django_multipay.sandbox.portone")

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


class Refused(Exception):
    """An error answer in PortOne's shape: ``{message, status_code, status_reason}``."""

    def __init__(self, http: int, code: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.http, self.code, self.reason, self.message = http, code, reason, message


def _number(value: Decimal, currency: str) -> Any:
    from django_multipay.gateways.portone import _Number

    return _Number(money.format_decimal(value, currency))


def answer(data: Any, status: int = 200) -> HttpResponse:
    from django_multipay.gateways.portone import dumps

    return HttpResponse(dumps(data), status=status, content_type="application/json")


def refused(exc: Refused) -> HttpResponse:
    body = {"message": exc.message, "status_code": exc.code, "status_reason": exc.reason}
    return answer({"is_success": False, **body}, exc.http)


def _ref() -> str:
    return secrets.token_urlsafe(20).replace("-", "A").replace("_", "B")[:27]


def _account(request: HttpRequest, *, token: bool) -> dict[str, Any]:
    """The PortOne alias whose client key the request carries; with ``token``, also a valid
    JWT (HS256 with its secret, iss PORTONE, sub the client key, not expired)."""
    # Imported here: the emulator's URLs load even where PyJWT (the extra) is missing.
    import jwt

    from django_multipay.gateways.portone import PortOneGateway, read_token

    key = request.headers.get("X-Portone-Client-Key", "")
    account = account_with(PortOneGateway, "client_key", key)
    if account is None:
        raise Refused(
            401, "4010", "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR", "invalid auth key"
        )
    if token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        try:
            if scheme != "Bearer":
                raise jwt.InvalidTokenError("no bearer token")
            read_token(value, key, str(account["secret_key"]))
        except jwt.InvalidTokenError:
            raise Refused(
                401,
                "4054",
                "INVALID_UNAUTHORIZED_JWT_TOKEN_ERROR",
                "The JWT Token or header is invalid or expired!",
            ) from None
    return account


def _body(request: HttpRequest, *required: str) -> dict[str, Any]:
    from django_multipay.gateways.portone import loads

    try:
        data = loads(request.body or b"{}")
    except ValueError:
        raise Refused(400, "4001", "INVALID_REQUEST", "body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "4001", "INVALID_REQUEST", "body must be a JSON object")
    for name in required:
        if data.get(name) in (None, ""):
            raise Refused(400, "4001", "INVALID_REQUEST", f"{name} is a required field")
    if str(data.get("environment", "sandbox")) not in ("sandbox", "live"):
        raise Refused(400, "4034", "INVALID_ENVIRONMENT", "environment is live or sandbox")
    return data


def _money(data: dict[str, Any]) -> tuple[Decimal, str]:
    try:
        currency = money.normalize_currency(str(data["currency"]))
        return money.validate_amount(data["amount"], currency), currency
    except (KeyError, ValidationError):
        raise Refused(400, "4041", "INVALID_AMOUNT", "invalid amount or currency") from None


def _check_request_signature(
    account: dict[str, Any], data: dict[str, Any], amount: Decimal, currency: str
) -> None:
    params = {
        "amount": money.format_trimmed(amount, currency),
        "client_key": account["client_key"],
        "currency": currency,
        "failure_url": data.get("failure_url"),
        "merchant_order_id": data.get("merchant_order_id"),
        "success_url": data.get("success_url"),
    }
    if not signing.verify(
        str(account["secret_key"]),
        params,
        signing.PAYMENT_REQUEST_FIELDS,
        str(data.get("signature_hash") or ""),
    ):
        raise Refused(
            401,
            "4011",
            "INVALID_UNAUTHORISED_TRANSACTION_SIGNATURE_ERROR",
            "signature_hash does not match",
        )


def _api(token: bool = True, methods: tuple[str, ...] = ("POST",)) -> Callable[..., Any]:
    """Authenticate (client key, JWT), turn ``Refused`` into PortOne's error answer."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @require_http_methods(list(methods))
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                account = _account(request, token=token)
                return view(request, account, *args, **kwargs)
            except Refused as exc:
                return refused(exc)

        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return wrapper

    return decorate


def _transaction(key: str, account: dict[str, Any], *, by: str = "order_ref") -> dict[str, Any]:
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


def _link(ref: str, account: dict[str, Any]) -> dict[str, Any]:
    with store.table(LINKS) as table:
        found = table.get(ref)
    if found is None or found["_client_key"] != account["client_key"]:
        raise Refused(400, "4083", "INVALID_PAYMENT_LINK_REF", "Invalid payment link reference")
    assert isinstance(found, dict)
    return found


def _new_transaction(
    account: dict[str, Any], data: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    amount, currency = _money(data)
    order_ref = _ref()
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
        "channel_key": str(data.get("pmt_channel") or "EMULATED"),
        "method_key": str(data.get("pmt_method") or "EMULATED_CARD"),
        "method_name": METHOD_NAME,
        "transaction_type": str(data.get("transaction_type") or "PURCHASE").upper(),
        "environment": str(data.get("environment", "sandbox")),
        "success_url": str(data.get("success_url")),
        "failure_url": str(data.get("failure_url")),
        "pending_url": str(data.get("pending_url") or data.get("success_url")),
        "_client_key": account["client_key"],
        "_refunds": [],
        # A PREAUTH that reads Success is held until captured; nothing on the wire says so.
        "_held": False,
        **fields,
    }


# -- API --------------------------------------------------------------------------------------


@_api(token=False)
def initiate_payment(request: HttpRequest, account: dict[str, Any]) -> HttpResponse:
    """``POST /api/initiatePayment``: client key and signature_hash, no JWT."""
    data = _body(
        request,
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
    )
    if data["key"] != account["client_key"]:
        raise Refused(
            401, "4010", "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR", "key mismatch"
        )
    amount, currency = _money(data)
    _check_request_signature(account, data, amount, currency)
    kind = str(data.get("transaction_type") or "PURCHASE").upper()
    if kind not in ("PURCHASE", "PREAUTH"):
        raise Refused(400, "4001", "INVALID_REQUEST", "transaction_type is PREAUTH or PURCHASE")
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


@_api()
def payment_link(request: HttpRequest, account: dict[str, Any]) -> HttpResponse:
    """``POST /api/paymentLink``: a link to the hosted checkout page."""
    data = _body(
        request,
        "portone_key",
        "merchant_details",
        "merchant_order_id",
        "amount",
        "currency",
        "signature_hash",
        "country_code",
        "success_url",
        "failure_url",
        "source",
        "environment",
    )
    amount, currency = _money(data)
    _check_request_signature(account, data, amount, currency)
    ref = _ref()
    link = {
        "ref": ref,
        "merchant_order_ref": str(data["merchant_order_id"]),
        "status": "Created",
        "amount": amount,
        "currency": currency,
        "country_code": str(data["country_code"]),
        "description": str(data.get("description", "")),
        "data": data,
        "transactions": [],
        "_client_key": account["client_key"],
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
            raise Refused(400, "4079", "INVALID_STATUS_TYPE", f"Payment link is {link['status']}")
        link["status"] = "Cancelled"
    return answer(
        {
            "message": "Payment link status updated successfully to cancelled",
            "status_code": "2000",
            "status_reason": "SUCCESS",
        }
    )


@_api(methods=("GET",))
def link_fetch_status(request: HttpRequest, account: dict[str, Any], ref: str) -> HttpResponse:
    """``GET /api/paymentLink/{ref}/fetch-status``."""
    link = _link(ref, account)
    transactions = [
        {
            "channelOrderRef": t["channel_order_ref"],
            "createdAt": t["created_at"],
            "merchantOrderRef": t["merchant_order_ref"],
            "status": t["status"],
            "statusCode": t["status_code"],
            "statusReason": t["status_reason"],
        }
        for t in link["transactions"]
    ]
    content = {
        "merchantOrderRef": link["merchant_order_ref"],
        "paymentLinkRef": link["ref"],
        "status": link["status"],
        "transactionsList": transactions,
    }
    return answer({"content": content, "status_code": "2000", "status_reason": "SUCCESS"})


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
    data = _body(request, "order_ref")
    if key != account["client_key"]:
        raise Refused(
            401, "4010", "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR", "key mismatch"
        )
    txn = _transaction(str(data["order_ref"]), account)
    content = {k: v for k, v in txn.items() if not k.startswith("_") and not k.endswith("_url")}
    content["amount"] = _number(txn["amount"], txn["currency"])
    return answer({"content": content, "status_code": "2000", "status_reason": "SUCCESS"})


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


def _refund_answer(txn: dict[str, Any]) -> dict[str, Any]:
    return {
        "amountToRefund": _number(_left(txn), txn["currency"]),
        "refundDetails": [
            {**r, "amount": _number(r["amount"], r["currency"])} for r in txn["_refunds"]
        ],
    }


def _left(txn: dict[str, Any]) -> Decimal:
    done = sum((r["amount"] for r in txn["_refunds"] if r["refund_status"] != "FAILED"), Decimal(0))
    return Decimal(txn["amount"]) - done


@_api(methods=("GET", "POST"))
def refunds(request: HttpRequest, account: dict[str, Any], order_ref: str) -> HttpResponse:
    """``GET``/``POST /api/refund/{order_ref}`` (portone-refunds.txt): every refund, and what
    is left to refund (``amountToRefund``)."""
    txn = _transaction(order_ref, account)
    if request.method == "GET":
        return answer(_refund_answer(txn))
    data = _body(
        request, "amount", "channel", "description", "environment", "refund_type", "refund_reason"
    )
    if data["refund_type"] not in ("full", "partial"):
        raise Refused(400, "4001", "INVALID_REQUEST", "refund_type is full or partial")
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


# -- webhooks ----------------------------------------------------------------------------------


def notify_url(request: HttpRequest, account: dict[str, Any]) -> str | None:
    """Where PortOne sends webhooks: the account's ``webhook_url`` (set in PortOne's
    dashboard in real life), else the shop's notify URL for the alias."""
    if account.get("webhook_url"):
        return str(account["webhook_url"])
    try:
        path_ = reverse("django_multipay:notify", kwargs={"alias": account["alias"]})
    except NoReverseMatch:
        return None
    base = multipay_settings.BASE_URL
    return str(base).rstrip("/") + path_ if base else request.build_absolute_uri(path_)


def webhook_for(txn: dict[str, Any], secret: str) -> dict[str, Any]:
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
    params = {name: body.get(name) for name in signing.PAYMENT_WEBHOOK_FIELDS}
    params["amount"] = money.format_trimmed(txn["amount"], txn["currency"])
    body["signature_hash"] = signing.sign(secret, params, signing.PAYMENT_WEBHOOK_FIELDS)
    return body


def refund_webhook_for(txn: dict[str, Any], refund: dict[str, Any]) -> dict[str, Any]:
    """The refund webhook body (refund-webhook.md): no signature."""
    return {
        **refund,
        "amount": _number(refund["amount"], refund["currency"]),
        "payment_txn_ref": txn["order_ref"],
        "payment_channel": txn["channel_key"],
        "payment_method": txn["method_name"],
    }


def _post(url: str | None, body: dict[str, Any]) -> bool:
    from django_multipay.gateways.portone import dumps

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


def deliver_webhook(request: HttpRequest, txn: dict[str, Any], account: dict[str, Any]) -> bool:
    return _post(notify_url(request, account), webhook_for(txn, str(account["secret_key"])))


def deliver_refund_webhook(
    request: HttpRequest, txn: dict[str, Any], refund: dict[str, Any], account: dict[str, Any]
) -> bool:
    return _post(notify_url(request, account), refund_webhook_for(txn, refund))


# -- the customer's pages -------------------------------------------------------------------


def redirect_query(txn: dict[str, Any], secret: str) -> str:
    """The query PortOne appends to the shop's URL (redirect-parameters.md), signed."""
    query = {
        "order_ref": txn["order_ref"],
        "channel_order_ref": txn["channel_order_ref"],
        "merchant_order_ref": txn["merchant_order_ref"],
        "status": txn["status"],
        "status_code": txn["status_code"],
        "status_reason": txn["status_reason"],
        "amount": money.format_trimmed(txn["amount"], txn["currency"]),
        "currency": txn["currency"],
        "link_order_ref": txn["link_order_ref"],
        "method_name": txn["method_name"],
    }
    query["signature_hash"] = signing.sign(secret, query, signing.REDIRECT_FIELDS)
    return urlencode(query)


def _account_for(txn: dict[str, Any]) -> dict[str, Any] | None:
    from django_multipay.gateways.portone import PortOneGateway

    return account_with(PortOneGateway, "client_key", txn["_client_key"])


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
            created_at=timezone.now().isoformat(),
        )
        link["transactions"].append(txn)
    with store.table(TRANSACTIONS) as table:
        table[txn["order_ref"]] = txn
    return _finish(request, txn, outcome)


urlpatterns = [
    path("api/initiatePayment", initiate_payment, name="portone-initiate"),
    path("api/paymentLink", payment_link, name="portone-link"),
    path(
        "api/paymentLink/<str:ref>/status/<str:link_status>",
        link_status_update,
        name="portone-link-status",
    ),
    path("api/paymentLink/<str:ref>/fetch-status", link_fetch_status, name="portone-link-fetch"),
    path("api/transaction/<str:merchant_ref>/status", transaction_status, name="portone-status"),
    path("api/transaction/<str:order_ref>/capture", capture, name="portone-capture"),
    path("api/refund/<str:order_ref>", refunds, name="portone-refunds"),
    path("api/<str:key>/transaction-details", transaction_details, name="portone-details"),
    path("pay/<str:order_ref>", hosted_page, name="portone-pay"),
    path("checkout", checkout_page, name="portone-checkout"),
]

# Answered only where test-only parts may run (DEBUG, or ALLOW_TEST_GATEWAYS).
urlpatterns = guarded(urlpatterns)
