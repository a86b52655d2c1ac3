"""Postpay (buy now, pay later): checkout, capture on return, orders, refunds, settlements, hooks.

Wire format: docs/gateways/postpay.md, from the Postpay v1 API reference (``gateway-docs``
sections are named in the comments below).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import requests
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, gettext_noop

from django_multipay import money
from django_multipay.conf import multipay_settings
from django_multipay.exceptions import (
    GatewayAPIError,
    InvalidRequest,
    MultipayError,
    NotificationRejected,
    PaymentDeclined,
    RefundError,
)
from django_multipay.gateways.base import (
    ApiCall,
    BaseGateway,
    Capabilities,
    GatewayOption,
    PaymentOption,
)
from django_multipay.gateways.contact import InvalidPhone, parse_phone
from django_multipay.gateways.postpay_lists import MAX_PAGE_SIZE, Page, fetch_page, iso
from django_multipay.gateways.results import (
    InboundRequest,
    NotificationEvent,
    PaymentAction,
    PaymentStart,
    PaymentUrls,
    RefundResult,
    SettlementLine,
    StatusResult,
)
from django_multipay.gateways.webhooks import TimestampedHmac, malformed
from django_multipay.models import Invoice, Order, Refund
from django_multipay.status import CAPTURED, InvoiceStatus, RefundStatus

#: "Data types / Media types": the version is chosen by the Accept header.
MEDIA_TYPE = "application/vnd.postpay+json; version=v1"
#: "Webhooks": the header carrying ``"<unix ts>:<hex HMAC-SHA256>"``.
SIGNATURE_HEADER = "X-Postpay-Signature"
#: The two halves of that header: Unix seconds, and the hex digest ("Webhooks": "the HMAC hex
#: digest value"). Spaces around either half are allowed, as before; nothing else.
SIGNATURE_TIMESTAMP = re.compile(r"\s*[0-9]+\s*", re.ASCII)
HEX = re.compile(r"\s*[0-9a-fA-F]+\s*", re.ASCII)

#: Order statuses → ours; the one place this vocabulary is mapped. "Orders" documents
#: pending, approved, captured and denied; cancelled and expired follow the return
#: (``status=CANCELLED``) and capture (``410 expired``) answers; the refund statuses are
#: read defensively, since the full list is not published.
STATUS_MAP: dict[str, str] = {
    "pending": InvoiceStatus.PENDING,
    "approved": InvoiceStatus.AUTHORIZED,
    "captured": InvoiceStatus.PAID,
    "denied": InvoiceStatus.FAILED,
    "cancelled": InvoiceStatus.CANCELLED,
    "canceled": InvoiceStatus.CANCELLED,
    "expired": InvoiceStatus.EXPIRED,
    "partially_refunded": InvoiceStatus.PARTIALLY_REFUNDED,
    "refunded": InvoiceStatus.REFUNDED,
}

#: "Webhooks": the events a hook can subscribe to.
HOOK_EVENTS = ("order", "transaction")


# -- signatures ------------------------------------------------------------------------------


#: "Webhooks": the HMAC-SHA256 hex digest of "<ts>:<body>".
SIGNED = TimestampedHmac(":")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Postpay-Signature`` value: ``"<ts>:<hex HMAC-SHA256(secret, "<ts>:" + body)>"``."""
    return f"{timestamp}:{SIGNED.digest(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> None:
    """Raise ``NotificationRejected`` unless ``header`` signs ``body`` with ``secret``, its
    timestamp (signed too, so never replayed under a new one) within ``tolerance`` seconds."""
    if not header:
        raise NotificationRejected("missing X-Postpay-Signature header", code="signature")
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        # Gateway notes, "Postpay / Webhook verification": postpay-php's test sends the value
        # in double quotes, "<ts>:<hex>"; the API reference ("Webhooks") shows no quotes.
        # One surrounding pair is taken off; any other quote leaves the header malformed.
        value = value[1:-1]
    stamp, sep, digest = value.partition(":")
    if not sep or not SIGNATURE_TIMESTAMP.fullmatch(stamp) or not HEX.fullmatch(digest):
        raise NotificationRejected("malformed X-Postpay-Signature header", code="signature")
    SIGNED.verify(secret, int(stamp), [digest], body, tolerance=tolerance, now=now)


# -- typed answers ---------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    return parse_datetime(str(value)) if value else None


@dataclass(frozen=True)
class PostpayOrder:
    """An order as Postpay reports it ("Orders"), amounts as Decimals."""

    order_id: str
    status: str
    total_amount: Decimal
    tax_amount: Decimal | None
    currency: str
    created: datetime | None
    status_changed: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def invoice_status(self) -> str | None:
        """Our invoice status for this order's status (``None`` if unknown)."""
        return STATUS_MAP.get(self.status.lower())


@dataclass(frozen=True)
class PostpayTransaction:
    """A settlement transaction ("Settlements"): what Postpay pays out, net of its fee.

    ``fee_rate`` and ``fee_tax_rate`` are percentages (Postpay sends hundredths of a percent:
    ``450`` is 4.50 %, as the documented sample's totals show)."""

    id: str
    type: str
    currency: str
    amount: Decimal
    fee_amount: Decimal
    fee_rate: Decimal
    fee_tax_rate: Decimal
    total_amount: Decimal
    description: str
    created: datetime | None
    paid: datetime | None
    order: PostpayOrder | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class PostpayHook:
    """A webhook registered at Postpay ("Webhooks"). Its secret is never sent back."""

    id: str
    active: bool
    events: list[str]
    url: str
    last_response_code: int | None
    last_response_status: str
    created: datetime | None
    modified: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


# -- per-payment options ---------------------------------------------------------------------

