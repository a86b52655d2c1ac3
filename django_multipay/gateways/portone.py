"""PortOne Global (api.portone.cloud): payments, payment links, capture and refunds.

Wire format: ../shared PortOne specs (payment and refund OpenAPI, portone-refunds.txt) as
summarised on docs/gateways/portone.md. Signatures are in ``portone_signing``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import jwt  # PyJWT, the ``portone`` extra: without it the alias fails check multipay.E012
import requests
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from django_multipay import logs, money
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
from django_multipay.gateways.base import (
    ApiCall,
    BaseGateway,
    Capabilities,
    GatewayOption,
    OptionProblem,
    PaymentOption,
    json_problem,
    load_callable,
)
from django_multipay.gateways.results import (
    InboundRequest,
    NotificationEvent,
    PaymentAction,
    PaymentStart,
    PaymentUrls,
    RefundResult,
    StatusResult,
)
from django_multipay.gateways.webhooks import malformed
from django_multipay.models import Invoice, Order, Refund
from django_multipay.redaction import MASK, Redactor
from django_multipay.status import CAPTURED, InvoiceStatus, RefundStatus

logger = logs.get_logger("django_multipay.gateways.portone")

CLIENT_KEY_HEADER = "X-Portone-Client-Key"
#: payment-openapi "Create Payment Link" and "Update the Payment Link": a master merchant acts
#: for one of its sub-merchants.
SUB_MERCHANT_HEADER = "X-Portone-SubMerchant-Key"
JWT_ISSUER = "PORTONE"
TRANSACTION_TYPES = ("PURCHASE", "PREAUTH")
#: Where PortOne sends the customer back (payment-openapi initiatePayment and paymentLink):
#: all three to our return address, whose status read decides.
RETURN_URL_FIELDS = ("success_url", "failure_url", "pending_url")
#: ``auth_token``: ``local`` makes each JWT here; ``remote`` asks "Create JWT Token" for one.
AUTH_TOKEN_MODES = ("local", "remote")
#: A remote token is used until this many seconds before it expires (at most a tenth of its
#: lifetime), so none is sent as it lapses.
TOKEN_RENEWAL_MARGIN = 60

#: Which PortOne call started an invoice, kept in ``invoice.gateway_options`` when it is
#: created (:meth:`PortOneGateway.check_payment_options`): what decides link or channel.
STARTED_WITH = "started_with"
STARTED_WITH_LINK = "paymentLink"
STARTED_WITH_CHANNEL = "initiatePayment"

#: The webhooks the notify URL reads.
NOTIFY_WEBHOOK_TYPES = ("payment_status", "payment_link_status", "refund_status")
#: payment-openapi "Add Webhook Endpoint" ``type``.
WEBHOOK_TYPES = (*NOTIFY_WEBHOOK_TYPES, "subscription_status", "payout_status", "onboarding_status")
#: payment-openapi "Update Transaction Status" ``status``.
SETTABLE_TRANSACTION_STATUSES = ("Success", "Failed")
#: payment-openapi "Fetch PSP Credentials" ``payType``.
PAY_TYPES = ("PAYIN", "PAYOUT")

#: "Fetch Merchant Transactions" (``fetch_statuses``): rows per page, pages at most per call,
#: and how far before the earliest invoice the listing starts (PortOne's clock and time zone
#: are not ours). The document names no largest page size; 100 rows is a few dozen kB.
LISTING_PAGE_SIZE = 100
LISTING_MAX_PAGES = 20
LISTING_MARGIN = timedelta(days=1)

#: Transaction ``status`` → ours (payment-openapi "Get Transaction Status", payment webhook).
#: The specs name no held status: a PREAUTH reads "Success" once held, and is ``authorized``
#: until our capture succeeds (``PortOneGateway.holds``). "Authorized" is read defensively.
STATUS_MAP: dict[str, str] = {
    "success": InvoiceStatus.PAID,
    **dict.fromkeys(("authorized", "authorised"), InvoiceStatus.AUTHORIZED),
    **dict.fromkeys(("initiated", "pending", "processing"), InvoiceStatus.PENDING),
    "failed": InvoiceStatus.FAILED,
    "expired": InvoiceStatus.EXPIRED,
    **dict.fromkeys(("cancelled", "canceled", "voided"), InvoiceStatus.CANCELLED),
}

#: Payment-link statuses (life-cycle: Created → Processing → Success | Expired | Cancelled).
LINK_STATUS_MAP: dict[str, str] = {
    **dict.fromkeys(("created", "processing"), InvoiceStatus.PENDING),
    "success": InvoiceStatus.PAID,
    "expired": InvoiceStatus.EXPIRED,
    **dict.fromkeys(("cancelled", "canceled", "deleted"), InvoiceStatus.CANCELLED),
}

#: ``refund_status`` → ours. Only "SUCCESS" is documented; anything else unknown stays open.
REFUND_STATUS_MAP: dict[str, str] = {
    **dict.fromkeys(("success", "succeeded"), RefundStatus.SUCCEEDED),
    **dict.fromkeys(("failed", "failure", "rejected"), RefundStatus.FAILED),
    **dict.fromkeys(("pending", "initiated", "processing"), RefundStatus.PENDING),
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


#: The documented ranges of a ``status_code`` (error-codes), by first digit: pending (1xxx),
#: success (2xxx), validation (4xxx), system (5xxx), bank/card (6xxx).
CODE_CLASSES = {"1": "pending", "2": "success", "4": "validation", "5": "system", "6": "declined"}
#: The ranges of a ``status_code`` that say the call failed.
FAILED_CLASSES = ("validation", "system", "declined")


def status_code_class(code: object) -> str:
    """The documented range of a ``status_code`` (:data:`CODE_CLASSES`), or ``""``."""
    text = str(code or "").strip()
    return CODE_CLASSES.get(text[:1], "") if len(text) == 4 and text.isdigit() else ""


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


def picked(given: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Those of ``names`` that ``given`` holds, in the order of ``names``."""
    return {name: given[name] for name in names if name in given}


def refund_tag(invoice_id: object, key: str) -> str:
    return f"[mp {invoice_id} {key}]"


