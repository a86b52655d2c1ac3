"""Paylands (Payshop POP) gateway: payment orders, APMs, saved cards, deferred holds, refunds.

Wire format: the Payshop POP REST API manual (v1.1, May 2025) and docs/gateways/paylands.md.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, cast
from zoneinfo import ZoneInfo

import requests
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext

from django_multipay import logs, money
from django_multipay.exceptions import (
    GatewayAPIError,
    GatewayConfigurationError,
    GatewayError,
    InvalidRequest,
    NotificationRejected,
    PaymentDeclined,
    RefundError,
)
from django_multipay.gateways.base import (
    ApiCall,
    BaseGateway,
    Capabilities,
    GatewayOption,
    OptionProblem,
    PaymentOption,
)
from django_multipay.gateways.contact import (
    InvalidPhone,
    Phone,
    country_alpha3,
    parse_phone,
    region_for_calling_code,
)
from django_multipay.gateways.paylands_hash import ALGORITHMS, hash_matches
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
from django_multipay.status import CAPTURED, InvoiceStatus, RefundStatus

logger = logs.get_logger("django_multipay.gateways.paylands")

# "Environments": two hosts, each with its own API key, services, orders and cards.
SANDBOX_URL = "https://api.paylands.com/v1/sandbox/"
LIVE_URL = "https://api.paylands.com/v1/"

# "Operational": AUTHORIZATION charges at once; DEFERRED holds for a later confirmation.
OPERATIVES = ("AUTHORIZATION", "DEFERRED")

#: Alternative methods whose order can be "pushed": the reference (and deadline) comes back
#: to the server instead of being shown on the payment page ("Push payment integration").
PUSH_APMS = ("MBWAY", "MULTIBANCO", "PAYSHOP")
#: APMs enabled when the alias does not list its own (``apms`` option).
DEFAULT_APMS = PUSH_APMS

#: "Order status": the 19 documented values → ours. The one place this vocabulary is mapped.
ORDER_STATUS_MAP: dict[str, str] = {
    "CREATED": InvoiceStatus.PENDING,
    "PENDING_CARD": InvoiceStatus.PENDING,
    "PENDING_PROCESSOR_RESPONSE": InvoiceStatus.PENDING,
    "PENDING_3DS_RESPONSE": InvoiceStatus.PENDING,
    "REDIRECTED_TO_3DS": InvoiceStatus.PENDING,
    "AUTHENTICATION_REQUIRED": InvoiceStatus.PENDING,
    "PENDING_PAYMENT": InvoiceStatus.PENDING,
    # A DEFERRED hold waiting for our confirmation (or cancellation).
    "PENDING_CONFIRMATION": InvoiceStatus.AUTHORIZED,
    "SUCCESS": InvoiceStatus.PAID,
    # Part of the hold was confirmed: money taken, the captured amount is the confirmed part.
    "PARTIALLY_CONFIRMED": InvoiceStatus.PAID,
    "PARTIALLY_REFUNDED": InvoiceStatus.PARTIALLY_REFUNDED,
    "REFUNDED": InvoiceStatus.REFUNDED,
    "REFUSED": InvoiceStatus.FAILED,
    "FRAUD": InvoiceStatus.FAILED,
    "BLACKLISTED": InvoiceStatus.FAILED,
    "CANCELLED": InvoiceStatus.CANCELLED,
    "USER_CANCELLED": InvoiceStatus.CANCELLED,
    "EXPIRED": InvoiceStatus.EXPIRED,
    "THREEDS_EXPIRED": InvoiceStatus.EXPIRED,
}

#: Why an attempt ended without money, as the document words each status (kept on the invoice).
FAILURE_REASONS: dict[str, str] = {
    "REFUSED": "Transaction rejected by bank",
    "FRAUD": "Transaction rejected by the anti-fraud system",
    "BLACKLISTED": "Operation rejected by the black list",
    "CANCELLED": "Preauthorization cancelled",
    "USER_CANCELLED": "The user cancelled the payment from the payment page",
    "EXPIRED": "The order expired",
    "THREEDS_EXPIRED": "The user abandoned 3-D Secure and was not authenticated",
}

#: "Transaction status": the 6 documented values → the outcome of one operation (a refund's
#: status, or whether a confirmation went through).
TRANSACTION_STATUS_MAP: dict[str, str] = {
    "CREATED": RefundStatus.PENDING,
    "PENDING": RefundStatus.PENDING,
    "SUCCESS": RefundStatus.SUCCEEDED,
    "REFUSED": RefundStatus.FAILED,
    "ERROR": RefundStatus.FAILED,
    "CANCELLED": RefundStatus.FAILED,
}

#: "API error codes": HTTP status → (our error code, what the document says it means).
#: The document swaps the 402 and 404 explanations; they are given here the right way round.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request was unacceptable, often a missing required parameter"),
    401: ("unauthorized", "No valid API key provided"),
    402: ("failed", "The parameters were valid but the request failed"),
    403: ("unauthenticated", "API key or signature incorrect, or not sent as they should be"),
    404: ("not_found", "The requested resource doesn't exist"),
    409: ("conflict", "The request conflicts with another request"),
    429: ("too_many_requests", "Too many requests hit the API too quickly"),
    **dict.fromkeys(
        (500, 502, 503, 504), ("server_error", "Something went wrong on the Paylands end")
    ),
}

#: Operatives of transactions that take money.
CHARGING_OPERATIVES = ("AUTHORIZATION", "CONFIRMATION")

#: Field (and date format) of a reference's expiry in ``extra_data.payment`` per APM
#: ("Custom fields": Payshop takes Ymd, Multibanco Y-m-d).
REFERENCE_EXPIRY_FIELDS: dict[str, tuple[str, str]] = {
    "PAYSHOP": ("expiration_date", "%Y%m%d"),
    "MULTIBANCO": ("deadline", "%Y-%m-%d"),
}

#: Top-level keys of ``extra_data`` a payment may add ("Generate payment order"): the card-on-file
#: block (``cof``: merchant-initiated reuse of a stored card) is not among them.
EXTRA_DATA_KEYS = frozenset(
    {"profile", "address", "billing_address", "shipping_address", "checkout", "payment"}
)
#: Largest per-payment ``extra_data``, as JSON text.
MAX_EXTRA_DATA_BYTES = 4096


#: "Whitelist IPS": the manual's first way to trust a notification is to accept it only from
#: Payshop's servers (their addresses come from contato.pop@payshop.pt): ``notification_ips``.
#: The sender is ``REMOTE_ADDR``, unless ``notification_proxy_hops`` says how many proxies of
#: the shop's own stand in front of Django (then X-Forwarded-For, read from the right).
MAX_PROXY_HOPS = 10
#: A notification refused for its sender.
_refused_sender = partial(NotificationRejected, code="source", status_code=403)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def notification_networks(value: Any) -> tuple[Network, ...]:
    """The ``notification_ips`` option read: a list of networks in CIDR form
    (``"203.0.113.0/24"``, ``"2001:db8::/32"``) or single addresses. ``ValueError``, worded for
    people, names the first entry that is not one (host bits set included: a typo, not a
    network)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ValueError(gettext("must be a list of networks in CIDR form, such as 203.0.113.0/24"))
    if not value:
        raise ValueError(
            gettext("lists no network: leave it out to take notifications from any address")
        )
    networks: list[Network] = []
    for entry in value:
        try:
            if not isinstance(entry, str):
                raise ValueError(entry)
            networks.append(ipaddress.ip_network(entry.strip(), strict=True))
        except ValueError:
            # Translators: CIDR is a network written as address/prefix length.
            problem = gettext(
                "%(entry)s is not a network in CIDR form (203.0.113.0/24, 2001:db8::/32)"
                " with its host bits zero"
            )
            raise ValueError(problem % {"entry": repr(entry)}) from None
    return tuple(networks)