#: "Customer": the documented choices of ``gender`` and ``account``.
GENDERS = ("male", "female", "other")
ACCOUNTS = ("new", "existing", "guest")
#: Most discount lines one payment may give, and the largest ``metadata``, as JSON (ours).
MAX_DISCOUNTS = 20
MAX_METADATA_BYTES = 4096
#: A discount amount has fewer whole digits than this (ours: no order comes near it).
MAX_AMOUNT_DIGITS = 12
#: ``metadata`` keys this backend writes itself: a payment cannot replace them.
OWN_METADATA_KEYS = frozenset({"invoice", "reference"})
#: "Address": ``alt_phone``, "Alternative phone number.", of the address each key names. The
#: Order model has no such column, so it is a per-payment option; at most as long as
#: ``Order.customer_phone`` may be.
ALT_PHONE_KEYS = frozenset({"shipping", "billing"})
MAX_PHONE_LENGTH = 30
#: Where a national phone number is read as being from when its address names no country:
#: Postpay serves the United Arab Emirates.
HOME_REGION = "AE"


def _text(value: Any, what: str, limit: int = 255) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(
            # Translators: %(what)s is a field's name (date_of_birth, discounts[0].code).
            gettext("%(what)s must be a string of 1 to %(limit)s characters")
            % {"what": what, "limit": limit}
        )
    return value


def _clean_customer(value: dict[str, Any]) -> dict[str, str]:
    """From "Customer": ``gender`` (male, female, other), ``account`` (new, existing, guest),
    ``date_of_birth`` (ISO 8601 date). The customer's ``id`` comes from the shop's user."""
    for key, choices, message in (
        # Translators: gender is a field's name and its values are Postpay's: keep them.
        ("gender", GENDERS, gettext_noop("gender must be one of %(choices)s")),
        # Translators: account is a field's name and its values are Postpay's: keep them.
        ("account", ACCOUNTS, gettext_noop("account must be one of %(choices)s")),
    ):
        if key in value and value[key] not in choices:
            raise ValueError(gettext(message) % {"choices": ", ".join(choices)})
    if "date_of_birth" in value:
        try:
            date.fromisoformat(_text(value["date_of_birth"], "date_of_birth", 10))
        except ValueError:
            raise ValueError(
                # Translators: date_of_birth is a field's name; YYYY-MM-DD shows the format.
                gettext("date_of_birth must be an ISO 8601 date (YYYY-MM-DD)")
            ) from None
    return {k: str(v) for k, v in value.items()}


def _clean_shipping(value: dict[str, Any]) -> dict[str, str]:
    """From "Shipping": the option's ``id`` and ``name`` (amount and address: the order's)."""
    return {k: _text(v, k) for k, v in value.items()}


def _clean_discounts(value: list[Any]) -> list[dict[str, str]]:
    """From "Discount": ``code`` (required), ``name``, ``amount`` (required; a positive decimal in
    major units, sent in minor units)."""
    cleaned = []
    for index, line in enumerate(value):
        where = f"discounts[{index}]"
        named: dict[str, Any] = {"where": where, "digits": MAX_AMOUNT_DIGITS}
        if not isinstance(line, Mapping):
            # Translators: %(where)s names a discount line (discounts[0]).
            raise ValueError(gettext("%(where)s must be an object") % named)
        named["keys"] = ", ".join(sorted(str(k) for k in set(line) - {"code", "name", "amount"}))
        if named["keys"]:
            raise ValueError(gettext("%(where)s has unknown keys %(keys)s") % named)
        if "code" not in line or "amount" not in line:
            # Translators: code and amount are the discount line's keys.
            raise ValueError(gettext("%(where)s needs a code and an amount") % named)
        try:
            # A JSON string or whole number: money refuses floats, booleans and the rest.
            decimal = money.to_decimal(line["amount"])
        except ValidationError:
            raise ValueError(gettext("%(where)s.amount must be a decimal string") % named) from None
        if decimal <= 0:
            raise ValueError(gettext("%(where)s.amount must be greater than zero") % named)
        if decimal.adjusted() >= MAX_AMOUNT_DIGITS:
            # Sent as integer minor units ("Discount": amount): no order is this large.
            # Translators: 10^%(digits)s is ten to the power of %(digits)s.
            raise ValueError(gettext("%(where)s.amount must be below 10^%(digits)s") % named)
        entry = {"code": _text(line["code"], f"{where}.code"), "amount": str(decimal)}
        if line.get("name"):
            entry["name"] = _text(line["name"], f"{where}.name")
        cleaned.append(entry)
    return cleaned


def _clean_alt_phone(value: dict[str, Any]) -> dict[str, str]:
    """From "Address": ``alt_phone`` (a String) per address; each is then kept in E.164 as a
    phone number of its address's country (:meth:`PostpayGateway.clean_payment_options`)."""
    return {
        key: _text(number, f"alt_phone.{key}", MAX_PHONE_LENGTH).strip()
        for key, number in value.items()
    }


def _clean_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """From "Create a checkout": ``metadata``, key/value pairs; ours (invoice, reference) stay."""
    taken = sorted(OWN_METADATA_KEYS & set(value))
    if taken:
        raise ValueError(
            # Translators: %(keys)s are metadata keys (invoice, reference).
            gettext("%(keys)s are set by django-multipay") % {"keys": ", ".join(taken)}
        )
    # String keys, finite numbers of JSON's range: the declaration's own check
    # (PaymentOption.check); the values here are flat.
    if not all(v is None or isinstance(v, (str, int, float, bool)) for v in value.values()):
        raise ValueError(gettext("must map strings to strings, numbers or booleans"))
    if len(json.dumps(value, allow_nan=False)) > MAX_METADATA_BYTES:
        raise ValueError(
            gettext("must be at most %(maximum)s bytes of JSON") % {"maximum": MAX_METADATA_BYTES}
        )
    return dict(value)


