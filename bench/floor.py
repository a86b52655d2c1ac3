"""The floor: a bare view doing a first dummy notification's SQL writes, no framework around it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from django_multipay.models import Invoice, Notification, Order

SECRET = settings.MULTIPAY["GATEWAYS"]["dummy"]["OPTIONS"]["webhook_secret"].encode()
TOLERANCE = 300

_q = connection.ops.quote_name
INVOICE, ORDER, NOTIFICATION = (_q(m._meta.db_table) for m in (Invoice, Order, Notification))

LOCK = (
    f"SELECT i.id, i.amount, i.currency, o.id FROM {INVOICE} i "
    f"JOIN {ORDER} o ON o.id = i.order_id WHERE i.id = %s FOR UPDATE"
)
PAY_INVOICE = (
    f"UPDATE {INVOICE} SET status = 'paid', captured_amount = amount, "
    "gateway_id = CASE WHEN gateway_id = '' THEN %s ELSE gateway_id END, "
    "gateway_data = %s, updated_at = %s WHERE id = %s"
)
PAY_ORDER = f"UPDATE {ORDER} SET status = 'paid', updated_at = %s WHERE id = %s"
STORE = (
    f"INSERT INTO {NOTIFICATION} (gateway, invoice_id, method, path, query_string, headers, "
    "body, remote_addr, received_at, verified, result, reason, dedup_key, attempts, "
    "processed_at) VALUES ('dummy', %s, %s, %s, %s, %s, %s, %s, %s, true, 'processed', '', "
    "%s, 1, %s)"
)


def _signed(header: str, body: bytes) -> bool:
    """``t=<time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``, recent (the dummy's scheme)."""
    parts = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts[key] = value
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    mac = hmac.new(SECRET, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - stamp) <= TOLERANCE and hmac.compare_digest(mac, parts.get("v1", ""))


@csrf_exempt
@require_POST
def notify(request: HttpRequest) -> HttpResponse:
    """BEGIN, lock invoice and order, update both, insert the notification, COMMIT."""
    body = request.body
    if not _signed(request.headers.get("Multipay-Signature", ""), body):
        return HttpResponse("Bad signature", status=400, content_type="text/plain")
    try:
        payload = json.loads(body)
        data = payload["data"]
        invoice_id, gateway_id = str(data["reference"]), str(data["payment_id"])
        claimed = Decimal(str(data["amount"]))
    except (ValueError, KeyError, TypeError, InvalidOperation):
        return HttpResponse("Malformed", status=400, content_type="text/plain")
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(LOCK, [invoice_id])
        row = cursor.fetchone()
        if row is None:
            return HttpResponse("Unknown invoice", status=404, content_type="text/plain")
        _id, amount, currency, order_id = row
        if claimed != amount or data.get("currency") != currency:
            return HttpResponse("Amount mismatch", status=400, content_type="text/plain")
        cursor.execute(PAY_INVOICE, [gateway_id, json.dumps(payload), now, invoice_id])
        cursor.execute(PAY_ORDER, [now, order_id])
        cursor.execute(
            STORE,
            [
                invoice_id,
                request.method,
                request.path,
                request.META.get("QUERY_STRING", ""),
                json.dumps(dict(request.headers)),
                body.decode(),
                request.META.get("REMOTE_ADDR") or None,
                now,
                str(payload["id"]),
                now,
            ],
        )
    return HttpResponse("OK", content_type="text/plain")