def proxy_hops(value: Any) -> int:
    """The ``notification_proxy_hops`` option read (absent: 0, ``REMOTE_ADDR`` is the sender)."""
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PROXY_HOPS:
        message = gettext("must be a whole number of proxies from 0 to %(maximum)s")
        raise ValueError(message % {"maximum": MAX_PROXY_HOPS})
    return value


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(gettext("must be an IPv4 or IPv6 address")) from None


def _extra_data(value: dict[str, Any]) -> dict[str, Any]:
    if not all(isinstance(part, Mapping) for part in value.values()):
        # Translators: each key of a JSON object must hold an object ({...}).
        raise ValueError(gettext("each key must hold an object"))
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        raise ValueError(gettext("must be plain JSON")) from None
    if len(text) > MAX_EXTRA_DATA_BYTES:
        message = gettext("must be at most %(maximum)s bytes of JSON")
        raise ValueError(message % {"maximum": MAX_EXTRA_DATA_BYTES})
    return copy.deepcopy(value)


def _upper(value: str) -> str:
    return value.strip().upper()


#: An id Paylands gives (a service, a saved card, a template): 1 to 64 characters.
_uuid_option = partial(PaymentOption, str, min_length=1, max_length=64)

#: What one payment may choose (``payments.begin_payment(options=...)``, or staff through the
#: API), each from the "POST /payment" body the document names; the alias's own options of the
#: same names are the defaults. A customer never sets these.
PAYMENT_OPTIONS: dict[str, PaymentOption] = {
    # "Operational": the operative attribute of the order creation call.
    "operative": PaymentOption(
        str, "AUTHORIZATION charges at once, DEFERRED holds.", choices=OPERATIVES, normalize=_upper
    ),
    # "Generate payment order": service (uuid); one of this alias's own services.
    "service": _uuid_option("One of the alias's service uuids."),
    # "Payment methods": ?apm= on the payment page; enabled APMs are the alias's ``apms``.
    "apm": PaymentOption(str, "An APM enabled for the alias.", normalize=_upper, max_length=20),
    # "Push payment integration" (MB WAY, Multibanco, Payshop).
    "push": PaymentOption(bool, "Push the order instead of showing the payment page."),
    # "Card (not present)", one-click: POST /payment/direct card_uuid. A stored credential.
    "card_uuid": _uuid_option(
        "A saved card of the customer bound to the order's user.", sensitive=True
    ),
    # POST /payment/direct customer_ip.
    "customer_ip": PaymentOption(str, "The customer's IP address.", clean=_ip_address),
    # "Generate payment order": customer_ext_id, the gateway-side customer (owner of cards).
    "customer_ext_id": PaymentOption(
        str, "The gateway-side customer id.", min_length=1, max_length=100, sensitive=True
    ),
    # "Generate payment order": secure (3-D Secure). Only false weakens anything.
    "secure": PaymentOption(
        bool, "3-D Secure; false turns it off.", sensitive=True, safe_values=(True,)
    ),
    # "Generate payment order": template_uuid, dcc_template_uuid (payment page templates).
    "template_uuid": _uuid_option("Payment page template."),
    "dcc_template_uuid": _uuid_option("DCC template."),
    # "Generate payment order": save_card (the card is saved for customer_ext_id).
    "save_card": PaymentOption(bool, "Save the card for the order's customer."),
    # "Redirect to {base}/payment/process/{token}?lang=xx".
    "lang": PaymentOption(str, "Payment page language (two letters).", pattern=r"[a-z]{2}"),
    # "Generate payment order": extra_data, merged over what the order gives.
    "extra_data": PaymentOption(
        dict, "Merged into extra_data.", keys=EXTRA_DATA_KEYS, clean=_extra_data
    ),
    # "Custom fields" (Payshop, Multibanco): the reference's deadline, in days from today
    # (the document asks for a date not before today; 365 is our bound).
    "reference_valid_days": PaymentOption(
        int, "Days until a Payshop or Multibanco reference lapses.", min_value=1, max_value=365
    ),
}
#: Options the alias's own configuration gives every payment (a saved card is never one).
ALIAS_DEFAULTS = tuple(name for name in PAYMENT_OPTIONS if name != "card_uuid")


@dataclass(frozen=True)
class PaymentReference:
    """What a customer needs to pay a pushed APM order another way (Payshop, Multibanco)."""

    reference: str
    entity: str = ""
    deadline: date | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DirectPayment:
    """The answer to a saved-card payment: a status, or a 3-D Secure page to send the
    customer to (``redirect_url``) before the status is known."""

    redirect_url: str = ""
    status: StatusResult | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def needs_authentication(self) -> bool:
        return bool(self.redirect_url)


