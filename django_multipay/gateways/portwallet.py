"""PortWallet (legacy API v1): form-encoded calls with an md5 token, numeric status codes.

Specification: the vendor's "PortWallet API" v1 document (Create Invoice, Verify transaction,
Get invoice, Refund Request, Status codes) and the PortWallet section of the wire notes.
Wire format and the choices made where the document is silent: docs/gateways/portwallet.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

import requests
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_multipay import logs, money
from django_multipay.exceptions import (
    GatewayAPIError,
    GatewayConfigurationError,
    InvalidRequest,
    NotificationRejected,
    RefundError,
)
from django_multipay.gateways.base import ApiCall, BaseGateway, Capabilities, GatewayOption
from django_multipay.gateways.contact import InvalidPhone, country_alpha2, parse_phone
from django_multipay.gateways.portwallet_common import is_refund_state, md5_token, unix_time
from django_multipay.gateways.results import (
    InboundRequest,
    NotificationEvent,
    PaymentAction,
    PaymentStart,
    PaymentUrls,
    RefundReport,
    RefundResult,
    RefundState,
    StatusResult,
)
from django_multipay.gateways.webhooks import malformed
from django_multipay.models import Invoice, Order, Refund
from django_multipay.status import InvoiceStatus, RefundStatus

logger = logs.get_logger("django_multipay.gateways.portwallet")

#: "Only BDT acceptable." (Create Invoice, ``currency``)
CURRENCY = "BDT"
#: "The amount you want to charge. Minimum 10.00" (Create Invoice, ``amount``)
MIN_AMOUNT = Decimal("10.00")
#: "Character limit (Max): 8 digit" (Create Invoice, ``amount``): read as 8 digits before the
#: decimal point, the same ceiling PortPos v2 documents (99999999).
MAX_AMOUNT = Decimal("99999999.99")

#: Payment page, "PortWallet payment URL is: …/payment/?invoice=Your_Invoice_ID" (Introduction).
LIVE_PAYMENT_URL = "https://payment.portwallet.com/payment/"
SANDBOX_PAYMENT_URL = "https://payment-sandbox.portwallet.com/payment/"


@dataclass(frozen=True)
class StatusCode:
    """One documented status code: its name, what it means for the payment (an
    ``InvoiceStatus``) and for a refund we asked for (a ``RefundStatus``). ``None``: the code
    is an error answer, or says nothing about that side."""

    name: str
    invoice: str | None
    refund: str | None


#: The "Status codes" section of the document, the one place this vocabulary is mapped.
#: The refund codes (210-230) describe the invoice's refunds, not the payment: a status read
#: reports the payment as paid, and the invoice moves to (partially) refunded when our refund
#: rows settle (``refund`` / ``list_refunds``), so refunded totals are never counted twice.
STATUS_CODES: dict[int, StatusCode] = {
    # "The transaction is pending. The user has not completed the transaction yet."
    100: StatusCode("PENDING", InvoiceStatus.PENDING, None),
    # "Either the user or merchant has cancelled the payment."
    120: StatusCode("CANCELLED", InvoiceStatus.CANCELLED, None),
    # "The request is successful or the transaction has been accepted."
    200: StatusCode("ACCEPTED", InvoiceStatus.PAID, RefundStatus.PENDING),
    # "The refund request has been submitted."
    210: StatusCode("REFUND_PENDING", InvoiceStatus.PAID, RefundStatus.PENDING),
    # "The refund request has been submitted to the acquiring bank."
    215: StatusCode("REFUND_PROCESSING", InvoiceStatus.PAID, RefundStatus.PENDING),
    # "The transaction is fully refunded."
    220: StatusCode("REFUNDED", InvoiceStatus.PAID, RefundStatus.SUCCEEDED),
    # "The transaction is partially refunded"
    230: StatusCode("PARTIALLY_REFUNDED", InvoiceStatus.PAID, RefundStatus.SUCCEEDED),
    # "We received a charge back request from the issuing bank and we have deducted the
    # transaction amount from your account."
    240: StatusCode("CHARGED_BACK", InvoiceStatus.CHARGED_BACK, None),
    # "User attempted to pay with his/her card but the payment could not be completed. Either
    # the issuing bank declined the transaction or the card is restricted by the acquiring bank."
    300: StatusCode("REJECTED", InvoiceStatus.FAILED, None),
    # "Your request could not completed. Either you provided wrong parameters or you forgot to
    # provide some mandatory parameters"
    400: StatusCode("INVALID_REQUEST", None, None),
    # "You are not allowed to perform this action."
    500: StatusCode("NOT_ALLOWED", None, None),
}

#: ``get_invoice``'s code as the state of the invoice's refunds (the same "Status codes").
REFUND_STATES = {
    200: RefundState.NONE,
    210: RefundState.IN_PROGRESS,
    215: RefundState.IN_PROGRESS,
    220: RefundState.FULL,
    230: RefundState.PARTIAL,
}
ENTRIES_BY_NAME: dict[str, StatusCode] = {entry.name: entry for entry in STATUS_CODES.values()}
ERROR_CODES = frozenset({400, 500})

#: "Character limit (Max)" of each Create Invoice field: a ``ship_to_`` field has that of its
#: customer field, and ``ship_to_zipcode`` one (8) where ``zipcode`` has none.
_ADDRESS_LIMITS = {"name": 50, "email": 50, "phone": 15, "address": 200, "city": 50, "state": 50}
FIELD_LIMITS: dict[str, int] = {
    "product_name": 150,
    "product_description": 300,
    **_ADDRESS_LIMITS,
    "country": 3,
    "ipn_url": 250,
    **{f"ship_to_{name}": limit for name, limit in _ADDRESS_LIMITS.items()},
    "ship_to_zipcode": 8,
    "ship_to_country": 3,
}
#: Customer fields the ``defaults`` option may fill in (and their ``ship_to_`` forms).
CUSTOMER_FIELDS = ("name", "email", "phone", "address", "city", "state", "zipcode", "country")
#: Create Invoice fields marked "(required)" besides the four every call carries.
REQUIRED_FIELDS = (
    "amount",
    "currency",
    "product_name",
    "product_description",
    *CUSTOMER_FIELDS,
    "redirect_url",
)
#: Where a phone number written without its country code is read as being from, when its
#: address names no country: PortWallet takes only BDT, from customers in Bangladesh.
HOME_REGION = "BD"


class PortWalletError(GatewayAPIError):
    """PortWallet answered 400 INVALID_REQUEST or 500 NOT_ALLOWED. ``fields`` holds its
    per-field messages when ``message`` was an object."""

    def __init__(
        self,
        message: str,
        *,
        gateway_status: int,
        fields: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.gateway_status = gateway_status
        self.fields = dict(fields or {})


def describe_message(message: Any) -> tuple[str, dict[str, str]]:
    """The gateway's ``message`` as text, and its field → message pairs when it is an object."""
    if isinstance(message, Mapping):
        fields = {str(k): str(v) for k, v in message.items()}
        return "; ".join(f"{k}: {v}" for k, v in fields.items()) or "no message", fields
    if message in (None, ""):
        return "no message", {}
    return str(message), {}


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _join(*parts: str | None) -> str:
    return ", ".join(p.strip() for p in parts if p and p.strip())