def wire_time(value: datetime) -> str:
    """A time as PortOne writes it (``2020-02-27T14:30:00.000Z``, UTC, milliseconds)."""
    utc = value.astimezone(dt_timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# -- per-payment options (payment-openapi initiatePayment and paymentLink bodies) --------------


def _http_url(value: str) -> str:
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(gettext("must be an http or https address"))
    return text


def _http_urls(value: list[Any]) -> list[str]:
    if not all(isinstance(item, str) for item in value):
        raise ValueError(gettext("must be a list of http or https addresses"))
    return [_http_url(item) for item in value]


def _future_time(value: str) -> str:
    """An ISO 8601 time with its offset, in the future, written as PortOne writes times."""
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:  # well formed, but no such day or time
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(
            gettext("must be an ISO 8601 date and time with its offset (2030-02-27T14:30:00Z)")
        )
    if parsed <= timezone.now():
        raise ValueError(gettext("must be in the future"))
    return wire_time(parsed)


def _strings(item: Any, fields: Mapping[str, int], required: Iterable[str] = ()) -> dict[str, str]:
    """An object of short strings: each of ``fields`` at most its length, ``required`` set."""
    if not isinstance(item, Mapping):
        raise ValueError(gettext("must be an object"))
    unknown = sorted(str(k) for k in set(item) - set(fields))
    if unknown:
        raise ValueError(
            gettext("unknown keys %(unknown)s; allowed: %(allowed)s")
            % {"unknown": ", ".join(unknown), "allowed": ", ".join(sorted(fields))}
        )
    for name in required:
        if not item.get(name):
            raise ValueError(gettext("%(field)s is required") % {"field": name})
    for name, value in item.items():
        if not isinstance(value, str) or len(value) > fields[name]:
            raise ValueError(
                gettext("%(field)s must be a string of at most %(maximum)s characters")
                % {"field": name, "maximum": fields[name]}
            )
    return dict(item)


def _notes(value: list[Any]) -> list[dict[str, str]]:
    """payment-openapi ``NotesDetails``: ``[{key, value}]``."""
    return [_strings(item, {"key": 100, "value": 500}, required=("key",)) for item in value]


#: payment-openapi ``TokenParams`` (a saved card): what each member may hold.
TOKEN_PARAM_PATTERNS = {
    "token": r"[A-Za-z0-9_\-.:]{1,128}",
    "partial_card_number": r"[0-9*Xx ]{4,23}",
    "expiry_month": r"0[1-9]|1[0-2]",
    "expiry_year": r"[0-9]{4}",
    "type": r"[A-Za-z_ \-]{1,30}",
}


def _token_params(value: dict[str, Any]) -> dict[str, Any]:
    for name in ("save_card", "is_channel_token"):
        if name in value and not isinstance(value[name], bool):
            raise ValueError(gettext("%(field)s must be true or false") % {"field": name})
    if not value.get("token"):
        raise ValueError(gettext("%(field)s is required") % {"field": "token"})
    for name, pattern in TOKEN_PARAM_PATTERNS.items():
        if name in value and not (
            isinstance(value[name], str) and re.fullmatch(pattern, value[name])
        ):
            raise ValueError(
                gettext("%(field)s must match %(pattern)s") % {"field": name, "pattern": pattern}
            )
    return dict(value)


def _routing_params(value: dict[str, Any]) -> dict[str, Any]:
    """payment-openapi ``RoutingParams``: a dashboard route (``routing_ref``) or its own
    ranked ``data`` of channel and method keys."""
    _strings({k: v for k, v in value.items() if k != "data"}, {"type": 30, "routing_ref": 100})
    data = value.get("data")
    if data is None:
        if not value.get("routing_ref"):
            raise ValueError(gettext("needs routing_ref or data"))
        return dict(value)
    if not isinstance(data, list) or not 1 <= len(data) <= 10:
        raise ValueError(gettext("data must be a list of 1 to 10 routes"))
    for route in data:
        ranked = isinstance(route, Mapping) and route.get("rank")
        if not isinstance(ranked, int) or isinstance(ranked, bool) or ranked < 1:
            raise ValueError(gettext("each route needs a rank, a whole number from 1"))
        keys = _strings(
            {k: v for k, v in route.items() if k != "rank"},
            {"channel_key": 64, "method_key": 64},
            required=("channel_key", "method_key"),
        )
        if not all(re.fullmatch(r"[A-Z0-9_]+", key) for key in keys.values()):
            raise ValueError(gettext("channel and method keys are upper-case letters, digits, _"))
    return dict(value)


_FIELD = PaymentOption(
    str, "A field of the shop's own, shown in PortOne's dashboard.", max_length=255
)
_USER_FIELDS = {f"user_configured_field{n}": _FIELD for n in range(1, 6)}

#: What one payment may choose (``payments.begin_payment(options=...)``, or staff through the
#: API), each a member of the payment-openapi body that starts it; a customer never sets
#: these. None of them is in the request signature (payment-request-signature.md).
PAYMENT_OPTIONS: dict[str, PaymentOption] = {
    # initiatePayment token_params: pay with a card saved at PortOne. A stored credential: its
    # token must be one the shop saved for the customer bound to the order's user.
    "token_params": PaymentOption(
        dict,
        "A saved card (token_params) of the customer bound to the order's user.",
        keys=frozenset({*TOKEN_PARAM_PATTERNS, "save_card", "is_channel_token"}),
        clean=_token_params,
        sensitive=True,
        max_depth=1,
    ),
    # initiatePayment routing_enabled and routing_params (failover between channels).
    "routing_enabled": PaymentOption(bool, "Let PortOne route the payment (routing_params)."),
    "routing_params": PaymentOption(
        dict,
        "The route: a dashboard routing_ref or ranked channel and method keys.",
        keys=frozenset({"type", "routing_ref", "data"}),
        clean=_routing_params,
        max_depth=3,
    ),
    # initiatePayment and paymentLink user_configured_field1..5.
    **_USER_FIELDS,
    # paymentLink show_shipping_details, show_back_button, notify_by_email, notify_by_phone.
    "show_shipping_details": PaymentOption(bool, "Show the shipping details on the checkout."),
    "show_back_button": PaymentOption(bool, "Show a back button on the checkout."),
    "notify_by_email": PaymentOption(bool, "PortOne e-mails the link to the customer."),
    "notify_by_phone": PaymentOption(bool, "PortOne sends the link to the customer's phone."),
    # paymentLink notes (NotesDetails).
    "notes": PaymentOption(
        list, "Extra fields shown with the link: [{key, value}].", max_length=20, clean=_notes
    ),
    # paymentLink custom_txn_webhook_urls: PortOne sends this payment's webhooks there too.
    # Sensitive: it sends what PortOne says of the payment to another address.
    "custom_txn_webhook_urls": PaymentOption(
        list,
        "More addresses that receive this payment's webhooks.",
        min_length=1,
        max_length=5,
        clean=_http_urls,
        sensitive=True,
        max_depth=1,
    ),
    # paymentLink expiry_date (UTC).
    "expiry_date": PaymentOption(
        str, "When the link expires (ISO 8601 with offset).", max_length=40, clean=_future_time
    ),
    # paymentLink merchant_details.back_url and .promo_code (promo_discount stays 0: the
    # amount charged is the invoice's).
    "back_url": PaymentOption(
        str, "merchant_details.back_url: the shop's page.", max_length=2000, clean=_http_url
    ),
    "promo_code": PaymentOption(
        str, "merchant_details.promo_code: a label; no discount is sent.", max_length=50
    ),
    # paymentLink header X-Portone-SubMerchant-Key: a master merchant makes the link for one of
    # its sub-merchants. Sensitive: the payment is then made to another merchant's account.
    "sub_merchant_key": PaymentOption(
        str,
        "Make the link for this sub-merchant (X-Portone-SubMerchant-Key).",
        pattern=r"[A-Za-z0-9_\-]{1,64}",
        sensitive=True,
    ),
}
#: Sent only by initiatePayment (a payment at a channel) or only by paymentLink: the members
#: of each body in the order it carries them (the user fields follow), and the link's others
#: (merchant_details members, and a header).
CHANNEL_FIELDS = ("token_params", "routing_enabled", "routing_params")
LINK_FIELDS = (
    "show_shipping_details",
    "show_back_button",
    "notify_by_email",
    "notify_by_phone",
    "notes",
    "custom_txn_webhook_urls",
    "expiry_date",
)
CHANNEL_OPTIONS = frozenset(CHANNEL_FIELDS)
LINK_OPTIONS = frozenset({*LINK_FIELDS, "back_url", "promo_code", "sub_merchant_key"})

#: What ``PortOneGateway.update_payment_link`` may change: the members of payment-openapi
#: "Update the Payment Link" that leave the money, the order and our return address alone.
#: Refused: amount, currency, country_code and the merchant DCC rate (the amount charged;
#: start a new invoice instead), success_url, failure_url and pending_url (our return
#: address, signed at creation), billing, shipping and order details (they are the order's).
LINK_UPDATES: dict[str, PaymentOption] = {
    "description": PaymentOption(str, "The link's description.", min_length=1, max_length=300),
    "expiry_date": PAYMENT_OPTIONS["expiry_date"],
    "scheduled_date": PaymentOption(
        str, "When the link is sent (ISO 8601 with offset).", max_length=40, clean=_future_time
    ),
    "reminder_time": PaymentOption(
        int, "Remind the customer after this many units.", min_value=1, max_value=1000
    ),
    "reminder_time_unit": PaymentOption(str, "hour or day.", choices=("hour", "day")),
    "mobile_redirect_url": PaymentOption(
        str, "The mobile redirection flow's address.", max_length=2000, clean=_http_url
    ),
    "merchant_details": PaymentOption(
        dict,
        "back_url and promo_code (name, promo_discount and shipping charges stay ours).",
        keys=frozenset({"back_url", "promo_code"}),
        clean=lambda value: {
            **({"back_url": _http_url(str(value["back_url"]))} if "back_url" in value else {}),
            **_strings({k: v for k, v in value.items() if k == "promo_code"}, {"promo_code": 50}),
        },
        max_depth=1,
    ),
    "customer_details": PaymentOption(
        dict,
        "The customer the link is for: name, email_address, phone_number.",
        clean=lambda value: _strings(
            value, {"name": 100, "email_address": 254, "phone_number": 30}
        ),
        max_depth=1,
    ),
    **{
        name: PaymentOption(bool, f"The link's {name} flag.")
        for name in (
            "show_shipping_details",
            "show_back_button",
            "default_guest_checkout",
            "is_checkout_embed",
            "notify_by_email",
            "notify_by_phone",
            "is_billing_shipping_same",
            "show_items",
            "show_saved_cards",
        )
    },
    "notes": PAYMENT_OPTIONS["notes"],
    "custom_txn_webhook_urls": PAYMENT_OPTIONS["custom_txn_webhook_urls"],
    **_USER_FIELDS,
}

#: What ``PortOneGateway.update_transaction_details`` may change (payment-openapi "Update
#: Transaction Details": a partial update).
TRANSACTION_DETAILS: dict[str, PaymentOption] = {
    "description": PaymentOption(str, "The transaction's description.", max_length=300),
    **_USER_FIELDS,
}


def credential_values(data: Any) -> list[str]:
    """Every value inside ``data``, as text (credentials to keep out of errors and output)."""
    found: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool):
            found.append(str(item))
    return found


def masked(creds: Any) -> dict[str, str]:
    """The names of a credentials object, each with its value masked whole."""
    return {str(name): MASK for name in creds} if isinstance(creds, Mapping) else {}