def currency_from_wire(value: Any) -> str:
    """ISO alpha code from what Paylands sends: numeric in orders (``"978"``), alpha elsewhere."""
    text = str(value).strip()
    return money.from_numeric_code(text) if text.isdigit() else money.normalize_currency(text)


#: Where Payshop and Multibanco references are paid: their dates are Portugal's.
LISBON = ZoneInfo("Europe/Lisbon")


def _lisbon_today() -> date:
    """Today in Portugal: "Custom fields" asks for a date not before the current date, which is
    Lisbon's whatever the shop's ``TIME_ZONE`` (an Auckland morning is still yesterday there)."""
    return timezone.now().astimezone(LISBON).date()


def _lisbon_end_of(day: date) -> datetime:
    """The end of ``day`` in Portugal, where Payshop and Multibanco references are paid."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), LISBON)


def _sent_deadline(body: Mapping[str, Any], apm: str) -> date | None:
    """The reference's last day as the order sent asks for it ("Custom fields": Payshop's
    ``expiration_date`` in Ymd, Multibanco's ``deadline`` in Y-m-d), if it does."""
    with suppress(KeyError, TypeError, ValueError):
        name, fmt = REFERENCE_EXPIRY_FIELDS[apm]
        return datetime.strptime(str(body["extra_data"]["payment"][name]), fmt).date()
    return None


def _parse_day(value: Any) -> date | None:
    text = str(value or "").strip()
    for fmt, size in (("%Y-%m-%d", 10), ("%Y%m%d", 8)):
        with suppress(ValueError):
            return datetime.strptime(text[:size], fmt).date()
    return None


def _error_text(transaction: Mapping[str, Any]) -> str:
    """A transaction's ``error``, or ``""`` for none (``NONE``)."""
    error = transaction.get("error")
    return "" if error in (None, "", "NONE") else str(error)


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