#: What one payment may choose (``payments.begin_payment(options=...)``, or staff through the
#: API), each from the "Create a checkout" body. A customer never sets these.
PAYMENT_OPTIONS: dict[str, PaymentOption] = {
    # "Customer": gender, date_of_birth, account.
    "customer": PaymentOption(
        dict,
        "gender, date_of_birth, account of the customer object.",
        keys=frozenset({"gender", "date_of_birth", "account"}),
        clean=_clean_customer,
    ),
    # "Shipping": id and name of the shipping option.
    "shipping": PaymentOption(
        dict,
        "id and name of the shipping option.",
        keys=frozenset({"id", "name"}),
        clean=_clean_shipping,
    ),
    # "Discount": code, name, amount; instead of the computed discount line.
    "discounts": PaymentOption(
        list,
        "Discount lines (code, name, decimal amount).",
        min_length=1,
        max_length=MAX_DISCOUNTS,
        clean=_clean_discounts,
    ),
    # "Create a checkout": num_instalments, an Integer the customer then cannot change
    # (1: pay now). The document gives no upper bound; 12 is ours.
    "num_instalments": PaymentOption(
        int, "Fixed number of instalments (1: pay now).", min_value=1, max_value=12
    ),
    # "Create a checkout": metadata, key/value pairs passed into the checkout.
    "metadata": PaymentOption(dict, "Extra checkout metadata.", clean=_clean_metadata),
    # "Address": alt_phone, the alternative phone number of the shipping and billing address.
    "alt_phone": PaymentOption(
        dict,
        "Alternative phone number of the shipping and of the billing address.",
        keys=ALT_PHONE_KEYS,
        min_length=1,
        clean=_clean_alt_phone,
    ),
}


# -- the backend -----------------------------------------------------------------------------


