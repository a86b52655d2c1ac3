"""PortOne Global (api.portone.cloud): payments, payment links, capture and refunds.

Wire format: ../shared PortOne specs (payment and refund OpenAPI, portone-refunds.txt) as
summarised on docs/gateways/portone.md. Signatures are in ``portone_signing``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any

import jwt  # PyJWT, the ``portone`` extra: without it the alias fails check multipay.E012
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext

from django_multipay import money
from django_multipay.exceptions import (
    GatewayAPIError,
    GatewayConfigurationError,
    InvalidRequest,
    NotificationRejected,
    PaymentDeclined,
    RefundError,
    UnsupportedOperation,
)
from django_multipay.gateways import portone_signing as signing
from django_multipay.gateways.base import BaseGateway, Capabilities
from django_multipay.gateways.results import (
    InboundRequest,
    NotificationEvent,
    PaymentAction,
    PaymentStart,
    PaymentUrls,
    RefundResult,
    StatusResult,
)
from django_multipay.models import Invoice, Refund
from django_multipay.status import CAPTURED, InvoiceStatus, RefundStatus

CLIENT_KEY_HEADER = "X-Portone-Client-Key"
JWT_ISSUER = "PORTONE"
TRANSACTION_TYPES = ("PURCHASE", "PREAUTH")

#: Transaction ``status`` → ours (payment-openapi "Get Transaction Status", payment webhook).
#: The specs name no held status: a PREAUTH reads "Success" once held, and is ``authorized``
#: until our capture succeeds (``PortOneGateway.holds``). "Authorized" is read defensively.
STATUS_MAP: dict[str, str] = {
    "success": InvoiceStatus.PAID,
    "authorized": InvoiceStatus.AUTHORIZED,
    "authorised": InvoiceStatus.AUTHORIZED,
    "initiated": InvoiceStatus.PENDING,
    "pending": InvoiceStatus.PENDING,
    "processing": InvoiceStatus.PENDING,
    "failed": InvoiceStatus.FAILED,
    "expired": InvoiceStatus.EXPIRED,
    "cancelled": InvoiceStatus.CANCELLED,
    "canceled": InvoiceStatus.CANCELLED,
    "voided": InvoiceStatus.CANCELLED,
}

#: Payment-link statuses (life-cycle: Created → Processing → Success | Expired | Cancelled).
LINK_STATUS_MAP: dict[str, str] = {
    "created": InvoiceStatus.PENDING,
    "processing": InvoiceStatus.PENDING,
    "success": InvoiceStatus.PAID,
    "expired": InvoiceStatus.EXPIRED,
    "cancelled": InvoiceStatus.CANCELLED,
    "canceled": InvoiceStatus.CANCELLED,
    "deleted": InvoiceStatus.CANCELLED,
}

#: ``refund_status`` → ours. Only "SUCCESS" is documented; anything else unknown stays open.
REFUND_STATUS_MAP: dict[str, str] = {
    "success": RefundStatus.SUCCEEDED,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "failure": RefundStatus.FAILED,
    "rejected": RefundStatus.FAILED,
    "pending": RefundStatus.PENDING,
    "initiated": RefundStatus.PENDING,
    "processing": RefundStatus.PENDING,
}

#: Error codes that refuse a refund outright (error-codes: 4070 refund not allowed, 4081
#: partial refund not allowed, 4041 invalid amount).
REFUND_REFUSALS = frozenset({"4041", "4070", "4081"})
#: Error codes that mean our credentials or signature are wrong: a configuration problem.
AUTH_ERRORS = frozenset({"4010", "4011", "4012", "4016", "4054", "4084", "4099"})

#: Our reference in ``refund_reason``, which PortOne echoes in ``refundDetails``: the only
#: field of a refund that comes back, so the only way to match a refund to ours by id.
REFUND_TAG = re.compile(r"\[mp (?P<invoice>[0-9a-fA-F-]{36}) (?P<key>[^\s\]]+)\]")


class _Number(str):
    """Text written into JSON as a number, unquoted (amounts are JSON doubles at PortOne)."""


def dumps(data: Any) -> str:
    """JSON with :class:`_Number` values as bare numbers, so no amount passes through float."""
    if isinstance(data, _Number):
        return str(data)
    if isinstance(data, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in data.items()) + "}"
    if isinstance(data, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in data) + "]"
    return json.dumps(data)


def loads(text: str | bytes) -> Any:
    """JSON with every fractional number read as Decimal (never float)."""
    return json.loads(text, parse_float=Decimal)


def plain(data: Any) -> Any:
    """A copy safe for JSON columns: Decimal amounts become their exact strings."""
    if isinstance(data, Decimal):
        return f"{data:f}"
    if isinstance(data, Mapping):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain(v) for v in data]
    return data


def status_code_class(code: object) -> str:
    """The documented range of a ``status_code``: pending (1xxx), success (2xxx),
    validation (4xxx), system (5xxx), bank/card (6xxx), or ``""``."""
    text = str(code or "").strip()
    return (
        {
            "1": "pending",
            "2": "success",
            "4": "validation",
            "5": "system",
            "6": "declined",
        }.get(text[:1], "")
        if len(text) == 4 and text.isdigit()
        else ""
    )


def make_token(client_key: str, secret_key: str, *, ttl: int = 100, now: int | None = None) -> str:
    """The short-lived HS256 JWT PortOne wants: ``iss`` PORTONE, ``sub`` the client key
    (jwt-authentication.md; the vendor's samples expire it 100 seconds after ``iat``)."""
    issued = int(time.time()) if now is None else now
    # Claims in the order of the vendor's example token, so the bytes match it exactly.
    claims = {"exp": issued + ttl, "iat": issued, "iss": JWT_ISSUER, "sub": client_key}
    return jwt.encode(claims, secret_key, algorithm="HS256")


def read_token(token: str, client_key: str, secret_key: str) -> dict[str, Any]:
    """Verify a token as PortOne does (signature, expiry, issuer, subject); ``jwt`` errors."""
    claims: dict[str, Any] = jwt.decode(
        token,
        secret_key,
        algorithms=["HS256"],
        issuer=JWT_ISSUER,
        options={"require": ["exp", "iat", "iss", "sub"]},
    )
    if claims.get("sub") != client_key:
        raise jwt.InvalidTokenError("token subject is not this client key")
    return claims


def refund_tag(invoice_id: object, key: str) -> str:
    return f"[mp {invoice_id} {key}]"


@dataclass(frozen=True)
class PaymentLink:
    """A payment link created at PortOne: its reference and the page the customer opens."""

    ref: str
    url: str
    raw: Mapping[str, Any]


class PortOneGateway(BaseGateway):
    """PortOne Global. With ``pmt_channel``/``pmt_method`` set, payments start at that
    channel (``/api/initiatePayment``); without, at PortOne's own checkout page through a
    payment link (``/api/paymentLink``)."""

    display_name = "PortOne"
    capabilities = Capabilities(
        refund=True,
        partial_refund=True,
        max_refunds=None,
        # No idempotency key in the refund API: a retry after a lost answer could refund twice.
        idempotent_refunds=False,
        capture=True,
        # Payment links only (PUT /api/paymentLink/{ref}/status/cancelled).
        cancel=True,
        fetch_status=True,
        list_refunds=True,
        signed_notifications=True,
    )
    required_options = ("client_key", "secret_key")
    secret_options = ("secret_key",)
    # docs/gateways/portone.md, "Options" (``webhook_url`` is read by the emulator only).
    config_options = (
        "environment",
        "pmt_channel",
        "pmt_method",
        "transaction_type",
        "country_code",
        "merchant_name",
        "token_ttl",
        "trust_signed_webhooks",
        "webhook_url",
    )
    # One host for both environments; ``environment`` in each body chooses (payment-openapi).
    live_base_url = sandbox_base_url = "https://api.portone.cloud/"
    # payment-openapi "Capture Transaction" gives no time limit for a PREAUTH hold: seven
    # days, the usual lifetime of a card authorization (option ``hold_lifetime``).
    default_hold_lifetime = timedelta(days=7)

    # -- configuration -----------------------------------------------------------------------

    def missing_options(self) -> list[str]:
        """Also the other half of ``pmt_channel``/``pmt_method`` when only one is set."""
        missing = super().missing_options()
        channel, method = self.option("pmt_channel", ""), self.option("pmt_method", "")
        if channel and not method:
            missing.append("pmt_method")
        if method and not channel:
            missing.append("pmt_channel")
        return missing

    def check_options(self) -> None:
        """Refuse a configuration that cannot start a payment (never swallowed)."""
        if "pmt_method" in self.missing_options() or "pmt_channel" in self.missing_options():
            raise GatewayConfigurationError(
                gettext(
                    # Translators: pmt_channel and pmt_method are option names; keep them.
                    "PortOne alias %(alias)s: set both pmt_channel and pmt_method, or neither"
                    " (PortOne's checkout page)."
                )
                % {"alias": repr(self.alias)}
            )
        if self.transaction_type not in TRANSACTION_TYPES:
            raise GatewayConfigurationError(
                # Translators: transaction_type is an option; PURCHASE and PREAUTH its values.
                gettext("PortOne alias %(alias)s: transaction_type must be PURCHASE or PREAUTH.")
                % {"alias": repr(self.alias)}
            )

    @property
    def client_key(self) -> str:
        return str(self.options["client_key"])

    @property
    def environment(self) -> str:
        """``environment`` in every body: the option, else from ``sandbox``; unknown values
        fall back on ``sandbox`` (never live money by mistake)."""
        value = str(self.option("environment", "sandbox" if self.sandbox else "live")).lower()
        return value if value in ("sandbox", "live") else "sandbox"

    @property
    def direct(self) -> bool:
        """Payments start at a configured channel (else at PortOne's checkout page)."""
        return bool(self.option("pmt_channel", ""))

    @property
    def transaction_type(self) -> str:
        return str(self.option("transaction_type", "PURCHASE")).upper()

    def transaction_type_for(self, invoice: Invoice) -> str:
        """``PREAUTH`` or ``PURCHASE`` for this payment (payment-openapi initiatePayment
        ``transaction_type``): the payment's own option (``invoice.gateway_options``), else
        the alias's. A payment link is a purchase: the link API takes no transaction type."""
        if self.is_link(invoice):
            return "PURCHASE"
        options = invoice.gateway_options if isinstance(invoice.gateway_options, Mapping) else {}
        chosen = options.get("transaction_type")
        return str(chosen).upper() if chosen else self.transaction_type

    def holds(self, invoice: Invoice) -> bool:
        """A PREAUTH we have not captured. payment-openapi "Get Transaction Status" answers
        Success, Failed or Pending and names no held status, nor "Capture Transaction" one
        once captured: a PREAUTH that reads Success is held until our capture succeeds."""
        return self.transaction_type_for(invoice) == "PREAUTH" and invoice.status not in CAPTURED

    def holds_reference(self, reference: str) -> bool:
        """:meth:`holds` for the invoice a webhook names by our merchant order reference; the
        alias's transaction type when this alias has no such invoice."""
        try:
            invoice = Invoice.objects.filter(pk=reference, gateway=self.alias).first()
        except (ValidationError, ValueError):
            invoice = None
        if invoice is None:
            return self.transaction_type == "PREAUTH"
        return self.holds(invoice)

    def sign(self, params: Mapping[str, object], fields: tuple[str, ...]) -> str:
        return signing.sign(str(self.options["secret_key"]), params, fields)

    def headers(self, *, token: bool = True) -> dict[str, str]:
        headers = {
            CLIENT_KEY_HEADER: self.client_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if token:
            headers["Authorization"] = "Bearer " + make_token(
                self.client_key,
                str(self.options["secret_key"]),
                ttl=int(self.option("token_ttl", 100)),
            )
        return headers

    # -- the wire ----------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        token: bool = True,
        refund: bool = False,
    ) -> dict[str, Any]:
        """One API call; PortOne's errors become the project's exceptions (error-codes)."""
        try:
            response = self.http.request(
                method,
                path,
                data=dumps(body).encode("utf-8") if body is not None else None,
                headers=self.headers(token=token),
            )
        except GatewayAPIError as exc:
            raise self.error(exc.response, exc.http_status, refund=refund) from None
        try:
            data = loads(response.content)
        except ValueError:
            raise GatewayAPIError(
                f"{method} {path} answered a body that is not JSON",
                gateway=self.alias,
                http_status=response.status_code,
            ) from None
        if not isinstance(data, dict):
            raise GatewayAPIError(
                f"{method} {path} answered {type(data).__name__}", gateway=self.alias
            )
        if data.get("is_success") is False or status_code_class(data.get("status_code")) in (
            "validation",
            "system",
            "declined",
        ):
            raise self.error(data, response.status_code, refund=refund)
        return data

    def error(self, answer: Any, http_status: int | None, *, refund: bool = False) -> Exception:
        """The exception for a PortOne error answer ``{message, status_code, status_reason}``."""
        data = answer if isinstance(answer, dict) else {}
        code = str(data.get("status_code") or "")
        reason = str(data.get("status_reason") or data.get("status_message") or "")
        text = str(data.get("message") or answer or "no message")
        message = f"PortOne {code or http_status} {reason}: {text}".replace("  ", " ")
        redacted = self.redact(answer)
        kind = status_code_class(code)
        if kind == "system" or (http_status or 0) >= 500:
            # The gateway may have acted before failing: the outcome is unknown (no 4xx).
            return GatewayAPIError(
                message,
                gateway=self.alias,
                response=redacted,
                code=code or None,
                http_status=http_status if (http_status or 0) >= 500 else None,
            )
        if refund and (code in REFUND_REFUSALS or kind == "validation"):
            return RefundError(message, gateway=self.alias, response=redacted, code=code or None)
        if kind == "declined":
            return PaymentDeclined(message, gateway=self.alias, response=redacted, code=code)
        return GatewayAPIError(
            message + (" (check client_key and secret_key)" if code in AUTH_ERRORS else ""),
            gateway=self.alias,
            response=redacted,
            code=code or None,
            http_status=http_status,
        )

    def unreadable(self, what: str, data: Any, exc: Exception) -> GatewayAPIError:
        return GatewayAPIError(
            f"Unreadable {what} from PortOne: {type(exc).__name__}: {exc}",
            gateway=self.alias,
            response=self.redact(data),
        )

    # -- checkout ----------------------------------------------------------------------------

    def merchant_order_id(self, invoice: Invoice) -> str:
        """Our reference at PortOne: the invoice id (unique per attempt, as PortOne wants)."""
        return str(invoice.pk)

    def amount(self, value: Decimal, currency: str) -> _Number:
        return _Number(money.format_decimal(value, currency))

    def request_signature(self, invoice: Invoice, urls: PaymentUrls) -> str:
        """Payment request signature (payment-request-signature.md): the six fields, amount
        without trailing zeros."""
        return self.sign(
            {
                "amount": money.format_trimmed(invoice.amount, invoice.currency),
                "client_key": self.client_key,
                "currency": invoice.currency,
                "failure_url": urls.return_url,
                "merchant_order_id": self.merchant_order_id(invoice),
                "success_url": urls.return_url,
            },
            signing.PAYMENT_REQUEST_FIELDS,
        )

    def customer_details(self, invoice: Invoice) -> dict[str, Any]:
        """``billing_details``, ``shipping_details`` and ``order_details`` from the order."""
        order = invoice.order
        body: dict[str, Any] = {}
        for kind, address in (
            ("billing", order.billing_address),
            ("shipping", order.shipping_address),
        ):
            address = address or {}
            name = address.get("name") or order.customer_name
            first, _, last = str(name or "").partition(" ")
            details = {
                f"{kind}_name": first,
                f"{kind}_surname": last,
                f"{kind}_email": address.get("email") or order.customer_email,
                f"{kind}_phone": address.get("phone") or order.customer_phone,
            }
            place = {
                "line_1": address.get("line1", ""),
                "line_2": address.get("line2", ""),
                "city": address.get("city", ""),
                "state": address.get("state", ""),
                "postal_code": address.get("postal_code", ""),
                "country_code": address.get("country", ""),
            }
            details = {k: v for k, v in details.items() if v}
            place = {k: v for k, v in place.items() if v}
            if place:
                details[f"{kind}_address"] = place
            if details:
                body[f"{kind}_details"] = details
        items = [
            {
                "id": item.reference or str(item.pk),
                "name": item.name,
                "price": self.amount(item.unit_price, invoice.currency),
                "quantity": item.quantity,
                **({"image": item.image_url} if item.image_url else {}),
            }
            for item in order.items.all()
        ]
        if items:
            body["order_details"] = items
        return body

    def country_code(self, invoice: Invoice) -> str:
        order = invoice.order
        for address in (order.billing_address, order.shipping_address):
            if address and address.get("country"):
                return str(address["country"]).upper()
        return str(self.option("country_code", "")).upper()

    def start_payment(self, invoice: Invoice, urls: PaymentUrls) -> PaymentStart:
        self.check_options()
        if not self.direct:
            link = self.create_payment_link(invoice, urls)
            return PaymentStart(
                action=PaymentAction(url=link.url), gateway_id=link.ref, raw=link.raw
            )
        order = invoice.order
        # payment-openapi POST /api/initiatePayment: client key header only, no JWT.
        body: dict[str, Any] = {
            "key": self.client_key,
            "merchant_order_id": self.merchant_order_id(invoice),
            "pmt_channel": self.option("pmt_channel"),
            "pmt_method": self.option("pmt_method"),
            "description": (order.description or order.reference)[:300],
            "environment": self.environment,
            "amount": self.amount(invoice.amount, invoice.currency),
            "currency": invoice.currency,
            "signature_hash": self.request_signature(invoice, urls),
            "success_url": urls.return_url,
            "failure_url": urls.return_url,
            "pending_url": urls.return_url,
            "transaction_type": self.transaction_type_for(invoice),
            **self.customer_details(invoice),
        }
        data = self.call("POST", "api/initiatePayment", body, token=False)
        try:
            redirect = str(data["redirect_url"])
            order_ref = str(data["order_ref"])
            minutes = data.get("expiry_in_minutes")
            expires = (
                timezone.now() + timedelta(minutes=int(str(minutes)))
                if str(minutes or "").strip().isdigit() and int(str(minutes)) > 0
                else None
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise self.unreadable("payment", data, exc) from None
        if not redirect.startswith(("http://", "https://")):
            raise self.unreadable("payment", data, ValueError("no redirect_url"))
        return PaymentStart(
            action=PaymentAction(url=redirect),
            gateway_id=order_ref,
            expires_at=expires,
            raw=plain(data),
        )

    # -- payment links -----------------------------------------------------------------------

    def create_payment_link(
        self, invoice: Invoice, urls: PaymentUrls, *, expires_at: Any = None
    ) -> PaymentLink:
        """Create a payment link (``POST /api/paymentLink``) for the invoice: PortOne's own
        checkout page, where the customer chooses how to pay. Send or redirect to ``url``."""
        order = invoice.order
        body: dict[str, Any] = {
            "portone_key": self.client_key,
            "merchant_details": {
                "name": str(self.option("merchant_name", "") or self.alias),
                "promo_discount": _Number("0"),
                "shipping_charges": self.amount(order.shipping_amount, invoice.currency),
            },
            "merchant_order_id": self.merchant_order_id(invoice),
            "signature_hash": self.request_signature(invoice, urls),
            "amount": self.amount(invoice.amount, invoice.currency),
            "currency": invoice.currency,
            "country_code": self.country_code(invoice),
            "description": (order.description or order.reference)[:300],
            "success_url": urls.return_url,
            "failure_url": urls.return_url,
            "pending_url": urls.return_url,
            "source": "api",
            "environment": self.environment,
            **self.customer_details(invoice),
        }
        if expires_at is not None:
            body["expiry_date"] = expires_at.astimezone(dt_timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.000Z"
            )
        data = self.call("POST", "api/paymentLink", body)
        try:
            return PaymentLink(
                ref=str(data["payment_link_ref"]), url=str(data["payment_link"]), raw=plain(data)
            )
        except KeyError as exc:
            raise self.unreadable("payment link", data, exc) from None

    def cancel_payment_link(self, link_ref: str) -> None:
        """Cancel a payment link (``PUT /api/paymentLink/{ref}/status/cancelled``)."""
        self.call("PUT", f"api/paymentLink/{link_ref}/status/cancelled")

    def fetch_payment_link(self, link_ref: str) -> dict[str, Any]:
        """A link's status and its transactions (``GET .../fetch-status``), as PortOne says."""
        data = self.call("GET", f"api/paymentLink/{link_ref}/fetch-status")
        content = data.get("content")
        if not isinstance(content, dict):
            raise self.unreadable("payment link", data, KeyError("content"))
        return content

    def is_link(self, invoice: Invoice) -> bool:
        """Started through a payment link: its page address carries ``ref=<link ref>``."""
        return bool(invoice.gateway_id) and f"ref={invoice.gateway_id}" in (
            invoice.redirect_url or ""
        )

    # -- status ------------------------------------------------------------------------------

    def map_status(self, status: object, code: object = "", *, link: bool = False) -> str:
        """Ours for a PortOne status; unknown words fall back on the ``status_code`` range."""
        table = LINK_STATUS_MAP if link else STATUS_MAP
        found = table.get(str(status or "").strip().lower())
        if found:
            return found
        kind = status_code_class(code)
        if kind == "pending":
            return InvoiceStatus.PENDING
        if kind in ("validation", "system", "declined"):
            return InvoiceStatus.FAILED
        raise ValueError(f"unknown status {status!r}")

    def fetch_status(self, invoice: Invoice) -> StatusResult:
        if self.is_link(invoice):
            return self.link_status(invoice)
        # payment-openapi GET /api/transaction/{merchantOrderRef}/status.
        data = self.call("GET", f"api/transaction/{self.merchant_order_id(invoice)}/status")
        try:
            content = data["content"]
            status = self.map_status(content["status"], content.get("status_code"))
        except (KeyError, TypeError, ValueError) as exc:
            raise self.unreadable("transaction status", data, exc) from None
        if status == InvoiceStatus.PAID and self.holds(invoice):
            status = InvoiceStatus.AUTHORIZED
        failed = status in (InvoiceStatus.FAILED, InvoiceStatus.EXPIRED, InvoiceStatus.CANCELLED)
        order_ref = str(content.get("order_ref") or invoice.gateway_id)
        # TransactionStatusContent has no amount or currency: they come from the details.
        amount, currency = self.transaction_money(order_ref)
        return StatusResult(
            status=status,
            gateway_id=order_ref,
            amount=amount,
            currency=currency,
            failure_reason=str(content.get("status_reason") or content["status"]) if failed else "",
            raw=plain(data),
        )

    def transaction_money(self, order_ref: str) -> tuple[Decimal, str]:
        """The amount and currency PortOne holds for a transaction, for the core to compare
        with the invoice: payment-openapi ``POST /api/{key}/transaction-details``
        (``TransactionDetailsContent.amount``, a number, and ``.currency``)."""
        data = self.call(
            "POST", f"api/{self.client_key}/transaction-details", {"order_ref": order_ref}
        )
        try:
            content = data["content"]
            currency = money.normalize_currency(str(content["currency"]))
            # Read as it is (not validated against the currency): a wrong amount is a
            # mismatch the core reports, not an unreadable answer.
            return money.to_decimal(content["amount"]), currency
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise self.unreadable("transaction details", data, exc) from None

    def link_status(self, invoice: Invoice) -> StatusResult:
        content = self.fetch_payment_link(invoice.gateway_id)
        try:
            status = self.map_status(content["status"], link=True)
            transactions = content.get("transactionsList") or []
            paid = [
                str(t["merchantOrderRef"])
                for t in transactions
                if str(t.get("status", "")).lower() == "success"
            ]
            if paid:
                status = InvoiceStatus.PAID
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise self.unreadable("payment link", content, exc) from None
        amount: Decimal | None = None
        currency: str | None = None
        if paid:
            # fetch-status lists no amounts: the paid transaction's are read from its details,
            # named by the order_ref its status read gives (payment-openapi).
            found = self.call("GET", f"api/transaction/{paid[-1]}/status")
            order_ref = str((found.get("content") or {}).get("order_ref") or "")
            if not order_ref:
                raise self.unreadable("transaction status", found, KeyError("order_ref"))
            amount, currency = self.transaction_money(order_ref)
        return StatusResult(
            status=status,
            gateway_id=invoice.gateway_id,
            amount=amount,
            currency=currency,
            raw=plain(content),
        )

    def transaction_ref(self, invoice: Invoice) -> tuple[str, str]:
        """``(order_ref, channel)`` of the invoice's paid transaction: what capture and refunds
        name. For a payment link, found through the link's transactions and their status."""
        if not self.is_link(invoice):
            return invoice.gateway_id, str(self.option("pmt_channel", ""))
        content = self.fetch_payment_link(invoice.gateway_id)
        paid = [
            t
            for t in content.get("transactionsList") or []
            if str(t.get("status", "")).lower() == "success"
        ]
        if not paid:
            raise GatewayAPIError("The payment link has no paid transaction.", gateway=self.alias)
        merchant_ref = str(paid[-1]["merchantOrderRef"])
        status = self.call("GET", f"api/transaction/{merchant_ref}/status")
        order_ref = str((status.get("content") or {}).get("order_ref") or "")
        details = self.call(
            "POST", f"api/{self.client_key}/transaction-details", {"order_ref": order_ref}
        )
        channel = str((details.get("content") or {}).get("channel_key") or "")
        if not order_ref or not channel:
            raise GatewayAPIError(
                "PortOne did not name the link's transaction.", gateway=self.alias
            )
        return order_ref, channel

    # -- return and notifications ------------------------------------------------------------

    def verify_return(self, invoice: Invoice, request: InboundRequest) -> StatusResult:
        """Check the redirect query's ``signature_hash`` (redirect-response.md), then read the
        status server-to-server: the query only says that something happened."""
        query = request.query
        if "signature_hash" in query:
            params = {name: query.get(name, "") for name in signing.REDIRECT_FIELDS}
            if not signing.verify(
                str(self.options["secret_key"]),
                params,
                signing.REDIRECT_FIELDS,
                query.get("signature_hash", ""),
            ):
                raise InvalidRequest(
                    # Translators: the query string PortOne adds to the customer's return.
                    gettext("The return query's signature does not match."),
                    gateway=self.alias,
                    code="signature",
                )
            ours = self.merchant_order_id(invoice)
            named = {query.get("merchant_order_ref", ""), query.get("link_order_ref", "")}
            if not self.is_link(invoice) and ours not in named:
                raise InvalidRequest(
                    # Translators: the query string PortOne adds to the customer's return.
                    gettext("The return query names another payment."),
                    gateway=self.alias,
                    code="reference",
                )
        return self.fetch_status(invoice)

    def notification_amount(self, data: Mapping[str, Any]) -> tuple[Decimal, str]:
        currency = money.normalize_currency(str(data["currency"]))
        return money.validate_amount(data["amount"], currency), currency

    def parse_notification(self, request: InboundRequest) -> NotificationEvent:
        try:
            data = loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise NotificationRejected("body is not JSON", code="malformed") from None
        if not isinstance(data, dict):
            raise NotificationRejected("body is not a JSON object", code="malformed")
        if "refund_status" in data or "refund_id" in data:
            return self.refund_event(data)
        try:
            link = "link_ref" in data and "order_ref" not in data
            fields = signing.LINK_WEBHOOK_FIELDS if link else signing.PAYMENT_WEBHOOK_FIELDS
            amount, currency = self.notification_amount(data)
            params = {name: data.get(name) for name in fields}
            params["amount"] = money.format_trimmed(amount, currency)
            signature = str(data.get("signature_hash") or "")
        except (KeyError, TypeError, ValueError, ValidationError):
            raise NotificationRejected("malformed notification body", code="malformed") from None
        if not signature:
            raise NotificationRejected("missing signature_hash", code="signature")
        if not signing.verify(str(self.options["secret_key"]), params, fields, signature):
            raise NotificationRejected("signature_hash does not match", code="signature")
        try:
            status = self.map_status(data.get("status"), data.get("status_code"), link=link)
        except ValueError:
            claim = None
        else:
            reference = str(data.get("link_order_ref") or data.get("merchant_order_ref") or "")
            if status == InvoiceStatus.PAID and not link and self.holds_reference(reference):
                # A hold's webhook says Success too: it vouches for the hold, not a capture.
                status = InvoiceStatus.AUTHORIZED
            claim = StatusResult(
                status=status,
                gateway_id=str(data.get("link_ref" if link else "order_ref") or ""),
                amount=amount,
                currency=currency,
                failure_reason=str(data.get("status_reason") or "")
                if status == InvoiceStatus.FAILED
                else "",
                raw=plain(data),
            )
        ours = data.get("link_order_ref") or data.get("merchant_order_ref")
        gateway_id = data.get("link_ref") or data.get("payment_link_ref") or data.get("order_ref")
        # The signature covers status, amount and currency but carries no timestamp, so a
        # replay cannot be told apart: the status is read back unless the shop opts out.
        return NotificationEvent(
            invoice_id=str(ours or ""),
            gateway_id=str(gateway_id or ""),
            dedup_key=f"{gateway_id}:{data.get('status')}",
            status=claim,
            authoritative=bool(self.option("trust_signed_webhooks", False)) and claim is not None,
            raw=plain(data),
        )

    def refund_event(self, data: Mapping[str, Any]) -> NotificationEvent:
        """Refund webhooks are unsigned (refund-webhook.md): only a hint that the core
        settles by reading the refund list (``list_refunds``)."""
        tag = REFUND_TAG.search(str(data.get("refund_reason") or ""))
        return NotificationEvent(
            invoice_id=tag.group("invoice") if tag else "",
            gateway_id=str(data.get("payment_txn_ref") or ""),
            kind="refund",
            raw=plain(data),
        )

    # -- capture and cancel ------------------------------------------------------------------

    def capture(self, invoice: Invoice, amount: Decimal) -> StatusResult:
        """Capture a PREAUTH transaction (``POST /api/transaction/{order_ref}/capture``).
        The call takes no amount: PortOne captures what was authorized."""
        if amount != invoice.amount:
            raise InvalidRequest(
                gettext("PortOne captures the whole authorized amount only."), gateway=self.alias
            )
        order_ref, _channel = self.transaction_ref(invoice)
        data = self.call("POST", f"api/transaction/{order_ref}/capture")
        return StatusResult(
            status=InvoiceStatus.PAID,
            gateway_id=order_ref,
            captured_amount=invoice.amount,
            raw=plain(data),
        )

    def cancel(self, invoice: Invoice) -> StatusResult:
        """Cancel an unpaid payment link, then read its status back. A payment started at a
        channel has no cancel call at PortOne (it expires)."""
        if not self.is_link(invoice):
            raise UnsupportedOperation(
                gettext("PortOne cancels payment links only; this payment expires at the channel."),
                gateway=self.alias,
            )
        self.cancel_payment_link(invoice.gateway_id)
        return self.link_status(invoice)

    # -- refunds (portone-refunds.txt) -------------------------------------------------------

    def refund_list(
        self, order_ref: str, currency: str
    ) -> tuple[Decimal | None, list[RefundResult]]:
        """``GET /api/refund/{order_ref}``: what is left to refund, and every refund."""
        data = self.call("GET", f"api/refund/{order_ref}", refund=True)
        return self.read_refunds(data, currency)

    def read_refunds(
        self, data: Mapping[str, Any], currency: str
    ) -> tuple[Decimal | None, list[RefundResult]]:
        """``amountToRefund`` (``None`` if PortOne leaves it out) and every refund."""
        try:
            raw_left = data.get("amountToRefund")
            left = None if raw_left is None else money.to_decimal(raw_left)
            results = [self.read_refund(item, currency) for item in data.get("refundDetails") or []]
        except (KeyError, TypeError, ValueError, AttributeError, ValidationError) as exc:
            raise self.unreadable("refund list", data, exc) from None
        return left, results

    def read_refund(self, item: Mapping[str, Any], currency: str) -> RefundResult:
        tag = REFUND_TAG.search(str(item.get("refund_reason") or ""))
        refund_currency = money.normalize_currency(str(item.get("currency") or currency))
        return RefundResult(
            status=REFUND_STATUS_MAP.get(
                str(item.get("refund_status", "")).strip().lower(), RefundStatus.PENDING
            ),
            # refund_id may be empty (refund-openapi example): the PSP's id then names it.
            gateway_refund_id=str(item.get("refund_id") or item.get("psp_refund_id") or ""),
            amount=money.to_decimal(item["amount"]),
            currency=refund_currency,
            idempotency_key=tag.group("key") if tag else "",
            failure_reason=""
            if str(item.get("refund_status", "")).lower() == "success"
            else str(item.get("refund_status") or ""),
            raw=plain(item),
        )

    def refund(self, refund: Refund) -> RefundResult:
        invoice = refund.invoice
        order_ref, channel = self.transaction_ref(invoice)
        # amountToRefund is read first: a refund PortOne cannot cover is refused before the
        # POST (refunds made in PortOne's dashboard are counted there, not here).
        left, before = self.refund_list(order_ref, invoice.currency)
        if left is not None and refund.amount > left:
            raise RefundError(
                gettext(
                    "PortOne has %(left)s %(currency)s left to refund; %(amount)s %(currency)s"
                    " was asked."
                )
                % {"left": left, "currency": invoice.currency, "amount": refund.amount},
                gateway=self.alias,
                code="refund_exceeds_remaining",
            )
        whole = refund.amount == invoice.captured_amount and not before
        reason = (refund.reason or "refund").strip()
        body = {
            "amount": self.amount(refund.amount, refund.currency),
            "channel": channel,
            "description": f"Refund {refund.idempotency_key} of {self.merchant_order_id(invoice)}",
            "refund_type": "full" if whole else "partial",
            "refund_reason": f"{reason[:200]} {refund_tag(invoice.pk, refund.idempotency_key)}",
            "environment": self.environment,
        }
        data = self.call("POST", f"api/refund/{order_ref}", body, refund=True)
        _left, after = self.read_refunds(data, invoice.currency)
        known = {r.gateway_refund_id for r in before}
        mine = [r for r in after if r.idempotency_key == refund.idempotency_key]
        if not mine:
            # The answer lists every refund; a new one of our amount is ours if it is alone.
            fresh = [r for r in after if r.gateway_refund_id not in known]
            mine = fresh if len(fresh) == 1 and fresh[0].amount == refund.amount else []
        if not mine:
            # Accepted, but not yet listed: settled later from the list (refund webhook).
            return RefundResult(status=RefundStatus.PENDING, raw=plain(data))
        found = mine[-1]
        return RefundResult(
            status=found.status,
            gateway_refund_id=found.gateway_refund_id,
            amount=found.amount,
            currency=found.currency,
            failure_reason=found.failure_reason,
            idempotency_key=refund.idempotency_key,
            raw=found.raw,
        )

    def list_refunds(self, invoice: Invoice) -> list[RefundResult]:
        order_ref, _channel = self.transaction_ref(invoice)
        return self.refund_list(order_ref, invoice.currency)[1]