class PaylandsGateway(BaseGateway):
    """Paylands / Payshop POP: card payment page (redirect or iframe), MB WAY, Multibanco and
    Payshop (page or push reference), saved cards with 3-D Secure, DEFERRED confirmation and
    cancellation, full and partial refunds; EUR.

    Notifications are checked by ``validation_hash`` and by their sender (``notification_ips``)
    where configured, and then the order is always read back (``GET /order/{uuid}``) before
    anything changes."""

    display_name = "Paylands"
    emulator = ("django_multipay.sandbox.paylands", "payment")
    capabilities = Capabilities(
        refund=True,
        partial_refund=True,
        # No idempotency key exists at Paylands: a refund whose answer was lost is not re-sent.
        idempotent_refunds=False,
        capture=True,
        cancel=True,
        list_refunds=True,
        signed_notifications=True,
        currencies=frozenset({"EUR"}),
    )
    # docs/gateways/paylands.md, "Options": its own, and the per-payment options an alias
    # sets defaults for (ALIAS_DEFAULTS, typed by PAYMENT_OPTIONS; a saved card or the
    # customer's IP is per payment). The notification options are checked by their readers.
    declared_options = (
        *(GatewayOption(name, required=True, secret=True) for name in ("api_key", "signature")),
        *(GatewayOption(name) for name in ("service", "operative", "apm")),
        GatewayOption("services", dict),
        GatewayOption("currencies", list),
        GatewayOption("auth", default="basic"),
        GatewayOption("apms", list),
        GatewayOption("push", bool),
        GatewayOption("push_path", default="payment/push"),
        GatewayOption("reference_valid_days", int),
        GatewayOption("secure", bool),
        *(GatewayOption(name) for name in ("template_uuid", "dcc_template_uuid", "lang")),
        GatewayOption("save_card", bool),
        *(GatewayOption(name) for name in ("phone_prefix", "customer_ext_id")),
        GatewayOption("extra_data", dict),
        GatewayOption("validation_hash", None, default="sha256"),
        *(GatewayOption(name, None) for name in ("notification_ips", "notification_proxy_hops")),
        GatewayOption("rate_limit_retries", int, default=3),
        GatewayOption("rate_limit_backoff", float, default=1.0),
    )
    live_base_url = LIVE_URL
    sandbox_base_url = SANDBOX_URL
    payment_options = PAYMENT_OPTIONS
    # "Order status": EXPIRED, "Transaction that has been too long on card hold", with no
    # period given: a DEFERRED hold is taken to last seven days (option ``hold_lifetime``).
    default_hold_lifetime = timedelta(days=7)

    # -- configuration -----------------------------------------------------------------------

    def clean_options(self) -> list[OptionProblem]:
        """A ``service``, or one per currency (``services``)."""
        problems = super().clean_options()
        if not self.options.get("service") and not self.options.get("services"):
            problems.append(self.missing_problem("service"))
        return problems

    @property
    def services(self) -> dict[str, str]:
        """Currency → service uuid, for shops with one Paylands service per currency."""
        return {str(k).upper(): str(v) for k, v in (self.option("services") or {}).items()}

    def accepts_currency(self, currency: str) -> bool:
        currency = currency.upper()
        if currency in self.services:
            return True
        listed = self.option("currencies") or self.capabilities.currencies or ()
        return bool(self.option("service")) and currency in {str(c).upper() for c in listed}

    def service_for(self, currency: str, override: str | None = None) -> str:
        service = override or self.services.get(currency.upper()) or self.option("service")
        if not service:
            message = gettext("No Paylands service is configured for %(currency)s.")
            raise InvalidRequest(message % {"currency": currency}, gateway=self.alias)
        return str(service)

    @property
    def apms(self) -> tuple[str, ...]:
        listed = self.option("apms")
        return tuple(str(a).upper() for a in listed) if listed is not None else DEFAULT_APMS

    # -- HTTP ----------------------------------------------------------------------------------

    #: Any other answer is an error ("API error codes"); ``payment/direct`` adds its 303.
    expected_statuses = (200, 201)

    def http_options(self) -> dict[str, Any]:
        """A read answered 429 is repeated ``rate_limit_retries`` times, after ``Retry-After``
        or ``rate_limit_backoff * 2 ** n`` seconds; a write is never repeated."""
        return {
            "rate_limit_retries": int(self.option("rate_limit_retries", 3)),
            "rate_limit_backoff": float(self.option("rate_limit_backoff", 1.0)),
        }

    def request_headers(self, call: ApiCall) -> dict[str, str]:
        """HTTP Basic with the API key as user name and no password ("Authentication"), or
        Bearer where a shop needs it (``auth: "bearer"``)."""
        key = str(self.options["api_key"])
        basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode("ascii")
        bearer = str(self.option("auth", "basic")).lower() == "bearer"
        return {"Authorization": f"Bearer {key}" if bearer else basic, "Accept": "application/json"}

    def request_kwargs(self, body: Any, call: ApiCall) -> dict[str, Any]:
        """Every POST carries the ``signature`` credential in its body."""
        kwargs: dict[str, Any] = {"allow_redirects": False}
        if call.method == "POST":
            kwargs["json"] = {**(body or {}), "signature": str(self.options["signature"])}
        return kwargs

    def error_for(self, error: GatewayAPIError, call: ApiCall) -> GatewayError:
        """The project's exception for an error answer ("API error codes")."""
        status, body = error.http_status or 0, error.response
        code, meaning = ERRORS.get(status, (f"http_{status}", "Unexpected answer"))
        found = body if isinstance(body, Mapping) else {}
        message, details = (str(found.get(key) or "") for key in ("message", "details"))
        text = f"Paylands {call.path} answered {status} {message or meaning}"
        text += f": {details} ({meaning})." if details else f" ({meaning})."
        kwargs: dict[str, Any] = {"gateway": self.alias, "response": body, "code": code}
        if status == 402:
            return PaymentDeclined(text, **kwargs)
        return GatewayAPIError(text, http_status=status, **kwargs)

    def parse_answer(self, response: requests.Response, call: ApiCall) -> Any:
        """The JSON answer (with its HTTP status first, for a call made ``with_status``)."""
        data = None
        with suppress(ValueError):
            data = response.json()
        if not isinstance(data, dict):
            raise GatewayAPIError(
                f"Paylands {call.path} answered a body that is not a JSON object.",
                gateway=self.alias,
                http_status=response.status_code,
                code="unreadable",
            )
        # Errors come as JSON {code, message, details}; trust the body's code too.
        code = data.get("code")
        if isinstance(code, int) and code >= 400:
            refused = GatewayAPIError(http_status=code, response=self.redact(data))
            raise self.error_for(refused, call)
        return (response.status_code, data) if call.options.get("with_status") else data

    def read_order(self, order_uuid: str) -> dict[str, Any]:
        """``GET /order/{uuid}``: the order as Paylands holds it (verification, reconciliation)."""
        return cast(dict[str, Any], self.call("GET", f"order/{order_uuid}"))

    # -- reading orders ------------------------------------------------------------------------

    def _order(self, data: Mapping[str, Any]) -> dict[str, Any]:
        order = data.get("order") if isinstance(data.get("order"), Mapping) else data
        if not isinstance(order, Mapping) or "status" not in order:
            raise self.answer_error("Paylands answered without an order.", data)
        return dict(order)

    def status_from(self, data: Mapping[str, Any], currency: str | None = None) -> StatusResult:
        """Our status for a Paylands order (an answer with ``order``, or the order itself)."""
        order = self._order(data)
        with self.reading("order", order):
            try:
                wire_status = str(order["status"]).upper()
                status = ORDER_STATUS_MAP[wire_status]
                reported = currency_from_wire(order["currency"]) if order.get("currency") else None
                unit = reported or currency
                if unit is None:
                    raise ValueError("no currency to read the amount in")
                amount = money.from_minor_units(order["amount"], unit)
            except KeyError as exc:
                raise self.answer_error(
                    f"Paylands order has an unknown status or lacks {exc}.",
                    order,
                    code="unknown_status",
                ) from None
            transactions = [t for t in order.get("transactions") or [] if isinstance(t, Mapping)]

            def succeeded(*operatives: str) -> list[Decimal]:
                return [
                    money.from_minor_units(t.get("amount") or 0, unit)
                    for t in transactions
                    if str(t.get("operative", "")).upper() in operatives
                    and str(t.get("status", "")).upper() == "SUCCESS"
                ]

            charged = succeeded(*CHARGING_OPERATIVES) if status in CAPTURED else []
            if charged and wire_status == "PARTIALLY_CONFIRMED":
                charged = [sum(succeeded("CONFIRMATION"), Decimal(0))]
            refunded = (
                money.from_minor_units(order.get("refunded") or 0, unit)
                if status in (InvoiceStatus.REFUNDED, InvoiceStatus.PARTIALLY_REFUNDED)
                else None
            )
        reason = ""
        if wire_status in FAILURE_REASONS:
            errors = [_error_text(t) for t in transactions if _error_text(t)]
            reason = f"{wire_status}: {FAILURE_REASONS[wire_status]}"
            reason += f" ({errors[-1]})" if errors else ""
        return StatusResult(
            status=status,
            gateway_id=str(order.get("uuid") or ""),
            amount=amount,
            currency=reported,
            captured_amount=sum(charged, Decimal(0)) if charged else None,
            refunded_amount=refunded,
            failure_reason=reason,
            raw=dict(data),
        )

    def fetch_status(self, invoice: Invoice) -> StatusResult:
        return self.status_from(self.read_order(invoice.gateway_id), invoice.currency)

    def verify_notification(self, invoice: Invoice, event: NotificationEvent) -> StatusResult:
        """Read the order back. It must be the order of this very attempt (its ``reference`` is
        our invoice id), so a notification cannot settle one invoice with another's order."""
        data = self.read_order(invoice.gateway_id or event.gateway_id)
        order = self._order(data)
        reference = str(order.get("reference") or "")
        # Where Paylands does not echo the reference, the order must be the one we created.
        ours = (
            reference == str(invoice.pk)
            if reference
            else bool(invoice.gateway_id) and str(order.get("uuid") or "") == invoice.gateway_id
        )
        if not ours:
            raise NotificationRejected(
                "the order read back from Paylands belongs to another payment", code="disagrees"
            )
        return self.status_from(data, invoice.currency)

    # -- paying --------------------------------------------------------------------------------

    def default_customer_id(self, user: Any) -> str:
        return f"user-{user.pk}"

    def clean_payment_options(self, options: dict[str, Any], order: Order | None) -> dict[str, str]:
        """The APM must be enabled here, push needs a push APM, the service must be one of
        this alias's, and a saved card is used only with the customer id bound to the order's
        user (``customer_id``), never with another."""
        errors: dict[str, str] = {}
        merged = {name: self.options.get(name) for name in ALIAS_DEFAULTS} | options
        apm = str(merged.get("apm") or "").upper()
        if "apm" in options and apm not in self.apms:
            # Translators: %(apm)s is a payment method (MBWAY, PAYSHOP); %(alias)s a gateway alias.
            message = gettext("%(apm)s is not enabled for %(alias)s")
            errors["options.apm"] = message % {"apm": apm, "alias": self.alias}
        elif merged.get("push") and apm not in PUSH_APMS:
            field = "options.push" if "push" in options else "options.apm"
            # Translators: apm is the option naming the payment method; keep it.
            message = gettext("push payments need one of %(apms)s as apm")
            errors[field] = message % {"apms": ", ".join(PUSH_APMS)}
        if "service" in options:
            own = set(self.services.values()) | {str(self.option("service") or "")}
            if options["service"] not in own - {""}:
                errors["options.service"] = gettext("must be one of this alias's services")
        if "card_uuid" in options:
            bound = self.customer_id(order) if order is not None else None
            if not bound:
                errors["options.card_uuid"] = gettext(
                    "a saved card needs the customer id bound to the order's signed-in user"
                )
            elif options.get("customer_ext_id", bound) != bound:
                errors["options.customer_ext_id"] = gettext(
                    "a saved card is paid only with the customer id bound to the order's user"
                )
        return errors

    def default_option_errors(self) -> dict[str, str]:
        """The declarations' checks of the alias's defaults, then its default ``apm`` among
        its own ``apms`` (otherwise every payment would be refused once its invoice exists),
        then the options notifications are checked by (:meth:`notification_option_errors`):
        system check ``multipay.E013`` reports each, and the alias takes no payment whose
        notifications it could not check."""
        errors = super().default_option_errors()
        apm = str(self.options.get("apm") or "").strip().upper()
        if "OPTIONS.apm" not in errors and self.options.get("apm") and apm not in self.apms:
            # Translators: apms is the option listing the alias's payment methods; keep it.
            message = gettext("%(apm)s is not among this alias's apms")
            errors["OPTIONS.apm"] = message % {"apm": apm}
        errors.update(self.notification_option_errors())
        return errors

    def notification_option_errors(self) -> dict[str, str]:
        """What is wrong with ``validation_hash``, ``notification_ips`` and
        ``notification_proxy_hops``, by ``OPTIONS.<name>``."""
        errors: dict[str, str] = {}
        algorithm = self.options.get("validation_hash")
        if algorithm is not None and str(algorithm).lower() not in ALGORITHMS:
            message = gettext("must be one of %(choices)s")
            errors["OPTIONS.validation_hash"] = message % {"choices": ", ".join(ALGORITHMS)}
        readers = {"notification_ips": notification_networks, "notification_proxy_hops": proxy_hops}
        for name, read in readers.items():
            if self.options.get(name) is not None:
                try:
                    read(self.options[name])
                except ValueError as exc:
                    errors[f"OPTIONS.{name}"] = str(exc)
        return errors

    def _notification_option(self, name: str) -> Any:
        """A notification option's value; one the alias cannot be checked with is refused: the
        notification is kept (answered 503, stored failed) to be retried once it is corrected."""
        problem = self.notification_option_errors().get(f"OPTIONS.{name}")
        if problem is not None:
            raise GatewayConfigurationError(
                gettext("Gateway %(alias)s: %(problem)s.")
                % {"alias": repr(self.alias), "problem": f"{name} {problem}"}
            )
        return self.options.get(name)

    def chosen_options(self, invoice: Invoice) -> dict[str, Any]:
        """The alias's options with the invoice's own (``invoice.gateway_options``, checked
        when the payment started) applied over them."""
        chosen = {name: self.options.get(name) for name in ALIAS_DEFAULTS} | {"card_uuid": None}
        for key, value in (invoice.gateway_options or {}).items():
            if key == "extra_data" and isinstance(value, Mapping):
                value = _deep_merge(copy.deepcopy(chosen.get("extra_data") or {}), value)
            chosen[key] = value
        operative = str(chosen.get("operative") or "AUTHORIZATION").upper()
        apm = str(chosen.get("apm") or "").upper()
        if operative not in OPERATIVES:
            # Translators: operative is Paylands' word for how an order takes the money.
            problem = gettext(
                "Paylands operative must be one of %(operatives)s, not %(operative)s."
            )
            problem %= {"operatives": ", ".join(OPERATIVES), "operative": operative}
        elif apm and apm not in self.apms:
            problem = gettext("%(apm)s is not enabled for %(alias)s.")
            problem %= {"apm": apm, "alias": self.alias}
        elif chosen.get("push") and apm not in PUSH_APMS:
            problem = gettext("Push payments need one of %(apms)s as apm.")
            problem %= {"apms": ", ".join(PUSH_APMS)}
        else:
            return chosen | {"operative": operative, "apm": apm}
        raise InvalidRequest(problem, gateway=self.alias)

    def customer_ext_id(self, invoice: Invoice, chosen: Mapping[str, Any]) -> str:
        """The shop's id for the customer: saved cards belong to it. A saved-card payment
        always carries the id bound to the order's user (:meth:`customer_id`); otherwise the
        chosen ``customer_ext_id``, else that bound id, else the guest's email or reference."""
        order = invoice.order
        bound = self.customer_id(order)
        card = chosen.get("card_uuid")
        if card and not bound:
            problem = gettext("no customer id is bound to the order's user")
            raise InvalidRequest(
                gettext("A saved card needs the customer id bound to the order's signed-in user."),
                fields={"options.card_uuid": problem},
                gateway=self.alias,
            )
        if chosen.get("customer_ext_id") and not card:
            return str(chosen["customer_ext_id"])
        return bound or order.customer_email or order.reference

    def _address(self, name: str, address: Mapping[str, Any]) -> dict[str, str]:
        """One address as ``extra_data`` has it; its ``country`` in ISO 3166 alpha-3 (gateway
        notes, ``POST /payment`` ``extra_data``), or ``InvalidRequest`` before any call."""
        country = str(address.get("country") or "").strip()
        alpha3 = country_alpha3(country) if country else None
        if country and alpha3 is None:
            field_name = f"{name}.country"
            message = gettext("is not an ISO 3166-1 alpha-2 or alpha-3 country code")
            refusal = gettext("Paylands cannot take this order: %(problems)s")
            refusal %= {"problems": f"{field_name}: {message}"}
            raise InvalidRequest(refusal, fields={field_name: message}, gateway=self.alias)
        wire = {
            "address1": address.get("line1"),
            "address2": address.get("line2"),
            "city": address.get("city"),
            "state_code": address.get("state"),
            "country": alpha3,
            "zip_code": address.get("postal_code"),
        }
        return {k: str(v) for k, v in wire.items() if v}

    def customer_phone(self, order: Order) -> Phone | None:
        """The order's phone split into calling code and number (``profile.phone`` is
        ``{number, prefix}``), or ``None`` when it cannot be read. A number written without
        its country code is read as one of the ``phone_prefix`` option's country, else of
        the billing address's country."""
        if not order.customer_phone:
            return None
        region = region_for_calling_code(self.option("phone_prefix") or "") or str(
            (order.billing_address or {}).get("country") or ""
        )
        with suppress(InvalidPhone):
            return parse_phone(order.customer_phone, region or None)
        return None

    def extra_data(self, invoice: Invoice, chosen: Mapping[str, Any]) -> dict[str, Any]:
        """``extra_data``: profile, addresses, APM payment settings, then the shop's own."""
        order = invoice.order
        profile: dict[str, Any] = {}
        if order.customer_name or chosen.get("push"):
            # MB WAY push needs first and last name; empty strings are allowed.
            first, _, last = (order.customer_name or "").strip().partition(" ")
            profile.update({"first_name": first, "last_name": last.strip()})
        if order.customer_email:
            profile["email"] = order.customer_email
        phone = self.customer_phone(order)
        if phone is not None:
            profile["phone"] = {"number": phone.number, "prefix": phone.country_code}
        elif chosen.get("push") and chosen.get("apm") == "MBWAY":
            # "Push payment integration": MB WAY needs the phone number; refused before the
            # order exists. A page payment just leaves it out ("Integration by redirection":
            # the phone is optional, the payment page asks for it).
            message = gettext(
                "MB WAY push payments need the customer's phone number, with its country code "
                "or the alias's phone_prefix"
            )
            raise InvalidRequest(
                # Translators: %(problem)s is one sentence, without its full stop.
                gettext("Paylands cannot take this order: %(problem)s.") % {"problem": message},
                fields={"customer_phone": message},
                gateway=self.alias,
            )
        extra: dict[str, Any] = {"profile": profile} if profile else {}
        for name in ("billing_address", "shipping_address"):
            if address := getattr(order, name):
                extra[name] = self._address(name, address)
        apm = chosen.get("apm") or ""
        # "Custom fields": the maximum number of payments with one reference must be 1.
        payment: dict[str, Any] = {"maxNbrPayments": "1"} if apm == "PAYSHOP" else {}
        days = chosen.get("reference_valid_days")
        if days and apm in REFERENCE_EXPIRY_FIELDS:
            # "Custom fields": the reference's last day, counted in Lisbon (not TIME_ZONE).
            name, fmt = REFERENCE_EXPIRY_FIELDS[apm]
            payment[name] = (_lisbon_today() + timedelta(days=int(days))).strftime(fmt)
        if payment:
            extra["payment"] = payment
        return _deep_merge(extra, chosen.get("extra_data") or {})

    def order_body(
        self, invoice: Invoice, urls: PaymentUrls, chosen: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The ``POST /payment`` body (without the signature, added to every POST)."""
        order = invoice.order
        body: dict[str, Any] = {
            # Integer minor units from the Decimal amount: never float truncation.
            "amount": money.to_minor_units(invoice.amount, invoice.currency),
            "currency": invoice.currency,
            "operative": chosen["operative"],
            "service": self.service_for(invoice.currency, chosen.get("service")),
            "description": (order.description or f"Order {order.reference}")[:300],
            # Must differ on every call: one invoice is one attempt.
            "reference": str(invoice.pk),
            "customer_ext_id": self.customer_ext_id(invoice, chosen),
            "additional": order.reference,
            "secure": bool(True if chosen.get("secure") is None else chosen["secure"]),
            "url_ok": urls.return_url,
            "url_ko": urls.return_url,
            "url_post": urls.notify_url,
        }
        for name in ("template_uuid", "dcc_template_uuid"):
            if chosen.get(name):
                body[name] = str(chosen[name])
        if chosen.get("save_card") is not None:
            body["save_card"] = bool(chosen["save_card"])
        if extra := self.extra_data(invoice, chosen):
            body["extra_data"] = extra
        return body

    def payment_page_url(self, token: str, apm: str = "", lang: str = "") -> str:
        """The payment page: ``/payment/process/{token}``, with ``?apm=`` for an APM. Send the
        customer there, or show it in an iframe."""
        query = "&".join(f"{k}={v}" for k, v in (("apm", apm), ("lang", lang)) if v)
        return self.http.url(f"payment/process/{token}") + (f"?{query}" if query else "")

    def create_order(
        self,
        invoice: Invoice,
        urls: PaymentUrls,
        chosen: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST /payment`` (``body``, else :meth:`order_body`): the answer, with
        ``order.uuid`` and ``order.token``."""
        chosen = self.chosen_options(invoice) if chosen is None else chosen
        body = self.order_body(invoice, urls, chosen) if body is None else body
        data: dict[str, Any] = self.call("POST", "payment", body)
        order = data.get("order")
        if not isinstance(order, Mapping) or not order.get("uuid") or not order.get("token"):
            raise self.answer_error("Paylands created no order.", data)
        return data

    def start_payment(self, invoice: Invoice, urls: PaymentUrls) -> PaymentStart:
        chosen = self.chosen_options(invoice)
        body = self.order_body(invoice, urls, chosen)
        data = self.create_order(invoice, urls, chosen, body)
        # "Custom fields": a reference lapses at the end of its last day in Lisbon.
        deadline = _sent_deadline(body, chosen["apm"])
        uuid, token = (str(data["order"][key]) for key in ("uuid", "token"))
        if chosen.get("card_uuid"):
            card, customer_ip = str(chosen["card_uuid"]), str(chosen.get("customer_ip") or "")
            direct = self.direct_payment(uuid, card, customer_ip, invoice.currency)
            if direct.status is not None and direct.status.status == InvoiceStatus.FAILED:
                raise PaymentDeclined(
                    # Translators: %(reason)s is Paylands' reason, not translated.
                    gettext("Paylands refused the saved card: %(reason)s")
                    % {"reason": direct.status.failure_reason},
                    gateway=self.alias,
                    response=self.redact(dict(direct.raw)),
                )
            # 3-D Secure first, or straight back to us (the return view reads the order).
            url, raw = direct.redirect_url or urls.return_url, {**data, "direct": direct.raw}
            return PaymentStart(action=PaymentAction(url=url), gateway_id=uuid, raw=raw)
        if chosen.get("push"):
            # The customer pays elsewhere; our return view shows the order as pending.
            url, raw = urls.return_url, self.push(uuid, chosen["apm"])
            reference = self.reference_from(raw)  # "Push payment integration": payment_data
            deadline = reference.deadline if reference and reference.deadline else deadline
        else:
            url = self.payment_page_url(token, chosen["apm"], str(chosen.get("lang") or ""))
            raw = data
        return PaymentStart(
            action=PaymentAction(url=url),
            gateway_id=uuid,
            expires_at=_lisbon_end_of(deadline) if deadline else None,
            raw=raw,
        )

    # -- saved cards and push payments ---------------------------------------------------------

    def direct_payment(
        self, order_uuid: str, card_uuid: str, customer_ip: str = "", currency: str | None = None
    ) -> DirectPayment:
        """``POST /payment/direct``: charge a saved card for an order. An answer ``303`` (or a
        body with ``code: 303``) carries in ``details`` the 3-D Secure page for the customer."""
        body = {"order_uuid": order_uuid, "card_uuid": card_uuid}
        if customer_ip:
            body["customer_ip"] = customer_ip
        http_status, data = self.call(
            "POST", "payment/direct", body, expected=(200, 201, 303), with_status=True
        )
        if http_status == 303 or data.get("code") == 303:
            url = str(data.get("details") or "")
            if not url.startswith(("http://", "https://")):
                message = "Paylands asked for 3-D Secure without a page to send the customer to."
                raise self.answer_error(message, data)
            return DirectPayment(redirect_url=url, raw=data)
        return DirectPayment(status=self.status_from(data, currency), raw=data)

    def pay_with_saved_card(
        self, invoice: Invoice, card_uuid: str, customer_ip: str = ""
    ) -> DirectPayment:
        """Charge a saved card for an invoice whose order exists at Paylands. Apply the answer
        with ``payments.refresh(invoice)``, or send the customer to ``redirect_url`` first."""
        return self.direct_payment(invoice.gateway_id, card_uuid, customer_ip, invoice.currency)

    def push(self, order_uuid: str, apm: str) -> dict[str, Any]:
        """The push payment request for an order ("Push payment integration"): MB WAY sends
        the customer a phone notification; Multibanco and Payshop answer with the reference."""
        path = str(self.option("push_path") or "payment/push")
        return cast(dict[str, Any], self.call("POST", path, {"order_uuid": order_uuid, "apm": apm}))

    def reference_from(self, data: Mapping[str, Any]) -> PaymentReference | None:
        """The reference in an answer's transactions (``payment_data``), if there is one."""
        try:
            order = self._order(data)
        except GatewayAPIError:
            return None
        for transaction in reversed(order.get("transactions") or []):
            payment = transaction.get("payment_data") if isinstance(transaction, Mapping) else None
            if isinstance(payment, Mapping) and payment.get("reference"):
                return PaymentReference(
                    reference=str(payment["reference"]),
                    entity=str(payment.get("entity") or ""),
                    deadline=_parse_day(payment.get("deadline")),
                    raw=dict(payment),
                )
        return None

    def payment_reference(self, invoice: Invoice) -> PaymentReference | None:
        """The Payshop or Multibanco reference (and deadline) of a pushed invoice, from what the
        invoice keeps of the last answer, else read from Paylands."""
        found = self.reference_from(invoice.gateway_data or {})
        if found is None and invoice.gateway_id:
            found = self.reference_from(self.read_order(invoice.gateway_id))
        return found

    def payment_instructions(self, invoice: Invoice) -> dict[str, str] | None:
        """The pushed reference, from the stored answer only (no call: lists show it)."""
        found = self.reference_from(invoice.gateway_data or {})
        if found is None:
            return None
        return {
            "reference": found.reference,
            "entity": found.entity,
            "deadline": found.deadline.isoformat() if found.deadline else "",
        }

    # -- deferred: confirmation and cancellation -------------------------------------------------

    def capture(self, invoice: Invoice, amount: Decimal) -> StatusResult:
        """``POST /payment/confirmation``: take all or part of a held amount."""
        cents = money.to_minor_units(amount, invoice.currency)
        body = {"order_uuid": invoice.gateway_id, "amount": cents}
        return self._after_operation(invoice, self.call("POST", "payment/confirmation", body))

    def cancel(self, invoice: Invoice) -> StatusResult:
        """``POST /payment/cancellation``: release a held amount not yet confirmed."""
        data = self.call("POST", "payment/cancellation", {"order_uuid": invoice.gateway_id})
        return self._after_operation(invoice, data)

    def _after_operation(self, invoice: Invoice, data: Mapping[str, Any]) -> StatusResult:
        if isinstance(data.get("order"), Mapping) and data["order"].get("status"):
            return self.status_from(data, invoice.currency)
        return self.fetch_status(invoice)

    # -- refunds -------------------------------------------------------------------------------

    def _refund_result(self, line: Mapping[str, Any], currency: str, raw: Any) -> RefundResult:
        status = str(line.get("status", "")).upper()
        return RefundResult(
            status=TRANSACTION_STATUS_MAP.get(status, RefundStatus.PENDING),
            gateway_refund_id=str(line.get("uuid") or ""),
            amount=money.from_minor_units(line.get("amount") or 0, currency),
            currency=currency,
            failure_reason=_error_text(line),
            raw=raw,
        )

    @staticmethod
    def _refund_transactions(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return [
            t
            for t in order.get("transactions") or []
            if isinstance(t, Mapping) and str(t.get("operative", "")).upper() == "REFUND"
        ]

    def refund(self, refund: Refund) -> RefundResult:
        """``POST /payment/refund`` with the amount always given (total or partial)."""
        invoice = refund.invoice
        left = Decimal(invoice.captured_amount) - Decimal(invoice.refunded_amount)
        if refund.amount > left:
            raise RefundError(
                gettext("Refund of %(amount)s exceeds the %(left)s %(currency)s left to refund.")
                % {"amount": refund.amount, "left": left, "currency": invoice.currency},
                gateway=self.alias,
                code="refund_exceeds_captured",
            )
        cents = money.to_minor_units(refund.amount, refund.currency)
        body = {"order_uuid": invoice.gateway_id, "amount": cents}
        try:
            data = self.call("POST", "payment/refund", body)
        except (PaymentDeclined, GatewayAPIError) as exc:
            # Any 4xx answer but 429 refuses the refund (error_for makes a 402 PaymentDeclined).
            status = (exc.http_status or 0) if isinstance(exc, GatewayAPIError) else 402
            if 400 <= status < 500 and status != 429:
                raise RefundError(
                    exc.message, gateway=self.alias, response=exc.response, code=exc.code
                ) from None
            raise
        transaction = data.get("transaction")
        if not isinstance(transaction, Mapping):
            refunds = self._refund_transactions(self._order(data))
            candidates = [t for t in refunds if t.get("amount") == cents]
            if not candidates:
                message = "Paylands answered the refund without its transaction."
                raise self.answer_error(message, data)
            transaction = candidates[-1]
        return self._refund_result(transaction, refund.currency, data)

    def list_refunds(self, invoice: Invoice) -> list[RefundResult]:
        refunds = self._refund_transactions(self._order(self.read_order(invoice.gateway_id)))
        return [self._refund_result(t, invoice.currency, dict(t)) for t in refunds]

    # -- notifications -------------------------------------------------------------------------

    def client_address(self, request: InboundRequest) -> str:
        """The address a notification came from: ``REMOTE_ADDR``, or behind
        ``notification_proxy_hops`` = N proxies of the shop's own, the N-th address of
        X-Forwarded-For counted from the right (the one the outermost proxy saw; those
        further left are whatever the sender wrote). X-Forwarded-For is never read unless
        that option says so."""
        hops = proxy_hops(self._notification_option("notification_proxy_hops"))
        if hops == 0:
            return str(request.remote_addr or "")
        forwarded = [
            part.strip() for part in request.header("x-forwarded-for").split(",") if part.strip()
        ]
        if len(forwarded) < hops:
            raise _refused_sender(
                f"X-Forwarded-For names {len(forwarded)} address(es), fewer than the"
                f" {hops} proxy hop(s) of notification_proxy_hops"
            )
        return forwarded[-hops]

    def check_source(self, request: InboundRequest) -> None:
        """Refuse a notification whose sender is not in ``notification_ips`` (when the alias
        lists any), before its body is read ("Whitelist IPS")."""
        if self.options.get("notification_ips") is None:
            return
        networks = notification_networks(self._notification_option("notification_ips"))
        try:
            address = ipaddress.ip_address(self.client_address(request))
        except ValueError:
            raise _refused_sender("the notification's source address cannot be read") from None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack server's ::ffff:203.0.113.5
        if not any(address in network for network in networks):
            raise _refused_sender(f"source address {address} is not in notification_ips")

    def check_validation_hash(self, payload: Mapping[str, Any]) -> None:
        """Refuse a notification whose ``validation_hash`` is missing or not ours."""
        algorithm = str(self._notification_option("validation_hash") or "sha256").lower()
        if algorithm == "off":
            return
        if not payload.get("validation_hash"):
            raise NotificationRejected("missing validation_hash", code="signature")
        if not hash_matches(payload, str(self.options["signature"]), algorithm):
            raise NotificationRejected("validation_hash does not match", code="signature")

    def parse_notification(self, request: InboundRequest) -> NotificationEvent:
        """A notification to ``url_post``: checked by its sender (``notification_ips``) and by
        hash (``validation_hash``), each where configured, both when both are; then only a
        hint. The order is read back before any change, and what it claims is compared with
        that read."""
        self.check_source(request)
        with malformed():
            payload = json.loads(request.body.decode("utf-8"))
            order = payload["order"]
            order_uuid = str(order["uuid"])
            wire_status = str(order.get("status") or "").upper()
        self.check_validation_hash(payload)
        claim = None
        if wire_status in ORDER_STATUS_MAP and order.get("currency") and "amount" in order:
            try:
                currency = currency_from_wire(order["currency"])
                claim = StatusResult(
                    status=ORDER_STATUS_MAP[wire_status],
                    gateway_id=order_uuid,
                    amount=money.from_minor_units(order["amount"], currency),
                    currency=currency,
                )
            except ValidationError:
                raise NotificationRejected(
                    "notification names an unreadable amount or currency", code="malformed"
                ) from None
        transactions = order.get("transactions") or []
        last = transactions[-1] if transactions else None
        last_uuid = last.get("uuid", "") if isinstance(last, Mapping) else ""
        refunds = wire_status in ("REFUNDED", "PARTIALLY_REFUNDED")
        return NotificationEvent(
            invoice_id=str(order.get("reference") or ""),
            gateway_id=order_uuid,
            dedup_key=f"{order_uuid}:{wire_status}:{last_uuid}",
            status=None if refunds else claim,
            kind="refund" if refunds else "payment",
            raw=payload,
        )