class PostpayGateway(BaseGateway):
    """Postpay v1 REST API, buy now, pay later (AED): hosted checkout, capture on return,
    refunds, settlement transactions, signed webhooks."""

    display_name = "Postpay"
    emulator = ("django_multipay.sandbox.postpay", "checkouts")
    webhook_command = "multipay_postpay_hooks create --alias {alias}"  # "Webhooks"
    capabilities = Capabilities(
        refund=True,
        partial_refund=True,
        # "Refunds": partial and multiple refunds up to the captured amount, no count limit.
        max_refunds=None,
        # Our refund key is Postpay's refund_id: a repeat is answered 409 conflict.
        idempotent_refunds=True,
        capture=True,
        list_refunds=True,
        # "Settlements": GET /transactions.
        settlement=True,
        signed_notifications=True,
        currencies=frozenset({"AED"}),
    )
    # docs/gateways/postpay.md, "Options" (``webhook_*``: the hooks command).
    declared_options = (
        GatewayOption("merchant_id", required=True),
        GatewayOption("secret_key", required=True, secret=True),
        GatewayOption("webhook_secret", secret=True),
        GatewayOption("signature_tolerance", int, default=300),
        GatewayOption("capture_on_notification", bool, default=True),
        GatewayOption("currencies", list),
        GatewayOption("shipping_name", default="Shipping"),
        GatewayOption("default_postal_code", default="00000"),
        *(GatewayOption(name) for name in ("item_url", "webhook_url")),
        GatewayOption("num_instalments", int),
        GatewayOption("webhook_events", list, default=["order", "transaction"]),
        GatewayOption("webhook_active", bool, default=True),
        GatewayOption("transactions_max_pages", int, default=20),
    )
    # gateway-notes "Postpay / Hosts".
    live_base_url = "https://api.postpay.io/"
    sandbox_base_url = "https://sandbox.postpay.io/"
    payment_options = PAYMENT_OPTIONS
    # "Capture errors": 410 expired, "The capture has expired", with no period given: an
    # approval is taken to last seven days (option ``hold_lifetime``).
    default_hold_lifetime = timedelta(days=7)

    def clean_payment_options(self, options: dict[str, Any], order: Order | None) -> dict[str, str]:
        """Discount amounts in the order's currency's precision, together not above its
        total; each ``alt_phone`` a phone number of its address's country, kept in E.164."""
        errors = self._clean_alt_phones(options, order)
        if order is None or "discounts" not in options:
            return errors
        return {**errors, **self._discount_errors(options, order)}

    @staticmethod
    def alt_phone_region(order: Order | None, which: str) -> str:
        """The country a national ``alt_phone`` of the ``which`` address is read in: that
        address's (the shipping address is the billing one if the order has none), else the UAE."""
        if order is None:
            return HOME_REGION
        billing = order.billing_address or {}
        address = billing if which == "billing" else (order.shipping_address or billing)
        return str(address.get("country") or billing.get("country") or HOME_REGION)

    def _clean_alt_phones(self, options: dict[str, Any], order: Order | None) -> dict[str, str]:
        """Each alternative phone read as every phone we send (``contact.parse_phone``, in its
        address's country) and kept in E.164: one unambiguous form ("Address": ``alt_phone``)."""
        given = options.get("alt_phone")
        if not isinstance(given, dict):
            return {}
        errors: dict[str, str] = {}
        cleaned: dict[str, str] = {}
        for which, number in sorted(given.items()):
            if which == "billing" and order is not None and not order.billing_address:
                # Nowhere to send it: no billing_address, no customer.default_address.
                # Translators: said of the billing alternative phone option, after its name.
                errors["options.alt_phone.billing"] = gettext("the order has no billing address")
                continue
            try:
                cleaned[which] = parse_phone(str(number), self.alt_phone_region(order, which)).e164
            except InvalidPhone as exc:
                errors[f"options.alt_phone.{which}"] = str(exc)
        if not errors:
            options["alt_phone"] = cleaned
        return errors

    def _discount_errors(self, options: dict[str, Any], order: Order) -> dict[str, str]:
        try:
            amounts = [
                money.validate_amount(line["amount"], order.currency)
                for line in options["discounts"]
            ]
        except ValidationError as exc:
            problem = "; ".join(exc.messages)
        except ArithmeticError:
            problem = gettext("an amount cannot be read in the order's currency")
        else:
            if sum(amounts, Decimal(0)) <= order.amount:
                return {}
            problem = gettext("the discounts add up to more than the order's amount")
        return {"options.discounts": problem}

    def accepts_currency(self, currency: str) -> bool:
        """``AED`` by default; the ``currencies`` option lists others an account takes."""
        allowed = self.option("currencies")
        if allowed:
            return currency.upper() in {str(c).upper() for c in allowed}
        return super().accepts_currency(currency)

    # -- wire --------------------------------------------------------------------------------

    def request_headers(self, call: ApiCall) -> dict[str, str]:
        """The Accept header that chooses the version ("Data types / Media types")."""
        return {"Accept": MEDIA_TYPE}

    def request_kwargs(self, body: Any, call: ApiCall) -> dict[str, Any]:
        """Basic auth, the merchant id and secret key ("Authentication"); a JSON body."""
        auth = (str(self.options["merchant_id"]), str(self.options["secret_key"]))
        return {"auth": auth, **super().request_kwargs(body, call)}

    def parse_answer(self, response: requests.Response, call: ApiCall) -> Any:
        """The JSON answer; a DELETE is answered ``204`` with nothing to read."""
        if call.method == "DELETE":
            return None
        try:
            return super().parse_answer(response, call)
        except GatewayAPIError as exc:
            raise self.error_for(exc, call) from None

    def error_for(self, error: GatewayAPIError, call: ApiCall) -> MultipayError:
        """``{"error": {"code", "message", "fields"}}`` ("Errors") → the project's exception
        with Postpay's code and message: ``402`` is ``PaymentDeclined``, anything else a
        ``GatewayAPIError`` keeping the HTTP status."""
        status = error.http_status
        details = _mapping(error.response).get("error")
        if not isinstance(details, dict):
            if status is None:
                return error
            details = {"code": "error"} if status >= 500 else {}
        code = str(details.get("code") or f"http_{status}")
        message = str(details.get("message") or "")
        fields = details.get("fields")
        text = f"Postpay answered HTTP {status} {code}" + (f": {message}" if message else "")
        if isinstance(fields, dict) and fields:
            text += " (" + "; ".join(f"{k}: {_join(v)}" for k, v in sorted(fields.items())) + ")"
        if status == 402:
            return PaymentDeclined(text, gateway=self.alias, response=error.response, code=code)
        return self.answer_error(text, error.response, code=code, http_status=status)

    @staticmethod
    def order_id(invoice: Invoice) -> str:
        """Postpay's ``order_id`` for an invoice: our invoice id, unique per attempt."""
        return str(invoice.pk)

    # -- checkout ----------------------------------------------------------------------------

    def checkout_payload(self, invoice: Invoice, urls: PaymentUrls) -> dict[str, Any]:
        """The ``POST /checkouts`` body ("Create a checkout"), built from the order; what it
        has no column for comes from the payment's options (:data:`PAYMENT_OPTIONS`), never
        from the order's metadata."""
        order = invoice.order
        currency = invoice.currency
        extra = _mapping(invoice.gateway_options)
        shipping_source = order.shipping_address or order.billing_address or {}
        shipping_extra = _mapping(extra.get("shipping"))
        # "Address": alt_phone, from the payment's alt_phone option (the Order has no column).
        alt_phones = _mapping(extra.get("alt_phone"))
        billing_alt = str(alt_phones.get("billing") or "")
        shipping_alt = str(alt_phones.get("shipping") or "")
        if not shipping_alt and not order.shipping_address:
            shipping_alt = billing_alt  # the shipping address is the billing one
        shipping: dict[str, Any] = {
            **({"id": str(shipping_extra["id"])} if shipping_extra.get("id") else {}),
            "name": str(shipping_extra.get("name") or self.option("shipping_name", "Shipping")),
            "amount": money.to_minor_units(order.shipping_amount, currency),
            "address": self._address(shipping_source, order, shipping_alt),
        }

        items = self._items(order, currency)
        discounts = self._discounts(order, extra, items, currency)
        payload: dict[str, Any] = {
            "order_id": self.order_id(invoice),
            "total_amount": money.to_minor_units(invoice.amount, currency),
            "tax_amount": money.to_minor_units(order.tax_amount, currency),
            "currency": currency,
            "shipping": shipping,
            "customer": self._customer(order, extra, billing_alt),
            "items": items,
            "merchant": {"confirmation_url": urls.return_url, "cancel_url": urls.cancel_url},
            "metadata": {
                **{str(k): v for k, v in dict(extra.get("metadata") or {}).items()},
                "invoice": str(invoice.pk),
                "reference": order.reference,
            },
        }
        if order.billing_address:
            payload["billing_address"] = self._address(order.billing_address, order, billing_alt)
        if discounts:
            payload["discounts"] = discounts
        instalments = extra.get("num_instalments", self.option("num_instalments"))
        if instalments is not None:
            payload["num_instalments"] = int(instalments)
        return payload

    def _address(self, address: Mapping[str, str], order: Order, alt_phone: str) -> dict[str, Any]:
        """Our address keys → Postpay's "Address" object (``alt_phone``: the payment's)."""
        first, last = _split_name(str(address.get("name") or order.customer_name or ""))
        result = {
            "first_name": first,
            "last_name": last,
            "phone": address.get("phone") or order.customer_phone or "",
            "alt_phone": alt_phone,
            **{key: address.get(key, "") for key in ("line1", "line2", "city", "state")},
            "country": str(address.get("country", "")).upper(),
            # Postpay requires a postal code; UAE addresses have none (its own sample: 00000).
            "postal_code": address.get("postal_code")
            or self.option("default_postal_code", "00000"),
        }
        return {k: v for k, v in result.items() if v != "" or k in ADDRESS_REQUIRED}

    def _customer(self, order: Order, extra: Mapping[str, Any], billing_alt: str) -> dict[str, Any]:
        """The "Customer" object: the shop's user if there is one, else a guest; its
        ``default_address`` is the billing address."""
        given = _mapping(extra.get("customer"))
        first, last = _split_name(order.customer_name)
        user = order.user
        customer: dict[str, Any] = {
            "email": order.customer_email or (order.billing_address or {}).get("email", ""),
            "first_name": first,
            "last_name": last,
            "account": given.get("account") or ("existing" if user is not None else "guest"),
        }
        if user is not None:
            customer = {"id": str(user.pk), **customer}
            joined = getattr(user, "date_joined", None)
            if isinstance(joined, datetime):
                customer["date_joined"] = iso(joined)
        for key in ("gender", "date_of_birth"):
            if given.get(key):
                customer[key] = str(given[key])
        if order.billing_address:
            customer["default_address"] = self._address(order.billing_address, order, billing_alt)
        return {k: v for k, v in customer.items() if v != ""}

    def _items(self, order: Order, currency: str) -> list[dict[str, Any]]:
        """The "Item" list from the order's lines; an order without lines is one item."""
        fallback_url = self.option("item_url") or multipay_settings.BASE_URL or ""
        items = []
        for line in order.items.all():
            item: dict[str, Any] = {
                "reference": line.reference or f"item-{line.pk}",
                "name": line.name,
                "description": line.description,
                "url": line.url or fallback_url,
                "image_url": line.image_url,
                "unit_price": money.to_minor_units(line.unit_price, currency),
                "qty": int(line.quantity),
            }
            items.append({k: v for k, v in item.items() if v != "" or k in ITEM_REQUIRED})
        if not items:
            goods = order.amount - order.tax_amount - order.shipping_amount
            items.append(
                {
                    "reference": order.reference,
                    "name": (order.description or order.reference)[:255],
                    "url": fallback_url,
                    "unit_price": money.to_minor_units(max(goods, Decimal(0)), currency),
                    "qty": 1,
                }
            )
        return items

    def _discounts(
        self,
        order: Order,
        extra: Mapping[str, Any],
        items: list[dict[str, Any]],
        currency: str,
    ) -> list[dict[str, Any]]:
        """Discounts chosen for the payment, or else one for the gap between the
        lines (plus tax and shipping) and the total, so the checkout adds up."""
        given = extra.get("discounts")
        if isinstance(given, list) and given:
            return [
                {
                    "code": str(d.get("code", "")),
                    **({"name": str(d["name"])} if d.get("name") else {}),
                    "amount": money.to_minor_units(money.to_decimal(d.get("amount")), currency),
                }
                for d in given
                if isinstance(d, dict)
            ]
        lines = sum(int(i["unit_price"]) * int(i["qty"]) for i in items)
        tax, shipping, total = (
            money.to_minor_units(amount, currency)
            for amount in (order.tax_amount, order.shipping_amount, order.amount)
        )
        gap = lines + tax + shipping - total
        return [{"code": "discount", "name": "Discount", "amount": gap}] if gap > 0 else []

    def check_required(self, payload: Mapping[str, Any]) -> None:
        """Raise ``InvalidRequest`` naming every required field ("❗️" in "Create a
        checkout") that is missing or empty, before anything is sent."""
        missing: dict[str, str] = {}

        def need(obj: Any, names: Iterable[str], prefix: str) -> None:
            for name in names:
                value = obj.get(name) if isinstance(obj, Mapping) else None
                if value is None or value == "" or value == []:
                    missing[f"{prefix}{name}"] = gettext("This field is required.")

        customer = payload.get("customer") or {}
        need(payload, CHECKOUT_REQUIRED, "")
        need(payload.get("shipping"), SHIPPING_REQUIRED, "shipping.")
        need((payload.get("shipping") or {}).get("address"), ADDRESS_REQUIRED, "shipping.address.")
        need(customer, CUSTOMER_REQUIRED, "customer.")
        if "default_address" in customer:
            need(customer["default_address"], ADDRESS_REQUIRED, "customer.default_address.")
        if "billing_address" in payload:
            need(payload["billing_address"], ADDRESS_REQUIRED, "billing_address.")
        need(payload.get("merchant"), MERCHANT_REQUIRED, "merchant.")
        for key, names in (("items", ITEM_REQUIRED), ("discounts", DISCOUNT_REQUIRED)):
            for index, part in enumerate(payload.get(key) or []):
                need(part, names, f"{key}[{index}].")
        if missing:
            raise InvalidRequest(
                # Translators: %(fields)s lists the fields by their names in Postpay's API.
                gettext("Postpay checkout is missing required fields: %(fields)s")
                % {"fields": ", ".join(sorted(missing))},
                gateway=self.alias,
                fields=missing,
                code="invalid",
            )

    def start_payment(self, invoice: Invoice, urls: PaymentUrls) -> PaymentStart:
        """``POST /checkouts``; the customer goes to ``redirect_url`` ("Checkout / Workflow")."""
        payload = self.checkout_payload(invoice, urls)
        self.check_required(payload)
        data = self.call("POST", "checkouts", payload)
        with self.reading("checkout", data):
            token = str(data["token"])
            action = PaymentAction(url=str(data["redirect_url"]))
            expires = _when(data.get("expires"))
        return PaymentStart(action=action, gateway_id=token, expires_at=expires, raw=data)

    # -- orders ------------------------------------------------------------------------------

    def _order(self, data: Any) -> PostpayOrder:
        with self.reading("order", data):
            currency = money.normalize_currency(data["currency"])
            tax = data.get("tax_amount")
            return PostpayOrder(
                order_id=str(data["order_id"]),
                status=str(data["status"]).lower(),
                total_amount=money.from_minor_units(data["total_amount"], currency),
                tax_amount=money.from_minor_units(tax, currency) if tax is not None else None,
                currency=currency,
                created=_when(data.get("created")),
                status_changed=_when(data.get("status_changed")),
                raw=data,
            )

    def _status(self, invoice: Invoice, data: Any) -> StatusResult:
        """An order answer → our status, with its amount and currency for the core to check."""
        order = self._order(data)
        status = order.invoice_status
        if status is None:
            raise self.answer_error(f"Unknown Postpay order status {order.status!r}", data)
        refunded = None
        if status in (InvoiceStatus.REFUNDED, InvoiceStatus.PARTIALLY_REFUNDED):
            refunded = sum((r.amount or Decimal(0) for r in self.list_refunds(invoice)), Decimal(0))
        return StatusResult(
            status=status,
            amount=order.total_amount,
            currency=order.currency,
            captured_amount=order.total_amount if status == InvoiceStatus.PAID else None,
            refunded_amount=refunded,
            failure_reason="Denied by Postpay" if status == InvoiceStatus.FAILED else "",
            raw=data,
        )

    def get_order(self, order: Invoice | str) -> PostpayOrder:
        """``GET /orders/{order_id}`` ("Get single order")."""
        order_id = self.order_id(order) if isinstance(order, Invoice) else str(order)
        return self._order(self.call("GET", f"orders/{order_id}"))

    def list_orders(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        ordering: str | Iterable[str] | None = None,
        **filters: Any,
    ) -> Page[PostpayOrder]:
        """``GET /orders`` ("List orders") with the documented filters, e.g.
        ``status__in=["captured", "denied"]``, ``total_amount__gte=Decimal("100.50")`` (with
        ``currency="AED"``), ``created__date__gt=date(2020, 5, 20)``, ``ordering="-created"``."""
        return fetch_page(self, "orders", self._order, filters, ordering, page, page_size)

    def fetch_status(self, invoice: Invoice) -> StatusResult:
        """The order read back server-to-server: the truth behind a return or a webhook."""
        return self._status(invoice, self.call("GET", f"orders/{self.order_id(invoice)}"))

    # -- capture and the return --------------------------------------------------------------

    def capture(self, invoice: Invoice, amount: Decimal) -> StatusResult:
        """``POST /orders/{order_id}/capture`` ("Capture"): the whole order, no body.

        A capture that already happened (a retry after a lost answer, or the webhook and the
        customer's return racing) is answered ``409 invalid_status``: the order is then read
        back and, if captured, that is the answer."""
        if amount != invoice.amount:
            raise InvalidRequest(
                gettext("Postpay captures the whole order; partial capture is not possible."),
                gateway=self.alias,
            )
        try:
            data = self.call("POST", f"orders/{self.order_id(invoice)}/capture")
        except GatewayAPIError as exc:
            if exc.http_status == 409 and exc.code == "invalid_status":
                current = self.fetch_status(invoice)
                if current.status in CAPTURED:
                    return current
            raise
        result = self._status(invoice, data)
        if result.status != InvoiceStatus.PAID:
            raise self.answer_error(
                f"Postpay answered the capture with status {data.get('status')!r}", data
            )
        return result

    def settle(self, invoice: Invoice) -> StatusResult:
        """Read the order; if Postpay approved it, capture it. The invoice becomes paid only
        from the capture's answer ("Checkout / Workflow" steps 4 and 5)."""
        current = self.fetch_status(invoice)
        if current.status != InvoiceStatus.AUTHORIZED:
            return current
        if current.amount != invoice.amount or current.currency != invoice.currency:
            # "Capture" takes the whole order, so an order whose total_amount or currency is
            # not the invoice's is never captured: the read goes back as it is, and the core
            # refuses it (AmountMismatch) before anything moves.
            return current
        try:
            return self.capture(invoice, invoice.amount)
        except (PaymentDeclined, GatewayAPIError) as exc:
            # "Capture errors": 402 capture_error, the payment transaction was declined; 410
            # expired, the approval lapsed before we captured.
            if isinstance(exc, PaymentDeclined):
                status = InvoiceStatus.FAILED
            elif exc.http_status == 410:
                status = InvoiceStatus.EXPIRED
            else:
                raise
            return StatusResult(
                status=status,
                amount=current.amount,
                currency=current.currency,
                failure_reason=exc.message,
                raw=exc.response if isinstance(exc.response, dict) else {},
            )

    def verify_return(self, invoice: Invoice, request: InboundRequest) -> StatusResult:
        """The customer is back at ``confirmation_url`` or ``cancel_url`` with ``order_id`` and
        ``status`` in the query. Neither is trusted (they are unsigned): the order is read
        server-to-server, and captured if it is approved."""
        return self.settle(invoice)

    def verify_notification(self, invoice: Invoice, event: NotificationEvent) -> StatusResult:
        """A valid webhook is still a hint: the order is read back (and captured when
        approved, unless the ``capture_on_notification`` option is false, so a customer who
        never comes back still gets their order)."""
        return self.settle(invoice) if self.auto_capture else self.fetch_status(invoice)

    @property
    def auto_capture(self) -> bool:
        """Whether approved orders are captured unasked ("Checkout / Workflow" step 5): on the
        return always; by the webhook and reconciliation unless ``capture_on_notification``
        is false."""
        return bool(self.option("capture_on_notification", True))

    def reconcile_status(self, invoice: Invoice) -> StatusResult:
        """An approved order no callback captured (the return's read failed, no webhook) is
        captured here, as on the return: :meth:`settle`. ``410 expired`` is Postpay's word
        that the approval lapsed."""
        return self.settle(invoice) if self.auto_capture else self.fetch_status(invoice)

    # -- refunds -----------------------------------------------------------------------------

    def _refund(self, data: Any, currency: str) -> RefundResult:
        """A refund answer ("Refunds"): it has no status, it exists once it is made."""
        with self.reading("refund", data):
            refund_id = str(data["refund_id"])
            return RefundResult(
                status=RefundStatus.SUCCEEDED,
                gateway_refund_id=refund_id,
                amount=money.from_minor_units(data["amount"], currency),
                currency=currency,
                idempotency_key=refund_id,
                raw=data,
            )

    def create_refund(
        self,
        invoice: Invoice,
        refund_id: str,
        amount: Decimal | None = None,
        description: str = "",
    ) -> RefundResult:
        """``POST /orders/{order_id}/refunds`` ("Create a refund"). Without ``amount``
        Postpay refunds the whole captured amount. A ``409 conflict`` (this ``refund_id``
        exists) reads the existing refund back instead, so a retry never refunds twice."""
        body: dict[str, Any] = {"refund_id": refund_id}
        if amount is not None:
            body["amount"] = money.to_minor_units(amount, invoice.currency)
        if description:
            body["description"] = description
        try:
            data = self.call("POST", f"orders/{self.order_id(invoice)}/refunds", body)
        except GatewayAPIError as exc:
            if exc.http_status == 409 and exc.code == "conflict":
                return self.get_refund(invoice, refund_id)
            if exc.http_status is not None and 400 <= exc.http_status < 500:
                # "Refund errors": 400 invalid, 409 invalid_status, 409 limit_exceeded.
                raise RefundError(
                    exc.message, gateway=self.alias, response=exc.response, code=exc.code
                ) from None
            raise
        return self._refund(data, invoice.currency)

    def refund(self, refund: Refund) -> RefundResult:
        """Our refund's idempotency key is Postpay's ``refund_id``. The amount is always
        sent, so what Postpay refunds is exactly what the core reserved."""
        return self.create_refund(
            refund.invoice, refund.idempotency_key, refund.amount, refund.reason
        )

    def get_refund(self, invoice: Invoice, refund_id: str) -> RefundResult:
        """``GET /orders/{order_id}/refunds/{refund_id}`` ("Get single refund")."""
        data = self.call("GET", f"orders/{self.order_id(invoice)}/refunds/{refund_id}")
        return self._refund(data, invoice.currency)

    def refunds_page(
        self,
        invoice: Invoice,
        *,
        page: int | None = None,
        page_size: int | None = None,
        ordering: str | Iterable[str] | None = None,
        **filters: Any,
    ) -> Page[RefundResult]:
        """``GET /orders/{order_id}/refunds`` ("List refunds") with the documented filters."""
        path = f"orders/{self.order_id(invoice)}/refunds"
        parse = partial(self._refund, currency=invoice.currency)
        return fetch_page(self, path, parse, filters, ordering, page, page_size, invoice.currency)

    def list_refunds(self, invoice: Invoice) -> list[RefundResult]:
        """Every refund of the invoice's order, all pages; ``idempotency_key`` is the
        ``refund_id`` (our refund's key), so a refund whose answer was lost still matches."""
        results: list[RefundResult] = []
        page = 1
        while True:
            current = self.refunds_page(
                invoice, page=page, page_size=MAX_PAGE_SIZE, ordering="created"
            )
            results.extend(current.results)
            if not current.next or not current.results:
                return results
            page += 1

    # -- settlements -------------------------------------------------------------------------

    def _transaction(self, data: Any) -> PostpayTransaction:
        with self.reading("transaction", data):
            currency = money.normalize_currency(data["currency"])

            def amount(name: str) -> Decimal:
                return money.from_minor_units(data.get(name) or 0, currency)

            return PostpayTransaction(
                id=str(data["id"]),
                type=str(data["type"]),
                currency=currency,
                amount=amount("amount"),
                fee_amount=amount("fee_amount"),
                fee_rate=Decimal(int(data.get("fee_rate") or 0)) / 100,
                fee_tax_rate=Decimal(int(data.get("fee_tax_rate") or 0)) / 100,
                total_amount=amount("total_amount"),
                description=str(data.get("description") or ""),
                created=_when(data.get("created")),
                paid=_when(data.get("paid")),
                order=self._order(data["order"]) if isinstance(data.get("order"), dict) else None,
                raw=data,
            )

    def list_transactions(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        ordering: str | Iterable[str] | None = None,
        **filters: Any,
    ) -> Page[PostpayTransaction]:
        """``GET /transactions`` ("List transactions"), e.g. ``type__in=["order", "refund"]``,
        ``paid__isnull=True``, ``ordering="paid"``."""
        return fetch_page(
            self, "transactions", self._transaction, filters, ordering, page, page_size
        )

    def get_transaction(self, transaction_id: str) -> PostpayTransaction:
        """``GET /transactions/{transaction_id}`` ("Get single transaction")."""
        return self._transaction(self.call("GET", f"transactions/{transaction_id}"))

    def transactions_for_invoice(
        self, invoice: Invoice, *, max_pages: int | None = None
    ) -> list[PostpayTransaction]:
        """The settlement transactions of one invoice's order (its payment and refunds).

        The API has no order filter, so transactions in the invoice's currency created since
        the invoice (less a day for clock differences) are paged through and matched on
        ``order.order_id``; at most ``max_pages`` pages (option ``transactions_max_pages``,
        default 20) of 50 are read."""
        wanted = self.order_id(invoice)
        found: list[PostpayTransaction] = []
        for number in range(1, int(max_pages or self.option("transactions_max_pages", 20)) + 1):
            page = self.list_transactions(
                page=number,
                page_size=MAX_PAGE_SIZE,
                ordering="created",
                currency=invoice.currency,
                created__gte=invoice.created_at - timedelta(days=1),
            )
            found.extend(t for t in page.results if t.order and t.order.order_id == wanted)
            if not page.next:
                break
        return found

    def settlement(self, invoice: Invoice) -> list[SettlementLine]:
        """:meth:`transactions_for_invoice` as the core's settlement lines."""
        return [
            SettlementLine(
                id=t.id,
                type=t.type,
                currency=t.currency,
                amount=t.amount,
                # Everything Postpay keeps: its rate, the fixed fee and the tax on both.
                fee=t.amount - t.total_amount,
                net=t.total_amount,
                created=t.created,
                paid_out=t.paid,
                description=t.description,
            )
            for t in self.transactions_for_invoice(invoice)
        ]

    # -- hooks -------------------------------------------------------------------------------

    def _hook(self, data: Any) -> PostpayHook:
        with self.reading("hook", data):
            last = data.get("last_response") or {}
            return PostpayHook(
                id=str(data["id"]),
                active=bool(data.get("active", True)),
                events=[str(e) for e in data.get("events") or []],
                url=str(data["url"]),
                last_response_code=int(last["code"]) if last.get("code") is not None else None,
                last_response_status=str(last.get("status") or ""),
                created=_when(data.get("created")),
                modified=_when(data.get("modified")),
                raw=data,
            )

    def list_hooks(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        ordering: str | Iterable[str] | None = None,
        **filters: Any,
    ) -> Page[PostpayHook]:
        """``GET /hooks`` ("List hooks"), e.g. ``url__startswith="https"``, ``active=True``."""
        return fetch_page(self, "hooks", self._hook, filters, ordering, page, page_size)

    def get_hook(self, hook_id: str) -> PostpayHook:
        """``GET /hooks/{hook_id}`` ("Get single hook")."""
        return self._hook(self.call("GET", f"hooks/{hook_id}"))

    def create_hook(
        self, *, url: str, secret: str, events: Iterable[str] = HOOK_EVENTS, active: bool = True
    ) -> PostpayHook:
        """``POST /hooks`` ("Create a hook"): ``events``, ``url`` and ``secret`` are required."""
        body = {"active": active, "events": _events(events), "url": url, "secret": secret}
        return self._hook(self.call("POST", "hooks", body))

    def update_hook(
        self,
        hook_id: str,
        *,
        url: str | None = None,
        secret: str | None = None,
        events: Iterable[str] | None = None,
        active: bool | None = None,
    ) -> PostpayHook:
        """``PATCH /hooks/{hook_id}`` ("Edit a hook"): only the fields given are sent."""
        chosen = None if events is None else _events(events)
        given = {"url": url, "secret": secret, "events": chosen, "active": active}
        body = {key: value for key, value in given.items() if value is not None}
        return self._hook(self.call("PATCH", f"hooks/{hook_id}", body))

    def delete_hook(self, hook_id: str) -> None:
        """``DELETE /hooks/{hook_id}`` ("Delete a hook"), answered ``204``."""
        self.call("DELETE", f"hooks/{hook_id}")

    # -- webhooks ----------------------------------------------------------------------------

    def parse_notification(self, request: InboundRequest) -> NotificationEvent:
        """Check ``X-Postpay-Signature`` ("Webhooks"), then say which invoice to read back.

        The payload schema is not published: the order id is taken from ``data.order_id``,
        ``data.order.order_id`` or the top level, and the claimed status and amount, when
        present, are handed to the core to compare with what it reads back."""
        secret = str(self.options.get("webhook_secret") or "")
        if not secret:
            raise NotificationRejected("no webhook_secret configured", code="configuration")
        header = request.header(SIGNATURE_HEADER)
        tolerance = int(self.option("signature_tolerance", 300))
        verify_signature(secret, header, request.body, tolerance=tolerance)
        with malformed(also=(GatewayAPIError,)):
            payload = request.json()
            if not isinstance(payload, dict):
                raise TypeError("payload is not an object")
            enveloped = isinstance(payload.get("data"), dict)
            data = payload["data"] if enveloped else payload
            event = str(payload.get("type") or payload.get("event") or "order")
            event = event.partition(".")[0].lower()
            order = data if event == "order" else _mapping(data.get("order"))
            if event == "transaction":
                sort = str(data.get("type"))
                kind = {"order": "payment", "refund": "refund"}.get(sort, f"transaction {sort}")
            else:
                kind = "payment" if event == "order" else event
            order_id = str((order or {}).get("order_id") or payload.get("order_id") or "")
            if kind in ("payment", "refund") and not order_id:
                raise KeyError("order_id")
            claim = None
            if order and order.get("status") and order.get("total_amount") is not None:
                parsed = self._order(order)
                if parsed.invoice_status is not None:
                    claim = StatusResult(
                        status=parsed.invoice_status,
                        amount=parsed.total_amount,
                        currency=parsed.currency,
                    )
            return NotificationEvent(
                invoice_id=order_id,
                # Only an event envelope's own id identifies a delivery; an order or
                # transaction id repeats across different changes.
                dedup_key=str(payload["id"]) if enveloped and payload.get("id") else "",
                status=claim if kind == "payment" else None,
                kind=kind,
                raw=payload,
            )


