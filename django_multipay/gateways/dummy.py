"""The dummy gateway: a complete, test-only backend that talks to the built-in emulator.

It is the reference every real backend is held against: hosted payment page, HMAC-signed
notifications (verified, then the status re-read server-to-server), capture, cancel, partial
and full refunds. Wire format: docs/gateways/dummy.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from django_multipay import money
from django_multipay.exceptions import (
    GatewayAPIError,
    NotificationRejected,
    PaymentDeclined,
    RefundError,
)
from django_multipay.gateways.base import ApiCall, BaseGateway, Capabilities, GatewayOption
from django_multipay.gateways.results import (
    InboundRequest,
    NotificationEvent,
    PaymentAction,
    PaymentStart,
    PaymentUrls,
    RefundResult,
    StatusResult,
)
from django_multipay.gateways.webhooks import TimestampedHmac, malformed, required_header
from django_multipay.models import Invoice, Refund
from django_multipay.status import InvoiceStatus, RefundStatus

SIGNATURE_HEADER = "Multipay-Signature"

#: Emulator statuses → ours. The one place this vocabulary is mapped.
STATUS_MAP: dict[str, str] = {
    "pending": InvoiceStatus.PENDING,
    "authorized": InvoiceStatus.AUTHORIZED,
    "paid": InvoiceStatus.PAID,
    "declined": InvoiceStatus.FAILED,
    "cancelled": InvoiceStatus.CANCELLED,
    "expired": InvoiceStatus.EXPIRED,
    "partially_refunded": InvoiceStatus.PARTIALLY_REFUNDED,
    "refunded": InvoiceStatus.REFUNDED,
}

REFUND_STATUS_MAP: dict[str, str] = {
    "pending": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
}


#: "<t>.<body>", as Stripe-style signatures are made.
SIGNED = TimestampedHmac(".")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    return f"t={timestamp},v1={SIGNED.digest(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: int, now: float | None = None
) -> None:
    """Raise ``NotificationRejected`` unless ``header`` signs ``body`` recently with ``secret``."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise NotificationRejected(
            "missing or malformed signature timestamp", code="signature"
        ) from None
    SIGNED.verify(secret, timestamp, parts.get("v1", []), body, tolerance=tolerance, now=now)