def _is_web_url(value: Any) -> bool:
    """An absolute ``http://`` or ``https://`` URL with a host and no spaces."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _phone(errors: dict[str, str], field: str, value: str | None, *countries: str | None) -> str:
    """A phone number in the form of the document's example (Create Invoice, ``phone``:
    ``+880123456789``): ``+``, country code and number, at most 15 characters. A national
    number is read as one of the first of ``countries`` that is an ISO code, else of
    Bangladesh. ``""`` for no number, and for one that cannot be read (why: ``errors[field]``)."""
    if not (value or "").strip():
        return ""
    region = next((c for c in map(country_alpha2, countries) if c), HOME_REGION)
    try:
        return parse_phone(str(value), region).e164
    except InvalidPhone as exc:
        errors[field] = str(exc)
        return ""


def _address(address: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The Create Invoice address fields of an order's address (``ship_to_`` ones: ``prefix``)."""
    city = address.get("city", "")
    return {
        f"{prefix}address": _join(address.get("line1"), address.get("line2")),
        f"{prefix}city": city,
        # "If there is no state, re-enter city."
        f"{prefix}state": address.get("state") or city,
        f"{prefix}zipcode": address.get("postal_code", ""),
        f"{prefix}country": address.get("country", "").upper(),
    }


class PortWalletGateway(BaseGateway):
    """PortWallet legacy API v1: hosted payment page, IPN confirmed with ``ipn_validate``,
    partial and full refunds; BDT only, from 10.00.

    Its calls: ``gen_invoice``, ``ipn_validate``, ``get_invoice``, ``refund_request``."""

    display_name = "PortWallet"
    emulator = ("django_multipay.sandbox.portwallet", "")
    capabilities = Capabilities(
        refund=True,
        # 230 PARTIALLY_REFUNDED, and "Refund amount exceeded. Refundable amount is 19.00".
        partial_refund=True,
        # The document sets no limit on the number of refunds (only on their total).
        max_refunds=None,
        # No idempotency key in refund_request: a refund that timed out is never re-sent.
        idempotent_refunds=False,
        fetch_status=True,
        # Synthesised from get_invoice (see list_refunds): PortWallet has no refund list.
        list_refunds=True,
        # The IPN carries no signature; ipn_validate is the truth.
        signed_notifications=False,
        currencies=frozenset({CURRENCY}),
        min_amount=MIN_AMOUNT,
        max_amount=MAX_AMOUNT,
    )
    # docs/gateways/portwallet.md, "Options".
    declared_options = (
        GatewayOption("app_key", required=True, secret=True),
        GatewayOption("secret_key", required=True, secret=True),
        GatewayOption("payment_url"),
        GatewayOption("defaults", dict, default={}),
        GatewayOption("settle_refunds_from_state", bool, default=True),
    )
    # "Live endpoint" / "Sandbox endpoint" of every call.
    live_base_url = "https://api.portwallet.com/api/v1/"
    sandbox_base_url = "https://api-sandbox.portwallet.com/api/v1/"

    # -- the wire ----------------------------------------------------------------------------

    @property
    def payment_url(self) -> str:
        """The hosted payment page, without its query: the ``payment_url`` option, else the
        documented page for ``sandbox`` (Introduction, "PortWallet payment URL is"). Never
        derived from ``base_url``: the API and the page are different hosts, and a proxy or
        an emulator of the API says nothing about where the page is."""
        page = self.option("payment_url")
        return str(page) if page else (SANDBOX_PAYMENT_URL if self.sandbox else LIVE_PAYMENT_URL)

    def payment_page(self, invoice_id: str) -> str:
        """The hosted payment page of an invoice, ``…/payment/?invoice=<id>`` (Introduction:
        "…/payment/?invoice=Your_Invoice_ID"). A ``payment_url`` with a query of its own
        keeps it, ``invoice`` joined with ``&`` (replacing an ``invoice`` it already has)."""
        parts = urlsplit(self.payment_url)
        kept = [
            pair
            for pair in parts.query.split("&")
            if pair and unquote_plus(pair.partition("=")[0]) != "invoice"
        ]
        query = "&".join([*kept, urlencode({"invoice": invoice_id})])
        return urlunsplit(parts._replace(query=query))

    def default_option_errors(self) -> dict[str, str]:
        """The declarations' checks, then ``payment_url``: an http(s) URL with a host, where
        customers are sent (a wrong one would send every customer astray)."""
        errors = super().default_option_errors()
        page = self.options.get("payment_url")
        if page not in (None, "") and not _is_web_url(page):
            errors["OPTIONS.payment_url"] = _("must be a valid http URL")
        return errors

    def signed_fields(self, call: str) -> dict[str, str]:
        """``app_key``, ``timestamp``, ``token = md5(secret + timestamp)`` and ``call``: the
        four parameters every call starts with, with a fresh timestamp for each request."""
        timestamp = unix_time()
        return {
            "app_key": str(self.options["app_key"]),
            "timestamp": str(timestamp),
            "token": md5_token(str(self.options["secret_key"]), timestamp),
            "call": call,
        }

    def api_call(self, name: str, fields: Mapping[str, str]) -> dict[str, Any]:
        """POST one form-encoded call; return the answer's envelope. An error code (400, 500)
        raises :class:`PortWalletError` with the gateway's message; an answer that is not a
        ``{"status": <code>}`` object raises ``GatewayAPIError`` (with no HTTP status when the
        HTTP status was 2xx, so a refund's outcome counts as unknown)."""
        return cast(dict[str, Any], self.call("POST", "", fields, name=name))

    def request_kwargs(self, body: Any, call: ApiCall) -> dict[str, Any]:
        """A form: the four signed fields every call starts with, then the call's own."""
        return {"data": {**self.signed_fields(call.options["name"]), **body}}

    def error_for(self, error: GatewayAPIError, call: ApiCall) -> GatewayAPIError:
        # A 4xx with PortWallet's own envelope is still PortWallet's answer; a 5xx is a server
        # fault whatever its body says (the outcome of a write is then unknown).
        answer, status = error.response, error.http_status
        if status is None or status >= 500 or not isinstance(answer, Mapping):
            return error
        if "status" not in answer:
            return error
        try:
            self.envelope(dict(answer), call.options["name"], status)
        except GatewayAPIError as refusal:
            return refusal
        # An HTTP error carrying a code that is no error: whether anything happened is unknown.
        return self.unreadable(f"{call.options['name']} answer", answer, f"HTTP {status}")

    def parse_answer(self, response: requests.Response, call: ApiCall) -> dict[str, Any]:
        """The envelope ``{"status": <code>, "data": ..., "message": ...}``."""
        name = call.options["name"]
        try:
            envelope = response.json()
        except ValueError:
            raise self.answer_error(
                f"PortWallet {name} answered a body that is not JSON", response.text[:500]
            ) from None
        return self.envelope(envelope, name, response.status_code)

    def envelope(self, envelope: Any, call: str, http_status: int) -> dict[str, Any]:
        """The answer's envelope, once its status code is known and not an error ("Status
        codes")."""
        if not isinstance(envelope, dict):
            raise self.answer_error(
                f"PortWallet {call} answered JSON that is not an object", envelope
            )
        raw = envelope.get("status")
        if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).isdecimal():
            raise self.answer_error(
                f"PortWallet {call} answered without a numeric status", envelope
            )
        code = int(raw)
        if code not in STATUS_CODES:
            logger.warning(
                "PortWallet %s answered unknown status code %s [%s]", call, code, self.alias
            )
            raise self.answer_error(
                f"PortWallet {call} answered unknown status code {code}; nothing was changed",
                envelope,
                code="unknown_status",
            )
        if code in ERROR_CODES:
            text, field_messages = describe_message(envelope.get("message"))
            text = self.redactor.text(text)
            raise PortWalletError(
                f"PortWallet refused {call} ({code} {STATUS_CODES[code].name}): {text}",
                gateway=self.alias,
                gateway_status=code,
                fields=field_messages,
                code=STATUS_CODES[code].name.lower(),
                http_status=http_status,
                response=self.redact(envelope),
            )
        return envelope

    def _data(self, envelope: Mapping[str, Any], call: str, invoice_id: str) -> dict[str, Any]:
        """The answer's ``data``, checked to be about ``invoice_id`` and to agree with itself."""
        data = envelope.get("data")
        if not isinstance(data, dict):
            raise self.unreadable(f"{call} answer", envelope, "no data object")
        code = int(envelope["status"])
        problem = ""
        if str(data.get("invoice_id") or "") != invoice_id:
            problem = f"data for invoice {data.get('invoice_id')!r}, not {invoice_id!r}"
        elif data.get("status") not in (None, "") and data["status"] != STATUS_CODES[code].name:
            problem = f"status {code} but data.status {data['status']!r}"
        if problem:
            raise self.unreadable(f"{call} answer", envelope, problem)
        return data

    def _status(self, envelope: Mapping[str, Any], call: str, invoice_id: str) -> StatusResult:
        data = self._data(envelope, call, invoice_id)
        entry = STATUS_CODES[int(envelope["status"])]
        assert entry.invoice is not None  # error codes were raised by call()
        with self.reading(f"{call} answer", envelope):
            # The PENDING sample of ipn_validate has no currency: absent means not reported.
            currency = money.normalize_currency(data["currency"]) if data.get("currency") else None
            amount = money.validate_amount(data["amount"], currency or CURRENCY)
        failed = entry.invoice in (InvoiceStatus.FAILED, InvoiceStatus.CANCELLED)
        return StatusResult(
            status=entry.invoice,
            gateway_id=invoice_id,
            amount=amount,
            currency=currency,
            failure_reason=str(data.get("reason") or entry.name.capitalize()) if failed else "",
            raw=dict(envelope),
        )

    # -- gen_invoice -------------------------------------------------------------------------

    def invoice_fields(self, invoice: Invoice, urls: PaymentUrls) -> dict[str, str]:
        """Every Create Invoice field, from the order; ``InvalidRequest`` naming every field
        that is missing or over its documented limit (nothing is sent then)."""
        order: Order = invoice.order
        errors: dict[str, str] = {}
        limits = dict(
            currency=CURRENCY, given=invoice.currency, minimum=MIN_AMOUNT, maximum=MAX_AMOUNT
        )
        if invoice.currency != CURRENCY:
            errors["currency"] = _("PortWallet takes only %(currency)s, not %(given)s.") % limits
        if invoice.amount < MIN_AMOUNT:
            errors["amount"] = _("PortWallet takes at least %(minimum)s %(currency)s.") % limits
        elif invoice.amount > MAX_AMOUNT:
            errors["amount"] = _("PortWallet takes at most %(maximum)s %(currency)s.") % limits
        amount = money.format_decimal(invoice.amount, invoice.currency)
        billing = dict(order.billing_address or {})
        shipping = dict(order.shipping_address or {})
        defaults = self.defaults()
        home = (billing.get("country"), defaults.get("country"))
        phone_errors: dict[str, str] = {}
        phone = _phone(phone_errors, "phone", order.customer_phone or billing.get("phone"), *home)
        product_name, product_description = self.product(order)
        fields: dict[str, str] = {
            "amount": amount,
            "currency": invoice.currency,
            "product_name": product_name,
            "product_description": product_description,
            "name": billing.get("name") or order.customer_name,
            "email": order.customer_email or billing.get("email", ""),
            "phone": phone,
            **_address(billing),
            "redirect_url": urls.return_url,
            "ipn_url": urls.notify_url,
        }
        if shipping:
            ship_phone = _phone(
                phone_errors, "ship_to_phone", shipping.get("phone"), shipping.get("country"), *home
            )
            fields |= {
                "ship_to_name": shipping.get("name") or fields["name"],
                "ship_to_email": shipping.get("email") or fields["email"],
                "ship_to_phone": ship_phone or phone,
                **_address(shipping, "ship_to_"),
            }
        fields = {k: v.strip() for k, v in fields.items() if v and v.strip()}
        fields |= {k: v for k, v in defaults.items() if k not in fields}
        # A number given but unreadable is that, not "is required" (the default may not fill it).
        errors |= self.field_errors(fields) | phone_errors
        if errors:
            raise InvalidRequest(
                _("PortWallet cannot take this order: %(problems)s")
                % {"problems": "; ".join(f"{k}: {v}" for k, v in errors.items())},
                gateway=self.alias,
                fields=errors,
            )
        return fields

    def defaults(self) -> dict[str, str]:
        """The ``defaults`` option: customer fields to send when the order has none."""
        configured = self.option("defaults", {})
        allowed = {*CUSTOMER_FIELDS, *(f"ship_to_{n}" for n in CUSTOMER_FIELDS)}
        unknown = sorted(set(configured) - allowed) if isinstance(configured, Mapping) else ["?"]
        if unknown:
            raise GatewayConfigurationError(
                _(
                    # Translators: the setting's name and the field names stay as written.
                    "MULTIPAY['GATEWAYS'][%(alias)s]['OPTIONS']['defaults'] is a mapping of"
                    " customer fields (%(fields)s); not %(unknown)s."
                )
                % {
                    "alias": repr(self.alias),
                    "fields": ", ".join(CUSTOMER_FIELDS),
                    "unknown": ", ".join(unknown),
                }
            )
        return {str(k): str(v).strip() for k, v in configured.items() if str(v).strip()}

    @staticmethod
    def field_errors(fields: Mapping[str, str]) -> dict[str, str]:
        """Every Create Invoice field that is missing or breaks its documented limit."""
        # Translators: said of a field, after its name ("email: is required").
        errors = {name: _("is required") for name in REQUIRED_FIELDS if not fields.get(name)}
        for name, limit in FIELD_LIMITS.items():
            length = len(fields.get(name, ""))
            if length > limit:
                errors[name] = ngettext(
                    "is %(length)s character; at most %(limit)s",
                    "is %(length)s characters; at most %(limit)s",
                    length,
                ) % {"length": length, "limit": limit}
        for name in ("country", "ship_to_country"):
            # "It is 2 or 3 digit iso code.": either form, as given, if ISO 3166-1 has it.
            if fields.get(name) and not country_alpha2(fields[name]):
                errors[name] = _("must be an ISO 3166-1 alpha-2 or alpha-3 country code")
        for name in ("email", "ship_to_email"):
            if fields.get(name) and name not in errors:
                try:
                    validate_email(fields[name])
                except ValidationError:
                    errors[name] = _("is not an email address")
        return errors

    @staticmethod
    def product(order: Order) -> tuple[str, str]:
        """``product_name`` ("1x Polo T-shirt") and ``product_description``, from the items,
        shortened to their limits (these two are ours to write, so they are never refused)."""
        items = list(order.items.all())
        listed = ", ".join(f"{item.quantity}x {item.name}" for item in items)
        name = listed or order.description or f"Order {order.reference}"
        described = [
            f"{item.quantity}x {item.name}" + (f" ({item.description})" if item.description else "")
            for item in items
        ]
        description = order.description or ", ".join(described) or name
        if order.description and listed:
            description = f"{listed}: {order.description}"
        return (
            _shorten(name, FIELD_LIMITS["product_name"]),
            _shorten(description, FIELD_LIMITS["product_description"]),
        )

    def start_payment(self, invoice: Invoice, urls: PaymentUrls) -> PaymentStart:
        envelope = self.api_call("gen_invoice", self.invoice_fields(invoice, urls))
        data = envelope.get("data")
        gateway_id = str(data.get("invoice_id") or "") if isinstance(data, dict) else ""
        if int(envelope["status"]) != 200 or not gateway_id:
            raise self.answer_error(
                f"PortWallet gen_invoice answered {envelope['status']} without an invoice_id",
                envelope,
            )
        # The answer names the invoice; its page is the documented payment URL for it
        # (Introduction), or the payment_url option.
        if self.options.get("base_url") and not self.option("payment_url"):
            logger.warning(
                "PortWallet alias %s: base_url is set but payment_url is not; the customer is "
                "sent to the documented page %s (set payment_url to the emulator's or the "
                "proxy's page)",
                self.alias,
                self.payment_url,
            )
        return PaymentStart(
            action=PaymentAction(url=self.payment_page(gateway_id)),
            gateway_id=gateway_id,
            raw=envelope,
        )

    # -- get_invoice / ipn_validate ----------------------------------------------------------

    def fetch_status(self, invoice: Invoice) -> StatusResult:
        envelope = self.api_call("get_invoice", {"invoice": invoice.gateway_id})
        return self._status(envelope, "get_invoice", invoice.gateway_id)

    def verify_notification(self, invoice: Invoice, event: NotificationEvent) -> StatusResult:
        """``ipn_validate`` with our invoice's id and amount; a 400 ("Invalid IPN Request")
        means PortWallet disowns the IPN."""
        amount = money.format_decimal(invoice.amount, invoice.currency)
        fields = {"amount": amount, "invoice": invoice.gateway_id}
        try:
            envelope = self.api_call("ipn_validate", fields)
        except PortWalletError as exc:
            if exc.gateway_status == 400:
                raise NotificationRejected(
                    f"PortWallet ipn_validate refused the IPN: {exc.message}", code="disowned"
                ) from None
            raise
        return self._status(envelope, "ipn_validate", invoice.gateway_id)

    def parse_notification(self, request: InboundRequest) -> NotificationEvent:
        """The IPN names the invoice (``invoice``) and says ``amount`` and ``status``; none of
        it is trusted: it is the claim that ipn_validate must confirm."""
        with malformed("malformed IPN body"):
            if request.content_type == "application/json":
                payload = request.json()
                if not isinstance(payload, dict):
                    raise ValueError("not an object")
                data = {str(k): "" if v is None else str(v) for k, v in payload.items()}
            elif request.body:
                data = request.form()
            else:
                data = {k: request.query.get(k, "") for k in request.query}
        gateway_id = data.get("invoice", "").strip()
        if not gateway_id:
            raise NotificationRejected("IPN without an invoice", code="malformed")
        name = data.get("status", "").strip().upper()
        if name.isdecimal() and int(name) in STATUS_CODES:
            name = STATUS_CODES[int(name)].name
        amount: Decimal | None = None
        if data.get("amount"):
            with malformed("IPN amount is not an amount"):
                amount = money.to_decimal(data["amount"])
        if is_refund_state(name):
            # The IPN "will notify only on success/failed/refund payment": a refund is settled
            # from get_invoice through list_refunds; the claim is not needed.
            return NotificationEvent(gateway_id=gateway_id, kind="refund", raw=data)
        claim = None
        entry = ENTRIES_BY_NAME.get(name)
        if entry is not None and entry.invoice is not None:
            claim = StatusResult(
                status=entry.invoice,
                gateway_id=gateway_id,
                amount=amount,
                currency=data.get("currency", "").upper() or None,
            )
        elif name:
            # Still a hint: ipn_validate is asked, and its answer applied.
            logger.warning("PortWallet IPN with unknown status %r [%s]", name, self.alias)
        return NotificationEvent(
            gateway_id=gateway_id,
            dedup_key=f"ipn:{gateway_id}:{name}" if claim is not None else "",
            status=claim,
            raw=data,
        )

    # -- refund_request ----------------------------------------------------------------------

    def refund(self, refund: Refund) -> RefundResult:
        invoice = refund.invoice
        if refund.currency != CURRENCY:
            raise RefundError(
                _("PortWallet refunds only %(currency)s.") % {"currency": CURRENCY},
                gateway=self.alias,
            )
        amount = money.format_decimal(refund.amount, refund.currency)
        fields = {"invoice": invoice.gateway_id, "amount": amount}
        try:
            envelope = self.api_call("refund_request", fields)
        except PortWalletError as exc:
            # A definite refusal: "Refund amount exceeded. Refundable amount is 19.00".
            raise RefundError(
                exc.message, gateway=self.alias, response=exc.response, code=exc.code
            ) from None
        # Anything unreadable below raises GatewayAPIError without an HTTP status: whether the
        # refund was made is then unknown, and it stays requested.
        data = self._data(envelope, "refund_request", invoice.gateway_id)
        code = int(envelope["status"])
        status = STATUS_CODES[code].refund
        if status is None:
            raise self.answer_error(
                f"PortWallet refund_request answered {code} {STATUS_CODES[code].name}", envelope
            )
        return RefundResult(
            status=status,
            # data.amount is the invoice's amount, not the refund's: not compared.
            currency=money.normalize_currency(data["currency"]) if data.get("currency") else None,
            idempotency_key=refund.idempotency_key,
            raw=envelope,
        )

    def list_refunds(self, invoice: Invoice) -> list[RefundResult]:
        """PortWallet lists no refunds: there are no lines to give (see :meth:`refund_report`)."""
        return []

    def refund_report(self, invoice: Invoice) -> RefundReport:
        """``get_invoice``'s status code is the state of the invoice's refunds ("Status codes":
        210 REFUND_PENDING and 215 REFUND_PROCESSING under way, 220 REFUNDED "fully refunded",
        230 PARTIALLY_REFUNDED, 200 ACCEPTED none). PortWallet gives no refund lines, ids or
        amounts, so the core settles only the refunds it answered, within that state."""
        envelope = self.api_call("get_invoice", {"invoice": invoice.gateway_id})
        self._data(envelope, "get_invoice", invoice.gateway_id)
        state = REFUND_STATES.get(int(envelope["status"]), RefundState.UNKNOWN)
        if state == RefundState.PARTIAL and not self.option("settle_refunds_from_state", True):
            state = RefundState.UNKNOWN  # see the PortPos backend: a person resolves instead
        if (
            state != RefundState.NONE
            and not invoice.refunds.exclude(status=RefundStatus.FAILED).exists()
        ):
            # No refund of ours at all: one made in the PortWallet panel (or a forged IPN).
            logger.warning(
                "PortWallet says invoice %s is %s but it has no refund here; "
                "check the PortWallet panel [%s]",
                invoice.pk,
                STATUS_CODES[int(envelope["status"])].name,
                self.alias,
            )
        return RefundReport(state=state, raw=envelope)