#: Remote tokens (``auth_token: "remote"``) of this process: (address, key, secret digest) →
#: (token, monotonic time to renew it at).
_TOKENS: dict[tuple[str, str, str], tuple[str, float]] = {}
_TOKENS_LOCK = threading.Lock()


def clear_token_cache() -> None:
    """Forget every remote token (tests; a rotated secret is a new cache key anyway)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


@dataclass(frozen=True)
class PaymentLink:
    """A payment link created at PortOne: its reference and the page the customer opens."""

    ref: str
    url: str
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class PaymentsPage:
    """One page of "Fetch Merchant Transactions": its rows and whether it is the last."""

    rows: list[Mapping[str, Any]]
    page: int
    last: bool
    unreadable_rows: int = 0


@dataclass(frozen=True)
class Webhook:
    """A webhook endpoint registered at PortOne (payment-openapi ``WebhookContent``)."""

    name: str
    uuid: str
    url: str
    type: str
    enabled: bool
    created_at: str
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class PayChannel:
    """A payment channel's credentials at PortOne, by name only: values are never kept."""

    key: str
    country: str
    pay_type: str
    enabled: bool | None
    credential_names: tuple[str, ...]
    raw: Mapping[str, Any]


class PortOneGateway(BaseGateway):
    """PortOne Global: channel payments, PortOne's checkout page (payment links), PREAUTH
    capture, full and partial refunds. Needs the ``portone`` extra (PyJWT).

    With ``pmt_channel``/``pmt_method`` set, payments start at that channel
    (``/api/initiatePayment``); without, at PortOne's own checkout page through a payment link
    (``/api/paymentLink``)."""

    display_name = "PortOne"
    emulator = ("django_multipay.sandbox.portone", "api/initiatePayment")
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
    payment_options = PAYMENT_OPTIONS
    # docs/gateways/portone.md, "Options" (``webhook_url`` is read by the emulator only).
    # One name for one option across backends; the old one still works, with a warning.
    renamed_options = {"trust_signed_webhooks": "trust_signed_notifications"}
    declared_options = (
        GatewayOption("client_key", required=True),
        GatewayOption("secret_key", required=True, secret=True),
        *(GatewayOption(name) for name in ("environment", "pmt_channel", "pmt_method")),
        *(GatewayOption(name) for name in ("country_code", "merchant_name", "webhook_url")),
        GatewayOption("transaction_type", default="PURCHASE"),
        GatewayOption("token_ttl", int, default=100),
        GatewayOption("auth_token", default="local"),
        GatewayOption("saved_card_tokens", None),
        GatewayOption("listing_page_size", None, default=LISTING_PAGE_SIZE),
        GatewayOption("listing_max_pages", None, default=LISTING_MAX_PAGES),
        GatewayOption("trust_signed_notifications", bool, default=False),
    )
    # One host for both environments; ``environment`` in each body chooses (payment-openapi).
    live_base_url = sandbox_base_url = "https://api.portone.cloud/"
    # payment-openapi "Capture Transaction" gives no time limit for a PREAUTH hold: seven
    # days, the usual lifetime of a card authorization (option ``hold_lifetime``).
    default_hold_lifetime = timedelta(days=7)

    # -- configuration -----------------------------------------------------------------------

    def clean_options(self) -> list[OptionProblem]:
        """The other half of ``pmt_channel``/``pmt_method`` when only one is set (missing),
        and the values PortOne takes: refused by system checks and before every payment."""
        problems, alias = super().clean_options(), {"alias": repr(self.alias)}
        channel, method = self.option("pmt_channel", ""), self.option("pmt_method", "")
        if bool(channel) != bool(method):
            half = gettext(
                # Translators: pmt_channel and pmt_method are option names; keep them.
                "PortOne alias %(alias)s: set both pmt_channel and pmt_method, or neither"
                " (PortOne's checkout page)."
            )
            name = "pmt_method" if channel else "pmt_channel"
            problems.append(OptionProblem("missing", name, half % alias))
        if self.transaction_type not in TRANSACTION_TYPES:
            wrong = gettext(
                # Translators: transaction_type is an option; PURCHASE and PREAUTH its values.
                "PortOne alias %(alias)s: transaction_type must be PURCHASE or PREAUTH."
            )
            problems.append(OptionProblem("rule", "transaction_type", wrong % alias))
        count = self.count_option
        return problems + self.reader_problems(
            auth_token=lambda: self.auth_token_mode,
            listing_page_size=lambda: count("listing_page_size", LISTING_PAGE_SIZE, 1000),
            listing_max_pages=lambda: count("listing_max_pages", LISTING_MAX_PAGES, 1000),
        )

    @property
    def client_key(self) -> str:
        return str(self.options["client_key"])

    @property
    def secret_key(self) -> str:
        return str(self.options["secret_key"])

    @property
    def quoted_key(self) -> str:
        """The client key as it is written in a path (``api/merchant/{key}/...``)."""
        return quote(self.client_key, safe="")

    @property
    def environment(self) -> str:
        """``environment`` in every body: the option, else from ``sandbox``; unknown values
        fall back on ``sandbox`` (never live money by mistake)."""
        value = str(self.option("environment", "sandbox" if self.sandbox else "live")).lower()
        return value if value in ("sandbox", "live") else "sandbox"

    @property
    def direct(self) -> bool:
        """This alias starts payments at a configured channel (else at PortOne's checkout
        page). What an invoice was started with is :meth:`is_link`, not this."""
        return bool(self.option("pmt_channel", ""))

    @property
    def transaction_type(self) -> str:
        return str(self.option("transaction_type", "PURCHASE")).upper()

    @property
    def auth_token_mode(self) -> str:
        """``local`` (default: each JWT made here) or ``remote`` ("Create JWT Token")."""
        value = str(self.option("auth_token", "local")).strip().lower()
        if value not in AUTH_TOKEN_MODES:
            raise GatewayConfigurationError(
                # Translators: auth_token is an option; local and remote its values.
                gettext("PortOne alias %(alias)s: auth_token must be local or remote.")
                % {"alias": repr(self.alias)}
            )
        return value

    def count_option(self, name: str, default: int, maximum: int) -> int:
        """A whole-number option from 1 to ``maximum`` (``GatewayConfigurationError`` else)."""
        value = self.option(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
            raise GatewayConfigurationError(
                gettext(
                    "PortOne alias %(alias)s: %(option)s must be a whole number from 1 to"
                    " %(maximum)s."
                )
                % {"alias": repr(self.alias), "option": name, "maximum": maximum}
            )
        return int(value)

    def chosen_options(self, invoice: Invoice) -> dict[str, Any]:
        """The payment's own options (``invoice.gateway_options``), without our record of
        what started it."""
        options = invoice.gateway_options if isinstance(invoice.gateway_options, Mapping) else {}
        return {k: v for k, v in options.items() if k != STARTED_WITH}

    def transaction_type_for(self, invoice: Invoice) -> str:
        """``PREAUTH`` or ``PURCHASE`` for this payment (payment-openapi initiatePayment
        ``transaction_type``): the payment's own option (``invoice.gateway_options``), else
        the alias's. A payment link is a purchase: the link API takes no transaction type."""
        if self.is_link(invoice):
            return "PURCHASE"
        chosen = self.chosen_options(invoice).get("transaction_type")
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
        return signing.sign(self.secret_key, params, fields)

    def verify(self, params: Mapping[str, object], fields: tuple[str, ...], signature: str) -> bool:
        return signing.verify(self.secret_key, params, fields, signature)

    # -- authentication ----------------------------------------------------------------------

    def headers(
        self, *, token: bool = True, client_key: bool = True, sub_merchant_key: str | None = None
    ) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if client_key:
            headers[CLIENT_KEY_HEADER] = self.client_key
        if sub_merchant_key:
            headers[SUB_MERCHANT_HEADER] = sub_merchant_key
        if token:
            headers["Authorization"] = "Bearer " + self.bearer_token()
        return headers

    def bearer_token(self) -> str:
        """The JWT for the next call: made here (``auth_token: "local"``, a new one each
        call), or PortOne's own from "Create JWT Token", kept for its lifetime (``remote``)."""
        if self.auth_token_mode == "local":
            return make_token(
                self.client_key, self.secret_key, ttl=int(self.option("token_ttl", 100))
            )
        key = self._token_key()
        now = time.monotonic()
        with _TOKENS_LOCK:
            cached = _TOKENS.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        token, lifetime = self.request_auth_token()
        keep = lifetime - min(TOKEN_RENEWAL_MARGIN, lifetime / 10)
        with _TOKENS_LOCK:
            _TOKENS[key] = (token, now + keep)
        return token

    def _token_key(self) -> tuple[str, str, str]:
        digest = hashlib.sha256(self.secret_key.encode("utf-8")).hexdigest()
        return (self.base_url, self.client_key, digest)

    def forget_token(self) -> None:
        """Drop this alias's remote token (PortOne refused it), so the next call asks anew."""
        with _TOKENS_LOCK:
            _TOKENS.pop(self._token_key(), None)

    def request_auth_token(self) -> tuple[str, int]:
        """A token and its lifetime in seconds from PortOne. The secret travels in the body
        (as the document asks), never in a log line or an error."""
        # payment-openapi POST /api/merchant/auth-token ("Create JWT Token"): no JWT, no key
        # header; portone_key and portone_secret in the body.
        data = self.call(
            "POST",
            "api/merchant/auth-token",
            {"portone_key": self.client_key, "portone_secret": self.secret_key},
            token=False,
            client_key=False,
        )
        content = data.get("content")
        content = content if isinstance(content, Mapping) else {}
        token, lifetime = content.get("token"), content.get("expires_in")
        if not isinstance(token, str) or token.count(".") != 2:
            raise self.unreadable("auth token", data, KeyError("content.token"))
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            raise self.unreadable("auth token", data, ValueError("no positive expires_in"))
        return token, lifetime

    # -- the wire ----------------------------------------------------------------------------
    # A call's options: ``token`` (the JWT), ``client_key`` and ``sub_merchant_key`` (its
    # headers); ``refund`` (a refusal is a RefundError); ``secrets`` (credentials we send, kept
    # out of any error too); ``empty`` (an answer with no body is ``{}``).

    def request_headers(self, call: ApiCall) -> dict[str, str]:
        return self.headers(**picked(call.options, ("token", "client_key", "sub_merchant_key")))

    def request_kwargs(self, body: Any, call: ApiCall) -> dict[str, Any]:
        # Our own JSON: amounts as the exact numbers PortOne signs (_Number).
        return {} if body is None else {"data": dumps(body).encode("utf-8")}

    def parse_answer(self, response: requests.Response, call: ApiCall) -> dict[str, Any]:
        """The answer; one that says it failed (error-codes) is raised as :meth:`error_for`."""
        if call.options.get("empty") and not response.content.strip():
            return {}
        try:
            data = loads(response.content)
        except ValueError:
            raise GatewayAPIError(
                f"{call.method} {call.path} answered a body that is not JSON",
                gateway=self.alias,
                http_status=response.status_code,
            ) from None
        if not isinstance(data, dict):
            raise GatewayAPIError(
                f"{call.method} {call.path} answered {type(data).__name__}", gateway=self.alias
            )
        failed = status_code_class(data.get("status_code")) in FAILED_CLASSES
        if data.get("is_success") is False or failed:
            raise self.error_for(
                GatewayAPIError(http_status=response.status_code, response=data), call
            )
        return data

    def error_for(self, error: GatewayAPIError, call: ApiCall) -> Exception:
        """The exception for a PortOne error answer ``{message, status_code, status_reason}``
        (error-codes)."""
        answer, http_status = error.response, error.http_status
        data = answer if isinstance(answer, dict) else {}
        code = str(data.get("status_code") or "")
        if code == "4054" and str(self.option("auth_token", "")).strip().lower() == "remote":
            self.forget_token()  # refused as invalid or expired: ask for a new one next time
        reason = str(data.get("status_reason") or data.get("status_message") or "")
        text = str(data.get("message") or answer or "no message")
        hide = Redactor(call.options.get("secrets", ()))
        message = hide.text(f"PortOne {code or http_status} {reason}: {text}".replace("  ", " "))
        redacted = hide.data(self.redact(answer))
        kind = status_code_class(code)
        if kind == "system" or (http_status or 0) >= 500:
            # The gateway may have acted before failing: the outcome is unknown (no 4xx).
            http_status = http_status if (http_status or 0) >= 500 else None
        elif call.options.get("refund") and (code in REFUND_REFUSALS or kind == "validation"):
            return RefundError(message, gateway=self.alias, response=redacted, code=code or None)
        elif kind == "declined":
            return PaymentDeclined(message, gateway=self.alias, response=redacted, code=code)
        elif code in AUTH_ERRORS:
            message += " (check client_key and secret_key)"
        return GatewayAPIError(
            message,
            gateway=self.alias,
            response=redacted,
            code=code or None,
            http_status=http_status,
        )

    def content_of(self, what: str, data: Mapping[str, Any], shown: Any = None) -> dict[str, Any]:
        """An answer's ``content`` object, or unreadable (showing ``shown``, else the answer)."""
        content = data.get("content")
        if not isinstance(content, dict):
            raise self.unreadable(what, data if shown is None else shown, KeyError("content"))
        return content

    def content_list(self, what: str, data: Mapping[str, Any], shown: Any) -> list[Any]:
        """An answer's ``content`` list (none: empty), or unreadable (showing ``shown``)."""
        content = data.get("content")
        if content is not None and not isinstance(content, list):
            raise self.unreadable(what, shown, TypeError("content is not a list"))
        return content or []

    # -- per-payment options -----------------------------------------------------------------

    def check_payment_options(
        self, options: Mapping[str, Any] | None, order: Order | None = None
    ) -> dict[str, Any]:
        """The declared options checked (see :class:`BaseGateway`), plus our record of which
        PortOne call will start the payment (``started_with``: ``initiatePayment`` at a
        channel, ``paymentLink`` on PortOne's checkout page), kept on the invoice: what
        :meth:`is_link` reads later, whatever the alias's configuration has become."""
        cleaned = super().check_payment_options(options, order)
        cleaned[STARTED_WITH] = STARTED_WITH_CHANNEL if self.direct else STARTED_WITH_LINK
        return cleaned

    def clean_payment_options(self, options: dict[str, Any], order: Order | None) -> dict[str, str]:
        """Each option only with the call that takes it, ``routing_params`` with
        ``routing_enabled``, and a saved card only of the customer bound to the order's user."""
        errors: dict[str, str] = {}
        for name in options:
            if not self.direct and name in CHANNEL_OPTIONS:
                errors[f"options.{name}"] = gettext(
                    # Translators: pmt_channel is an option name; keep it.
                    "is sent only with payments at a channel (pmt_channel); this alias uses"
                    " PortOne's checkout page"
                )
            elif self.direct and name in LINK_OPTIONS:
                errors[f"options.{name}"] = gettext(
                    "is sent only with payment links (PortOne's checkout page); this alias pays"
                    " at a channel"
                )
        if "routing_params" in options and options.get("routing_enabled") is not True:
            errors.setdefault(
                "options.routing_params",
                # Translators: routing_enabled is an option name; keep it.
                gettext("needs routing_enabled set to true"),
            )
        if "token_params" in options and "options.token_params" not in errors:
            problem = self.saved_card_problem(options["token_params"], order)
            if problem:
                errors["options.token_params"] = problem
        return errors

    def saved_card_problem(self, token_params: Mapping[str, Any], order: Order | None) -> str:
        """Why this saved card may not pay for ``order`` (``""``: it may). PortOne's
        initiatePayment names no customer, so it cannot tell whose token it is: the shop's
        ``saved_card_tokens`` says which tokens it saved for the customer id bound to the
        order's user (``customer_id``), and only those are sent."""
        bound = self.customer_id(order) if order is not None else None
        if not bound:
            return gettext("a saved card needs the customer id bound to the order's signed-in user")
        owner = self.option("saved_card_tokens")
        if not owner:
            return gettext(
                # Translators: saved_card_tokens is an option name; keep it.
                "this alias sets no saved_card_tokens, so whose card it is cannot be checked"
            )
        tokens = load_callable(owner, "saved_card_tokens")(bound)
        if str(token_params.get("token") or "") not in {str(t) for t in tokens or ()}:
            return gettext("a saved card is paid only by the customer it was saved for")
        return ""

    def sub_merchant_key_for(self, invoice: Invoice) -> str | None:
        """The sub-merchant a payment link was made for (option ``sub_merchant_key``)."""
        value = self.chosen_options(invoice).get("sub_merchant_key")
        return str(value) if value else None

    # -- checkout ----------------------------------------------------------------------------

    def merchant_order_id(self, invoice: Invoice) -> str:
        """Our reference at PortOne: the invoice id (unique per attempt, as PortOne wants)."""
        return str(invoice.pk)

    def amount(self, value: Decimal, currency: str) -> _Number:
        return _Number(money.format_decimal(value, currency))

    def payment_request_signature(
        self,
        *,
        amount: Decimal,
        currency: str,
        merchant_order_id: str,
        success_url: str,
        failure_url: str,
    ) -> str:
        """Payment request signature (payment-request-signature.md): the six fields, amount
        without trailing zeros."""
        return self.sign(
            {
                "amount": money.format_trimmed(amount, currency),
                "client_key": self.client_key,
                "currency": currency,
                "failure_url": failure_url,
                "merchant_order_id": merchant_order_id,
                "success_url": success_url,
            },
            signing.PAYMENT_REQUEST_FIELDS,
        )

    def request_signature(self, invoice: Invoice, urls: PaymentUrls) -> str:
        return self.payment_request_signature(
            amount=invoice.amount,
            currency=invoice.currency,
            merchant_order_id=self.merchant_order_id(invoice),
            success_url=urls.return_url,
            failure_url=urls.return_url,
        )

    def customer_details(self, invoice: Invoice) -> dict[str, Any]:
        """``billing_details``, ``shipping_details`` and ``order_details`` from the order."""
        order = invoice.order
        body: dict[str, Any] = {}
        for kind in ("billing", "shipping"):
            address = getattr(order, f"{kind}_address") or {}
            first, _, last = str(address.get("name") or order.customer_name or "").partition(" ")
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

    def merchant_details(self, invoice: Invoice, given: Mapping[str, Any]) -> dict[str, Any]:
        """payment-openapi ``MerchantDetails``: it requires name, promo_discount and
        shipping_charges, which are ours; what ``given`` names follows."""
        return {
            "name": str(self.option("merchant_name", "") or self.alias),
            "promo_discount": _Number("0"),
            "shipping_charges": self.amount(invoice.order.shipping_amount, invoice.currency),
            **given,
        }

    def country_code(self, invoice: Invoice) -> str:
        order = invoice.order
        for address in (order.billing_address, order.shipping_address):
            if address and address.get("country"):
                return str(address["country"]).upper()
        return str(self.option("country_code", "")).upper()

    def start_payment(self, invoice: Invoice, urls: PaymentUrls) -> PaymentStart:
        self.check_options()
        if self.is_link(invoice):
            link = self.create_payment_link(invoice, urls)
            return PaymentStart(
                action=PaymentAction(url=link.url), gateway_id=link.ref, raw=link.raw
            )
        if not self.direct:
            raise GatewayConfigurationError(
                gettext(
                    # Translators: pmt_channel and pmt_method are option names; keep them.
                    "PortOne alias %(alias)s has no pmt_channel and pmt_method any more; this"
                    " payment was to start at a channel."
                )
                % {"alias": repr(self.alias)}
            )
        order = invoice.order
        chosen = self.chosen_options(invoice)
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
            **dict.fromkeys(RETURN_URL_FIELDS, urls.return_url),
            "transaction_type": self.transaction_type_for(invoice),
            **self.customer_details(invoice),
        }
        if "token_params" in chosen:
            # Checked when the invoice was made; checked again now, as the shop's list of
            # saved cards may have changed since.
            problem = self.saved_card_problem(chosen["token_params"], order)
            if problem:
                raise InvalidRequest(
                    gettext("The saved card cannot be used: %(problem)s") % {"problem": problem},
                    fields={"options.token_params": problem},
                    gateway=self.alias,
                )
        body.update(picked(chosen, (*CHANNEL_FIELDS, *_USER_FIELDS)))
        data = self.call("POST", "api/initiatePayment", body, token=False)
        with self.reading("payment", data):
            redirect = str(data["redirect_url"])
            order_ref = str(data["order_ref"])
            minutes = str(data.get("expiry_in_minutes") or "").strip()
            lifetime = int(minutes) if minutes.isdigit() else 0
            expires = timezone.now() + timedelta(minutes=lifetime) if lifetime > 0 else None
        if not redirect.startswith(("http://", "https://")):
            raise self.unreadable("payment", data, ValueError("no redirect_url"))
        return PaymentStart(
            action=PaymentAction(url=redirect),
            gateway_id=order_ref,
            expires_at=expires,
            raw=plain(data),
        )

    # -- payment links -----------------------------------------------------------------------

    def is_link(self, invoice: Invoice) -> bool:
        """Started through a payment link: what we asked for when the invoice was made
        (``started_with`` in ``invoice.gateway_options``). An invoice made without that
        record (before it was kept, or built by hand) follows the alias's configuration.
        Never read from the page address, which is the gateway's and may hold anything."""
        options = invoice.gateway_options if isinstance(invoice.gateway_options, Mapping) else {}
        started = options.get(STARTED_WITH)
        if started in (STARTED_WITH_LINK, STARTED_WITH_CHANNEL):
            return bool(started == STARTED_WITH_LINK)
        return not self.direct

    def create_payment_link(
        self, invoice: Invoice, urls: PaymentUrls, *, expires_at: Any = None
    ) -> PaymentLink:
        """Create a payment link (``POST /api/paymentLink``) for the invoice: PortOne's own
        checkout page, where the customer chooses how to pay. Send or redirect to ``url``.
        ``expires_at`` (an aware datetime) overrides the payment's ``expiry_date`` option."""
        order = invoice.order
        chosen = self.chosen_options(invoice)
        body: dict[str, Any] = {
            "portone_key": self.client_key,
            "merchant_details": self.merchant_details(
                invoice, picked(chosen, ("back_url", "promo_code"))
            ),
            "merchant_order_id": self.merchant_order_id(invoice),
            "signature_hash": self.request_signature(invoice, urls),
            "amount": self.amount(invoice.amount, invoice.currency),
            "currency": invoice.currency,
            "country_code": self.country_code(invoice),
            "description": (order.description or order.reference)[:300],
            **dict.fromkeys(RETURN_URL_FIELDS, urls.return_url),
            "source": "api",
            "environment": self.environment,
            **self.customer_details(invoice),
            **picked(chosen, (*LINK_FIELDS, *_USER_FIELDS)),
        }
        if expires_at is not None:
            body["expiry_date"] = wire_time(expires_at)
        # payment-openapi POST /api/paymentLink ("Create Payment Link").
        data = self.call(
            "POST", "api/paymentLink", body, sub_merchant_key=self.sub_merchant_key_for(invoice)
        )
        with self.reading("payment link", data):
            return PaymentLink(
                ref=str(data["payment_link_ref"]), url=str(data["payment_link"]), raw=plain(data)
            )

    def _checked_fields(
        self,
        given: Mapping[str, Any],
        declared: Mapping[str, PaymentOption],
        *,
        unknown: str,
        empty_key: str,
        problems: str,
    ) -> dict[str, Any]:
        """``given`` checked against ``declared`` as per-payment options are (a sensitive
        one needs the alias's opt-in), or ``InvalidRequest`` naming each problem."""
        fields = ", ".join(sorted(declared))
        body, errors = self.checked_options(given, declared, unknown=unknown % {"fields": fields})
        if not errors and not body:
            errors[empty_key] = gettext("name at least one change")
        if errors:
            raise InvalidRequest(
                problems % {"problems": "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))},
                fields=errors,
                gateway=self.alias,
            )
        return body

    def update_payment_link(self, invoice: Invoice, **changes: Any) -> dict[str, Any]:
        """Change what payment-openapi "Update the Payment Link" lets change and leaves the
        money, the order and our return address alone (:data:`LINK_UPDATES`), for example
        ``update_payment_link(invoice, expiry_date=when, notify_by_email=True)``. Checked as
        per-payment options are (``custom_txn_webhook_urls`` needs the alias's opt-in);
        returns the link as PortOne then holds it. An answer naming another amount or
        currency than the invoice's is an error: that link could no longer be booked."""
        if not self.is_link(invoice):
            raise UnsupportedOperation(
                gettext(
                    "Only a payment link can be updated; this payment was started at a channel."
                ),
                gateway=self.alias,
            )
        given = {k: wire_time(v) if isinstance(v, datetime) else v for k, v in changes.items()}
        body = self._checked_fields(
            given,
            LINK_UPDATES,
            unknown=gettext("cannot be changed on a payment link; it takes: %(fields)s"),
            empty_key="changes",
            problems=gettext("Invalid payment link changes: %(problems)s"),
        )
        if "merchant_details" in body:
            body["merchant_details"] = self.merchant_details(invoice, body["merchant_details"])
        # payment-openapi PUT /api/update-paylink/{payment_link_ref} ("Update the Payment Link").
        data = self.call(
            "PUT",
            f"api/update-paylink/{quote(invoice.gateway_id, safe='')}",
            body,
            sub_merchant_key=self.sub_merchant_key_for(invoice),
        )
        content = self.content_of("payment link update", data)
        with self.reading("payment link update", data):
            currency = money.normalize_currency(str(content.get("currency") or invoice.currency))
            amount = money.to_decimal(content.get("amount", invoice.amount))
        if not money.same_money(amount, currency, invoice.amount, invoice.currency):
            raise self.answer_error(
                f"PortOne's payment link {invoice.gateway_id} now asks {amount} {currency};"
                f" the invoice is for {invoice.amount} {invoice.currency}",
                plain(content),
            )
        return dict(plain(content))

    def cancel_payment_link(self, link_ref: str) -> None:
        """Cancel a payment link (``PUT /api/paymentLink/{ref}/status/cancelled``)."""
        # payment-openapi PUT /api/paymentLink/{payment_link_ref}/status/{link_status}.
        self.call("PUT", f"api/paymentLink/{quote(link_ref, safe='')}/status/cancelled")

    def fetch_payment_link(self, link_ref: str) -> dict[str, Any]:
        """A link's status and its transactions (``GET .../fetch-status``), as PortOne says."""
        # payment-openapi GET /api/paymentLink/{portOneLinkRef}/fetch-status.
        data = self.call("GET", f"api/paymentLink/{quote(link_ref, safe='')}/fetch-status")
        return self.content_of("payment link", data)

    def fetch_payment_link_by_reference(
        self, merchant_link_ref: str, *, sub_merchant_key: str | None = None
    ) -> dict[str, Any]:
        """A link's status and its transactions by *our* reference (the invoice id), of our
        own account or of a sub-merchant's. The deprecated ``GET
        /api/paymentLink/{merchantLinkRef}/status`` is not used: this one replaces it."""
        key = sub_merchant_key or self.client_key
        # payment-openapi GET /api/merchant/{smchKey}/paymentLink/{merchantLinkRef}/status.
        data = self.call(
            "GET",
            f"api/merchant/{quote(key, safe='')}/paymentLink/"
            f"{quote(merchant_link_ref, safe='')}/status",
        )
        return self.content_of("payment link", data)

    def link_content(self, invoice: Invoice) -> dict[str, Any]:
        """The invoice's link as PortOne holds it, checked to be this invoice's: by its
        PortOne reference, or, for a sub-merchant's link, by our reference under that
        sub-merchant's key (the only status read the document gives a sub-merchant)."""
        sub_merchant = self.sub_merchant_key_for(invoice)
        ours = self.merchant_order_id(invoice)
        if sub_merchant:
            content = self.fetch_payment_link_by_reference(ours, sub_merchant_key=sub_merchant)
            named = str(content.get("paymentLinkRef") or "")
            if named != invoice.gateway_id:
                raise self.unreadable(
                    "payment link", content, ValueError(f"it names link {named!r}")
                )
            return content
        content = self.fetch_payment_link(invoice.gateway_id)
        named = str(content.get("merchantOrderRef") or "")
        if named and named != ours:
            raise self.unreadable(
                "payment link", content, ValueError(f"it names merchant order {named!r}")
            )
        return content

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
        if kind in FAILED_CLASSES:
            return InvoiceStatus.FAILED
        raise ValueError(f"unknown status {status!r}")

    def transaction_result(
        self,
        invoice: Invoice,
        content: Mapping[str, Any],
        *,
        order_ref: str,
        amount: Decimal,
        currency: str,
        raw: Mapping[str, Any],
        details: Mapping[str, Any] | None = None,
    ) -> StatusResult:
        """A channel payment's status from what PortOne says of its transaction (the status
        read with its details, or a row of the listing): a held PREAUTH that reads Success is
        ``authorized``; a failure keeps PortOne's ``status_reason`` (the status read has none:
        the details' is taken), else its status word. ``ValueError`` for a status it cannot
        map."""
        status = self.map_status(content["status"], content.get("status_code"))
        if status == InvoiceStatus.PAID and self.holds(invoice):
            status = InvoiceStatus.AUTHORIZED
        failed = status in (InvoiceStatus.FAILED, InvoiceStatus.EXPIRED, InvoiceStatus.CANCELLED)
        reason = content.get("status_reason") or (details or {}).get("status_reason")
        return StatusResult(
            status=status,
            gateway_id=order_ref,
            amount=amount,
            currency=currency,
            failure_reason=str(reason or content["status"]) if failed else "",
            raw=raw,
        )

    def fetch_status(self, invoice: Invoice) -> StatusResult:
        if self.is_link(invoice):
            return self.link_status(invoice)
        # payment-openapi GET /api/transaction/{merchantOrderRef}/status.
        data = self.call("GET", f"api/transaction/{self.merchant_order_id(invoice)}/status")
        with self.reading("transaction status", data):
            content = data["content"]
            self.map_status(content["status"], content.get("status_code"))
        order_ref = str(content.get("order_ref") or invoice.gateway_id)
        # TransactionStatusContent has no amount, currency or reason: they come from the
        # transaction's details.
        details = self.transaction_details(order_ref)
        amount, currency = self.money_of(details)
        return self.transaction_result(
            invoice,
            content,
            order_ref=order_ref,
            amount=amount,
            currency=currency,
            raw=plain(data),
            details=details,
        )

    # -- many statuses at once ---------------------------------------------------------------

    def list_payments(
        self, *, start: datetime, end: datetime, page: int, size: int
    ) -> PaymentsPage:
        """One page of the account's payments created between ``start`` and ``end`` in the
        alias's environment. An answer without its list of rows is unreadable (raised); a row
        that is not an object is left out and counted."""
        # payment-openapi POST /api/merchant/{key}/fetch-all-payments ("Fetch Merchant
        # Transactions").
        data = self.call(
            "POST",
            f"api/merchant/{self.quoted_key}/fetch-all-payments",
            {
                "page": page,
                "size": size,
                "from": wire_time(start),
                "to": wire_time(end),
                "environment": self.environment,
            },
        )
        body = data.get("body")
        content = body.get("content") if isinstance(body, Mapping) else None
        if not isinstance(content, list):
            raise self.unreadable("payment listing", data, KeyError("body.content"))
        rows = [row for row in content if isinstance(row, Mapping)]
        pages = body.get("total_pages")
        if isinstance(pages, int) and not isinstance(pages, bool):
            last = page >= pages
        else:
            last = len(content) < size  # no readable page count: a short page is the last
        return PaymentsPage(
            rows=rows, page=page, last=last or not content, unreadable_rows=len(content) - len(rows)
        )

    def fetch_statuses(self, invoices: Sequence[Invoice]) -> Mapping[Any, StatusResult] | None:
        """The statuses of many channel payments of this alias from "Fetch Merchant
        Transactions", keyed by invoice ``pk``: pages of ``listing_page_size`` rows (100)
        from a day before the earliest invoice was made until now, at most
        ``listing_max_pages`` (20) pages, stopping once every invoice is found. A row is
        matched by ``merchant_order_ref`` to :meth:`merchant_order_id` and read as
        :meth:`fetch_status` reads a transaction, with its own amount and currency.

        Left out (so reconciliation reads them alone, which cannot be wrong in the same way):
        payment links (a link has transactions of its own references), invoices the listing
        does not name, invoices named by more than one row, and invoices whose row cannot be
        read or names another PortOne transaction than the invoice's. A listing whose answer
        is unreadable raises, and every invoice is then read alone."""
        wanted: dict[str, Invoice] = {}
        for invoice in invoices:
            if invoice.gateway == self.alias and not self.is_link(invoice):
                wanted[self.merchant_order_id(invoice)] = invoice
        if not wanted:
            return {}
        size = self.count_option("listing_page_size", LISTING_PAGE_SIZE, 1000)
        cap = self.count_option("listing_max_pages", LISTING_MAX_PAGES, 1000)
        now = timezone.now()
        start = min((i.created_at or now) for i in wanted.values()) - LISTING_MARGIN
        found: dict[str, list[Mapping[str, Any]]] = {}
        for page in range(1, cap + 1):
            listing = self.list_payments(start=start, end=now, page=page, size=size)
            if listing.unreadable_rows:
                logger.warning(
                    "PortOne listing page %s of %s: %s rows are not objects; left out",
                    page,
                    self.alias,
                    listing.unreadable_rows,
                )
            for row in listing.rows:
                ref = row.get("merchant_order_ref")
                if isinstance(ref, str) and ref in wanted:
                    found.setdefault(ref, []).append(row)
            if len(found) == len(wanted) or listing.last:
                break
        else:
            logger.info(
                "PortOne listing of %s stopped at its page cap (%s pages of %s): %s of %s"
                " invoices not found, read alone",
                self.alias,
                cap,
                size,
                len(wanted) - len(found),
                len(wanted),
            )
        results: dict[Any, StatusResult] = {}
        for ref, rows in found.items():
            invoice = wanted[ref]
            if len(rows) > 1:
                logger.warning(
                    "Invoice %s: PortOne's listing names it %s times; read alone",
                    invoice.pk,
                    len(rows),
                )
                continue
            try:
                results[invoice.pk] = self.listed_status(invoice, rows[0])
            except GatewayAPIError as exc:
                logger.warning("Invoice %s: %s; read alone", invoice.pk, exc)
        return results

    def listed_status(self, invoice: Invoice, row: Mapping[str, Any]) -> StatusResult:
        """One row of the listing (``MerchantTransactionsContent``) as the invoice's status:
        all of status, amount, currency and ``order_ref`` readable, or unreadable."""
        with self.reading("payment listing row", row):
            currency = money.normalize_currency(str(row["currency"]))
            amount = money.to_decimal(row["amount"])
            order_ref = str(row["order_ref"] or "")
            if not order_ref:
                raise ValueError("no order_ref")
            if invoice.gateway_id and order_ref != invoice.gateway_id:
                raise ValueError(f"it names transaction {order_ref!r}")
            return self.transaction_result(
                invoice, row, order_ref=order_ref, amount=amount, currency=currency, raw=plain(row)
            )

    def transaction_details(self, order_ref: str) -> dict[str, Any]:
        """What PortOne holds of one transaction (``TransactionDetailsContent``)."""
        # payment-openapi POST /api/{key}/transaction-details ("Get Transaction Details").
        data = self.call(
            "POST", f"api/{self.quoted_key}/transaction-details", {"order_ref": order_ref}
        )
        return self.content_of("transaction details", data)

    def transaction_money(self, order_ref: str) -> tuple[Decimal, str]:
        """The amount and currency PortOne holds for a transaction, for the core to compare
        with the invoice: payment-openapi ``POST /api/{key}/transaction-details``
        (``TransactionDetailsContent.amount``, a number, and ``.currency``)."""
        return self.money_of(self.transaction_details(order_ref))

    def money_of(self, content: Mapping[str, Any]) -> tuple[Decimal, str]:
        """``amount`` and ``currency`` of ``TransactionDetailsContent``."""
        with self.reading("transaction details", content):
            currency = money.normalize_currency(str(content["currency"]))
            # Read as it is (not validated against the currency): a wrong amount is a
            # mismatch the core reports, not an unreadable answer.
            return money.to_decimal(content["amount"]), currency

    def paid_link_transaction(self, content: Mapping[str, Any]) -> str:
        """The ``order_ref`` of a link's paid transaction (the last listed as Success), or
        ``""`` when none is paid. The link lists transactions by their merchant reference;
        their status read names the ``order_ref``."""
        paid = [
            str(t["merchantOrderRef"])
            for t in content.get("transactionsList") or []
            if str(t.get("status", "")).lower() == "success"
        ]
        if not paid:
            return ""
        # payment-openapi GET /api/transaction/{merchantOrderRef}/status.
        found = self.call("GET", f"api/transaction/{quote(paid[-1], safe='')}/status")
        order_ref = str((found.get("content") or {}).get("order_ref") or "")
        if not order_ref:
            raise self.unreadable("transaction status", found, KeyError("order_ref"))
        return order_ref

    def link_status(self, invoice: Invoice) -> StatusResult:
        content = self.link_content(invoice)
        with self.reading("payment link", content):
            status = self.map_status(content["status"], link=True)
            order_ref = self.paid_link_transaction(content)
        if order_ref:
            status = InvoiceStatus.PAID
        # fetch-status lists no amounts: the paid transaction's are read from its details.
        amount, currency = self.transaction_money(order_ref) if order_ref else (None, None)
        return StatusResult(
            status=status,
            gateway_id=invoice.gateway_id,
            amount=amount,
            currency=currency,
            raw=plain(content),
        )

    def transaction_ref(self, invoice: Invoice) -> tuple[str, str]:
        """``(order_ref, channel)`` of the invoice's paid transaction: what capture and refunds
        name. For a payment link, found through the link's transactions and their status; for
        a routed payment (``routing_enabled``), the channel PortOne chose is read back."""
        if not self.is_link(invoice):
            if not self.chosen_options(invoice).get("routing_enabled"):
                return invoice.gateway_id, str(self.option("pmt_channel", ""))
            order_ref = invoice.gateway_id
        else:
            with self.reading("payment link", {}):
                order_ref = self.paid_link_transaction(self.link_content(invoice))
            if not order_ref:
                raise self.answer_error("The payment link has no paid transaction.", None)
        channel = str(self.transaction_details(order_ref).get("channel_key") or "")
        if not order_ref or not channel:
            raise self.answer_error("PortOne did not name the transaction's channel.", None)
        return order_ref, channel

    # -- return and notifications ------------------------------------------------------------

    def verify_return(self, invoice: Invoice, request: InboundRequest) -> StatusResult:
        """Check the redirect query's ``signature_hash`` (redirect-response.md), then read the
        status server-to-server: the query only says that something happened."""
        query = request.query
        if "signature_hash" in query:
            params = {name: query.get(name, "") for name in signing.REDIRECT_FIELDS}
            if not self.verify(params, signing.REDIRECT_FIELDS, query.get("signature_hash", "")):
                raise InvalidRequest(
                    # Translators: the query string PortOne adds to the customer's return.
                    gettext("The return query's signature does not match."),
                    gateway=self.alias,
                    code="signature",
                )
            named = {query.get("merchant_order_ref", ""), query.get("link_order_ref", "")}
            if not self.is_link(invoice) and self.merchant_order_id(invoice) not in named:
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
        with malformed("body is not JSON"):
            data = loads(request.body)
        if not isinstance(data, dict):
            raise NotificationRejected("body is not a JSON object", code="malformed")
        if "refund_status" in data or "refund_id" in data:
            return self.refund_event(data)
        with malformed():
            link = "link_ref" in data and "order_ref" not in data
            fields = signing.LINK_WEBHOOK_FIELDS if link else signing.PAYMENT_WEBHOOK_FIELDS
            amount, currency = self.notification_amount(data)
            params = {name: data.get(name) for name in fields}
            params["amount"] = money.format_trimmed(amount, currency)
            signature = str(data.get("signature_hash") or "")
        if not signature:
            raise NotificationRejected("missing signature_hash", code="signature")
        if not self.verify(params, fields, signature):
            raise NotificationRejected("signature_hash does not match", code="signature")
        ours = str(data.get("link_order_ref") or data.get("merchant_order_ref") or "")
        try:
            status = self.map_status(data.get("status"), data.get("status_code"), link=link)
        except ValueError:
            claim = None
        else:
            if status == InvoiceStatus.PAID and not link and self.holds_reference(ours):
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
        gateway_id = data.get("link_ref") or data.get("payment_link_ref") or data.get("order_ref")
        # The signature covers status, amount and currency but carries no timestamp, so a
        # replay cannot be told apart: the status is read back unless the shop opts out.
        return NotificationEvent(
            invoice_id=ours,
            gateway_id=str(gateway_id or ""),
            dedup_key=f"{gateway_id}:{data.get('status')}",
            status=claim,
            authoritative=bool(self.option("trust_signed_notifications", False))
            and claim is not None,
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
        """Capture a PREAUTH: the call takes no amount, PortOne captures what was authorized."""
        if amount != invoice.amount:
            raise InvalidRequest(
                gettext("PortOne captures the whole authorized amount only."), gateway=self.alias
            )
        order_ref, _channel = self.transaction_ref(invoice)
        # payment-openapi POST /api/transaction/{order_ref}/capture ("Capture Transaction").
        data = self.call("POST", f"api/transaction/{quote(order_ref, safe='')}/capture")
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
        # refund-openapi GET /api/refund/{portone_order_ref}.
        data = self.call("GET", f"api/refund/{quote(order_ref, safe='')}", refund=True)
        return self.read_refunds(data, currency)

    def read_refunds(
        self, data: Mapping[str, Any], currency: str
    ) -> tuple[Decimal | None, list[RefundResult]]:
        """``amountToRefund`` (``None`` if PortOne leaves it out) and every refund."""
        with self.reading("refund list", data):
            raw_left = data.get("amountToRefund")
            left = None if raw_left is None else money.to_decimal(raw_left)
            results = [self.read_refund(item, currency) for item in data.get("refundDetails") or []]
        return left, results

    def read_refund(self, item: Mapping[str, Any], currency: str) -> RefundResult:
        tag = REFUND_TAG.search(str(item.get("refund_reason") or ""))
        refund_currency = money.normalize_currency(str(item.get("currency") or currency))
        word = str(item.get("refund_status", ""))
        return RefundResult(
            status=REFUND_STATUS_MAP.get(word.strip().lower(), RefundStatus.PENDING),
            # refund_id may be empty (refund-openapi example): the PSP's id then names it.
            gateway_refund_id=str(item.get("refund_id") or item.get("psp_refund_id") or ""),
            amount=money.to_decimal(item["amount"]),
            currency=refund_currency,
            idempotency_key=tag.group("key") if tag else "",
            failure_reason=""
            if word.lower() == "success"
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
        # refund-openapi POST /api/refund/{portone_order_ref} ("Create Refund").
        data = self.call("POST", f"api/refund/{quote(order_ref, safe='')}", body, refund=True)
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
        return replace(mine[-1], idempotency_key=refund.idempotency_key)

    def list_refunds(self, invoice: Invoice) -> list[RefundResult]:
        order_ref, _channel = self.transaction_ref(invoice)
        return self.refund_list(order_ref, invoice.currency)[1]

    # -- webhook endpoints (management command multipay_portone_hooks) -----------------------

    def read_webhook(self, item: Any) -> Webhook:
        if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
            raise self.unreadable("webhook", item, KeyError("url"))
        return Webhook(
            name=str(item.get("name") or ""),
            uuid=str(item.get("uuid") or ""),
            url=str(item["url"]),
            type=str(item.get("type") or ""),
            enabled=bool(item.get("enabled", True)),
            created_at=str(item.get("created_at") or ""),
            raw=self.redact(plain(item)),
        )

    def create_webhook(
        self, *, name: str, url: str, type: str, environment: str | None = None
    ) -> Webhook:
        """Register a webhook endpoint of one ``type`` (:data:`WEBHOOK_TYPES`)."""
        if type not in WEBHOOK_TYPES:
            problem = gettext("A PortOne webhook's type is one of %(types)s.") % {
                "types": ", ".join(WEBHOOK_TYPES)
            }
            raise InvalidRequest(problem, fields={"type": problem}, gateway=self.alias)
        try:
            url = _http_url(url)
        except ValueError as exc:
            raise InvalidRequest(str(exc), fields={"url": str(exc)}, gateway=self.alias) from None
        # payment-openapi POST /api/merchant/{key}/webhook ("Add Webhook Endpoint").
        data = self.call(
            "POST",
            f"api/merchant/{self.quoted_key}/webhook",
            {
                "name": name,
                "url": url,
                "type": type,
                "environment": environment or self.environment,
            },
        )
        return self.read_webhook(data.get("content"))

    def list_webhooks(self, *, environment: str | None = None) -> list[Webhook]:
        """Every webhook endpoint registered for the alias's environment."""
        # payment-openapi GET /api/merchant/{key}/webhook ("Fetch All Webhook Endpoints").
        data = self.call(
            "GET",
            f"api/merchant/{self.quoted_key}/webhook",
            params={"environment": environment or self.environment},
        )
        return [self.read_webhook(item) for item in self.content_list("webhook list", data, data)]

    # -- signatures (management command multipay_portone_signature) --------------------------

    def generate_signature(
        self,
        *,
        amount: Decimal,
        currency: str,
        merchant_order_id: str,
        success_url: str,
        failure_url: str,
    ) -> str:
        """PortOne's own payment request signature for these fields, to compare with ours
        (:meth:`payment_request_signature`)."""
        # payment-openapi POST /api/merchant/generate-signature ("Generate signature hash").
        data = self.call(
            "POST",
            "api/merchant/generate-signature",
            {
                "portone_key": self.client_key,
                "currency": currency,
                "amount": self.amount(amount, currency),
                "merchant_order_id": merchant_order_id,
                "success_url": success_url,
                "failure_url": failure_url,
            },
        )
        signature = (data.get("content") or {}).get("signature")
        if not isinstance(signature, str) or not signature:
            raise self.unreadable("signature", data, KeyError("content.signature"))
        return signature

    # -- PSP credentials (management command multipay_portone_channels) ----------------------

    def _channel_key(self, channel_key: str) -> str:
        key = channel_key.strip().upper()
        if not re.fullmatch(r"[A-Z0-9_]{1,64}", key):
            problem = gettext("A payment channel key is upper-case letters, digits and _ (STRIPE).")
            raise InvalidRequest(problem, fields={"channel": problem}, gateway=self.alias)
        return key

    def _send_pay_channel(
        self,
        method: str,
        channel_key: str,
        creds: Mapping[str, Any],
        country: str,
        environment: str | None,
    ) -> PayChannel:
        key = self._channel_key(channel_key)
        place = country.strip().upper()
        if not re.fullmatch(r"[A-Z]{2}|GLOBAL", place):
            problem = gettext("The channel's country is two letters (VN, TH) or GLOBAL.")
            raise InvalidRequest(problem, fields={"country": problem}, gateway=self.alias)
        unreadable = json_problem(creds)
        if not isinstance(creds, Mapping) or not creds or unreadable:
            raise InvalidRequest(
                gettext("The credentials must be a JSON object with at least one member."),
                fields={"creds": unreadable or gettext("must be an object")},
                gateway=self.alias,
            )
        # payment-openapi POST ("Add PSP Credentials") and PUT ("Update PSP Credentials")
        # /api/merchant/{key}/add-pay-channel/{pckey}.
        data = self.call(
            method,
            f"api/merchant/{self.quoted_key}/add-pay-channel/{key}",
            {
                "creds": dict(creds),
                "country": place,
                "environment": environment or self.environment,
            },
            secrets=credential_values(creds),
        )
        content = self.content_of("payment channel", data, shown=masked(creds))
        names = masked(content.get("maskedData"))
        return PayChannel(
            key=str(content.get("PaymentChannelKey") or key),
            country=place,
            pay_type="",
            enabled=None,
            credential_names=tuple(names),
            raw={**self.redact(plain(content)), "maskedData": names},
        )

    def add_pay_channel(
        self,
        channel_key: str,
        creds: Mapping[str, Any],
        *,
        country: str,
        environment: str | None = None,
    ) -> PayChannel:
        """Give PortOne a payment channel's credentials. They are sent once and kept nowhere
        here: the answer is read by credential name only, and no error repeats them."""
        return self._send_pay_channel("POST", channel_key, creds, country, environment)

    def update_pay_channel(
        self,
        channel_key: str,
        creds: Mapping[str, Any],
        *,
        country: str,
        environment: str | None = None,
    ) -> PayChannel:
        """Replace a payment channel's credentials at PortOne (as :meth:`add_pay_channel`)."""
        return self._send_pay_channel("PUT", channel_key, creds, country, environment)

    def fetch_pay_channel(
        self, channel_key: str, *, pay_type: str = "PAYIN", environment: str | None = None
    ) -> list[PayChannel]:
        """What PortOne holds for a payment channel: names of its credentials, never values
        (PortOne masks them; these are masked whole again)."""
        key = self._channel_key(channel_key)
        kind = pay_type.strip().upper()
        if kind not in PAY_TYPES:
            problem = gettext("The pay type is PAYIN or PAYOUT.")
            raise InvalidRequest(problem, fields={"pay_type": problem}, gateway=self.alias)
        # payment-openapi GET /api/merchant/{key}/pay-channel/{pckey} ("Fetch PSP Credentials").
        data = self.call(
            "GET",
            f"api/merchant/{self.quoted_key}/pay-channel/{key}",
            params={"environment": environment or self.environment, "payType": kind},
        )
        items = self.content_list("payment channel", data, {})
        if not all(isinstance(item, Mapping) for item in items):
            raise self.unreadable("payment channel", {}, TypeError("an item is not an object"))
        return [
            PayChannel(
                key=str(item.get("key") or key),
                country=str(item.get("country") or ""),
                pay_type=str(item.get("pay_type") or kind),
                enabled=item["is_enabled"] if isinstance(item.get("is_enabled"), bool) else None,
                credential_names=tuple(masked(item.get("creds"))),
                raw={**self.redact(plain(item)), "creds": masked(item.get("creds"))},
            )
            for item in items
        ]

    # -- after the payment: status (cash on delivery) and details ----------------------------

    def update_transaction_status(self, invoice: Invoice, status: str) -> dict[str, Any]:
        """Tell PortOne a payment at a channel is ``Success`` or ``Failed`` (cash on
        delivery: the shop collected the money, or did not). This changes nothing here: the
        invoice moves only when a status read says so (``payments.refresh(invoice)``, a
        webhook read back, or reconciliation), never on this call's answer alone."""
        if status not in SETTABLE_TRANSACTION_STATUSES:
            problem = gettext("PortOne's transaction status update takes Success or Failed.")
            raise InvalidRequest(problem, fields={"status": problem}, gateway=self.alias)
        if self.is_link(invoice):
            raise UnsupportedOperation(
                gettext(
                    "A payment link's transactions carry PortOne's references, not ours: only a"
                    " payment started at a channel can have its status updated."
                ),
                gateway=self.alias,
            )
        payload = {"merchant_order_ref": self.merchant_order_id(invoice), "status": status}
        body = {**payload, "signature": self.sign(payload, signing.TRANSACTION_STATUS_FIELDS)}
        # payment-openapi PUT /api/transaction/status ("Update Transaction Status").
        return dict(plain(self.call("PUT", "api/transaction/status", body, empty=True)))

    def update_transaction_details(self, invoice: Invoice, **fields: Any) -> dict[str, Any]:
        """Change a channel payment's ``description`` or ``user_configured_field1..5`` at
        PortOne (a partial update; money and status are not among them). Returns what
        PortOne says it now holds."""
        if self.is_link(invoice):
            raise UnsupportedOperation(
                gettext(
                    "A payment link's transactions carry PortOne's references, not ours: give a"
                    " link its fields when it is made, or with update_payment_link."
                ),
                gateway=self.alias,
            )
        body = self._checked_fields(
            fields,
            TRANSACTION_DETAILS,
            unknown=gettext("cannot be changed; it takes: %(fields)s"),
            empty_key="fields",
            problems=gettext("Invalid transaction details: %(problems)s"),
        )
        ref = quote(self.merchant_order_id(invoice), safe="")
        # payment-openapi PUT /api/{portOneKey}/update-transaction-details/{merchant_order_ref}.
        data = self.call("PUT", f"api/{self.quoted_key}/update-transaction-details/{ref}", body)
        content = data.get("content")
        return dict(plain(content)) if isinstance(content, Mapping) else {}