class DummyGateway(BaseGateway):
    """Dummy (test-only): for development and tests only, backed by ``django_multipay.sandbox``;
    refused outside ``DEBUG`` (``multipay.E005``)."""

    display_name = "Dummy"
    emulator = ("django_multipay.sandbox.dummy", "api/payments")
    test_only = True
    capabilities = Capabilities(
        refund=True,
        partial_refund=True,
        max_refunds=10,
        idempotent_refunds=True,
        capture=True,
        cancel=True,
        fetch_status=True,
        list_refunds=True,
        signed_notifications=True,
    )
    # docs/gateways/dummy.md, "Options".
    declared_options = (
        GatewayOption("api_key", required=True, secret=True),
        GatewayOption("webhook_secret", required=True, secret=True),
        GatewayOption("capture", default="automatic"),
        GatewayOption("signature_tolerance", int, default=300),
        GatewayOption("trust_signed_notifications", bool, default=False),
    )
    live_base_url = sandbox_base_url = "http://127.0.0.1:8000/sandbox/dummy/"

    def request_headers(self, call: ApiCall) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.options['api_key']}", "Accept": "application/json"}

    def _status(self, data: dict[str, Any]) -> StatusResult:
        with self.reading("payment", data):
            status = STATUS_MAP[data["status"]]
            currency = money.normalize_currency(data["currency"])
            return StatusResult(
                status=status,
                gateway_id=str(data["id"]),
                amount=money.validate_amount(data["amount"], currency),
                currency=currency,
                captured_amount=money.to_decimal(data.get("captured_amount") or 0)
                if status not in (InvoiceStatus.PENDING, InvoiceStatus.AUTHORIZED)
                and data.get("captured_amount") is not None
                else None,
                refunded_amount=money.to_decimal(data["refunded_amount"])
                if data.get("refunded_amount") not in (None, "0", "0.00")
                else None,
                failure_reason=str(data.get("failure_reason") or ""),
                raw=data,
            )

    def start_payment(self, invoice: Invoice, urls: PaymentUrls) -> PaymentStart:
        body = {
            "amount": money.format_decimal(invoice.amount, invoice.currency),
            "currency": invoice.currency,
            "reference": str(invoice.pk),
            "description": invoice.order.description or invoice.order.reference,
            "return_url": urls.return_url,
            "cancel_url": urls.cancel_url,
            "notify_url": urls.notify_url,
            "capture": self.option("capture", "automatic"),
        }
        headers = {"Idempotency-Key": str(invoice.pk)}
        data = self.call("POST", "api/payments", body, headers=headers, expected=(200, 201))
        with self.reading("payment", data):
            return PaymentStart(
                expires_at=parse_datetime(data["expires_at"]) if data.get("expires_at") else None,
                action=PaymentAction(url=str(data["url"])),
                gateway_id=str(data["id"]),
                raw=data,
            )

    def fetch_status(self, invoice: Invoice) -> StatusResult:
        return self._status(self.call("GET", f"api/payments/{invoice.gateway_id}"))

    def parse_notification(self, request: InboundRequest) -> NotificationEvent:
        header = required_header(request, SIGNATURE_HEADER, "missing signature header")
        verify_signature(
            self.options["webhook_secret"],
            header,
            request.body,
            tolerance=int(self.option("signature_tolerance", 300)),
        )
        with malformed():
            payload = request.json()
            data = payload["data"]
            kind = str(payload["type"]).partition(".")[0]
            claim = None
            if kind == "payment" and data.get("status") in STATUS_MAP:
                claim = StatusResult(
                    status=STATUS_MAP[data["status"]],
                    gateway_id=str(data["payment_id"]),
                    amount=money.to_decimal(data["amount"]),
                    currency=money.normalize_currency(data["currency"]),
                )
            return NotificationEvent(
                invoice_id=str(data["reference"]),
                gateway_id=str(data["payment_id"]),
                dedup_key=str(payload["id"]),
                status=claim,
                # The signature covers the whole body, status and amount included.
                authoritative=bool(self.option("trust_signed_notifications", False))
                and claim is not None,
                kind=kind if kind in ("payment", "refund") else str(payload["type"]),
                raw=payload,
            )

    def capture(self, invoice: Invoice, amount: Decimal) -> StatusResult:
        body = {"amount": money.format_decimal(amount, invoice.currency)}
        try:
            data = self.call("POST", f"api/payments/{invoice.gateway_id}/capture", body)
        except GatewayAPIError as exc:
            if exc.http_status == 402:
                raise PaymentDeclined(
                    gettext("Capture declined"), gateway=self.alias, response=exc.response
                ) from None
            raise
        return self._status(data)

    def cancel(self, invoice: Invoice) -> StatusResult:
        return self._status(self.call("POST", f"api/payments/{invoice.gateway_id}/cancel"))

    def _refund(self, data: dict[str, Any], currency: str) -> RefundResult:
        # No HTTP status if unreadable: whether a refund was made is then unknown, not refused.
        with self.reading("refund", data):
            return RefundResult(
                status=REFUND_STATUS_MAP[data["status"]],
                gateway_refund_id=str(data["id"]),
                amount=money.validate_amount(data["amount"], currency),
                currency=money.normalize_currency(data["currency"]),
                failure_reason=str(data.get("failure_reason") or ""),
                idempotency_key=str(data.get("idempotency_key") or ""),
                raw=data,
            )

    def refund(self, refund: Refund) -> RefundResult:
        try:
            data = self.call(
                "POST",
                f"api/payments/{refund.invoice.gateway_id}/refunds",
                {
                    "amount": money.format_decimal(refund.amount, refund.currency),
                    "currency": refund.currency,
                    "reason": refund.reason,
                },
                headers={"Idempotency-Key": refund.idempotency_key},
                expected=(200, 201),
            )
        except GatewayAPIError as exc:
            if exc.http_status is not None and 400 <= exc.http_status < 500:
                raise RefundError(
                    # Translators: %(reason)s is the gateway's own words, not translated.
                    gettext("Refund refused: %(reason)s") % {"reason": exc.message},
                    gateway=self.alias,
                    response=exc.response,
                ) from None
            raise
        return self._refund(data, refund.currency)

    def list_refunds(self, invoice: Invoice) -> list[RefundResult]:
        data = self.call("GET", f"api/payments/{invoice.gateway_id}/refunds")
        refunds = data.get("refunds") if isinstance(data, dict) else None
        if not isinstance(refunds, list):
            raise self.unreadable("refund list", data, "no list of refunds")
        return [self._refund(item, invoice.currency) for item in refunds]