CHECKOUT_REQUIRED = (
    "order_id",
    "total_amount",
    "tax_amount",
    "currency",
    "shipping",
    "customer",
    "items",
    "merchant",
)
SHIPPING_REQUIRED = ("name", "amount", "address")
ADDRESS_REQUIRED = ("first_name", "last_name", "line1", "city", "country", "postal_code")
CUSTOMER_REQUIRED = ("email",)
ITEM_REQUIRED = ("reference", "name", "url", "unit_price", "qty")
DISCOUNT_REQUIRED = ("code", "amount")
MERCHANT_REQUIRED = ("confirmation_url", "cancel_url")


def _split_name(name: str) -> tuple[str, str]:
    """``"Ada King Lovelace"`` → ``("Ada King", "Lovelace")``; a single name fills both
    (Postpay requires a first and a last name)."""
    first, _, last = (name or "").strip().rpartition(" ")
    first, last = first.strip(), last.strip()
    return (first or last, last)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _join(value: Any) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def _events(events: Iterable[str]) -> list[str]:
    chosen = [str(e) for e in events]
    if not chosen or set(chosen) - set(HOOK_EVENTS):
        raise InvalidRequest(
            # Translators: %(events)s are Postpay's event names; %(chosen)s a Python list.
            gettext("Postpay hook events are %(events)s; got %(chosen)s.")
            % {"events": ", ".join(HOOK_EVENTS), "chosen": chosen}
        )
    return chosen


__all__ = [
    "MEDIA_TYPE",
    "SIGNATURE_HEADER",
    "STATUS_MAP",
    "Page",
    "PostpayGateway",
    "PostpayHook",
    "PostpayOrder",
    "PostpayTransaction",
    "signature",
    "verify_signature",
]
