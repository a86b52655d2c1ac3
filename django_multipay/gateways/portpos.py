"""PortPos (PortWallet API v2): hosted invoices, IPN confirmed by IPN validate, refunds.

Wire format: ../shared/gateway-docs/portpos-v2.txt (sections named in the comments below);
choices where it is silent: docs/gateways/portpos.md.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext as _

from django_multipay import logs, money
from django_multipay.exceptions import (
    GatewayAPIError,
    InvalidRequest,
    NotificationRejected,
    RefundError,
)
from django_multipay.gateways import portwallet_common
from django_multipay.gateways.base import (
    ApiCall,
    BaseGateway,
    Capabilities,
    GatewayOption,
    PaymentOption,
)
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

logger = logs.get_logger("django_multipay.gateways.portpos")

LIVE_API = "https://api.portpos.com/payment/v2/"
SANDBOX_API = "https://api-sandbox.portpos.com/payment/v2/"
# Introduction: "PortPos payment URL is …/payment/?invoice=Your_Invoice_ID".
LIVE_PAYMENT_PAGE = "https://payment.portpos.com/payment/?invoice={invoice_id}"
SANDBOX_PAYMENT_PAGE = "https://payment-sandbox.portpos.com/payment/?invoice={invoice_id}"

#: Currencies the official SDK's validator takes (gateway notes, order-validator.js).
CURRENCIES = frozenset({"BDT", "USD", "GBP", "EUR"})
MIN_AMOUNT = Decimal("0.1")
MAX_AMOUNT = Decimal("99999999")
#: Refund Request: "You can do so up to 5 times, until the entire transaction has been refunded."
MAX_REFUNDS = 5
#: An invoice's ``order.status`` as the state of its refunds (Retrieving an invoice; the
#: refund call answers REFUND_PENDING while PortPos works on it, see Refund Request).
REFUND_STATES = {
    "ACCEPTED": RefundState.NONE,
    "REFUND_PENDING": RefundState.IN_PROGRESS,
    "REFUND_PROCESSING": RefundState.IN_PROGRESS,
    "PARTIALLY_REFUNDED": RefundState.PARTIAL,
    "REFUNDED": RefundState.FULL,
}


def _codes(table: str) -> frozenset[str]:
    return frozenset(table.split())


# ISO 3166-1 (2024): alpha-2 and alpha-3 codes, as "billing.customer.address.country" asks.
ISO_ALPHA2 = _codes(
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW"
)
ISO_ALPHA3 = _codes(
    "ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD "
    "BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR "
    "COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH "
    "ESP EST ETH FIN FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL "
    "GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR "
    "JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR "
    "MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM NCL "
    "NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY "
    "PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP "
    "SUR SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA "
    "UGA UKR UMI URY USA UZB VAT VCT VEN VGB VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE"
)

#: Create Invoice: (min, max) characters of each text field, in request order.
TEXT_LIMITS: dict[str, tuple[int, int]] = {
    "order.reference": (1, 100),
    "product.name": (3, 150),
    "product.description": (3, 300),
    **{
        f"{part}.customer.{name}": limits
        for part in ("billing", "shipping")
        for name, limits in (
            ("name", (2, 50)),
            ("email", (3, 50)),
            ("phone", (9, 15)),
            ("address.street", (2, 200)),
            ("address.city", (2, 200)),
            ("address.state", (2, 50)),
            ("address.zipcode", (3, 8)),
            ("address.country", (2, 3)),
        )
    },
}
URL_LIMITS = (10, 200)
VALIDITY_LIMITS = (60, 31536000)
MAX_CUSTOMS = 10
MAX_CODES = 10
MAX_TENURES = 10
TENURE_LIMITS = (0, 60)
CODE_LIMITS = (1, 100)

DECIMAL_RX = re.compile(r"^[0-9]+(\.[0-9]+)?$")
PHONE_RX = re.compile(r"^\+?[0-9]+$")
CURRENCY_RX = re.compile(r"^[A-Z]{3}$")
RX_SPACE = re.compile(r"\s")
INVOICE_ID_RX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_MISSING = object()


def authorization(app_key: str, secret_key: str, timestamp: int) -> str:
    """``Bearer base64(APPKEY:md5(SECRETKEY + TIMESTAMP))``, md5 in lower-case hex
    (Create Invoice, Authentication)."""
    token = portwallet_common.md5_token(secret_key, timestamp)
    return "Bearer " + base64.b64encode(f"{app_key}:{token}".encode()).decode("ascii")


def _get(data: Mapping[str, Any], path: str, default: Any = _MISSING) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def _is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host and no spaces (any host name: shops run on
    ``localhost`` or single-label hosts in development)."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not RX_SPACE.search(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pairs_ok(items: list[Any]) -> bool:
    """Each item one ``{"key": "value"}`` pair of strings (customs)."""
    return all(
        isinstance(item, Mapping)
        and len(item) == 1
        and all(isinstance(k, str) and k and isinstance(v, str) for k, v in item.items())
        for item in items
    )


def _items_problem(key: str, items: Any) -> str | None:
    """What is wrong with a discount's ``codes`` or an EMI's ``tenures``, or ``None``."""
    limit = MAX_CODES if key == "codes" else MAX_TENURES
    if not isinstance(items, list) or len(items) > limit:
        return _("must be a list of at most %(maximum)s items") % {"maximum": limit}
    if key == "codes":
        low, high = CODE_LIMITS
        ok = all(isinstance(code, str) and low <= len(code) <= high for code in items)
        return None if ok else _("each code must be 1 to 100 characters")
    low, high = TENURE_LIMITS
    ok = all(_is_int(tenure) and low <= tenure <= high for tenure in items)
    return None if ok else _("each tenure must be whole months from 0 to 60")


def _field_problem(name: str, value: Any) -> str | None:
    """What is wrong with one present field of ``order``, ``product`` or a customer."""
    if name in TEXT_LIMITS:
        low, high = TEXT_LIMITS[name]
        if not isinstance(value, str) or not low <= len(value) <= high:
            return _("must be %(low)s to %(high)s characters") % {"low": low, "high": high}
        if name.endswith(".email"):
            try:
                validate_email(value)
            except ValidationError:
                return _("must be a valid email address")
        elif name.endswith(".phone") and not PHONE_RX.match(value):
            return _("must be a phone number of digits, optionally after '+'")
        elif name.endswith(".country") and value not in ISO_ALPHA2 | ISO_ALPHA3:
            return _("must be an ISO 3166-1 alpha-2 or alpha-3 country code")
    elif name == "order.amount":
        if not isinstance(value, str) or not DECIMAL_RX.match(value):
            return _("must be a decimal string of digits and '.'")
        if not MIN_AMOUNT <= Decimal(value) <= MAX_AMOUNT:
            return _("must be between %(minimum)s and %(maximum)s") % {
                "minimum": MIN_AMOUNT,
                "maximum": MAX_AMOUNT,
            }
    elif name == "order.currency":
        if not isinstance(value, str) or not CURRENCY_RX.match(value):
            return _("must be three letters A-Z")
    elif name == "order.validity":
        low, high = VALIDITY_LIMITS
        if not _is_int(value) or not low <= value <= high:
            return _("must be whole seconds from %(low)s to %(high)s") % {"low": low, "high": high}
    else:  # order.redirect_url, order.ipn_url
        low, high = URL_LIMITS
        if not isinstance(value, str) or not low <= len(value) <= high:
            return _("must be a URL of %(low)s to %(high)s characters") % {"low": low, "high": high}
        if not _is_http_url(value):
            return _("must be a valid http URL")
    return None


def request_errors(body: Mapping[str, Any]) -> dict[str, str]:
    """Every field of a Create Invoice body that breaks the documented limits, by its path.

    The backend's reading, checked before sending; the emulator states its own from the
    document (``sandbox/portpos.py``, ``invoice_problems``), so that one misreading cannot pass
    both."""
    errors: dict[str, str] = {}
    optional = ("order.ipn_url", "order.validity", "order.reference")
    single = ("order.amount", "order.currency", "order.redirect_url", "order.ipn_url")
    for name in (*single, "order.validity", *TEXT_LIMITS):
        value = _get(body, name)
        # An absent, null or empty field is "required" or left out; an empty validity is
        # still no number of seconds.
        if value is _MISSING or value is None or (value == "" and name != "order.validity"):
            if name not in optional:
                # Translators: a field's whole message, after its name ("order.amount: required").
                errors[name] = _("required")
        elif problem := _field_problem(name, value):
            errors[name] = problem

    if (customs := body.get("customs", _MISSING)) is not _MISSING:
        if not isinstance(customs, list) or len(customs) > MAX_CUSTOMS:
            errors["customs"] = _("must be a list of at most %(maximum)s key/value pairs") % {
                "maximum": MAX_CUSTOMS
            }
        elif not _pairs_ok(customs):
            # Translators: {"key": "value"} is JSON: keep it as written.
            errors["customs"] = _('each item must be one {"key": "value"} pair of strings')

    for section, key in (("discount", "codes"), ("emi", "tenures")):
        part = body.get(section, _MISSING)
        if part is _MISSING:
            continue
        if not isinstance(part, Mapping):
            errors[section] = _("must be an object")
            continue
        if part.get("enable") not in (0, 1) or isinstance(part.get("enable"), bool):
            errors[f"{section}.enable"] = _("must be 0 or 1")
        if key in part and (problem := _items_problem(key, part[key])):
            errors[f"{section}.{key}"] = problem
    return errors


def _clean_phone(value: str) -> str:
    """Drop the separators people type (spaces, dashes, dots, brackets); keep digits and '+'.
    Digits typed in another script (Bangla, on Bangladeshi keyboards; Arabic-Indic) become
    0-9: "billing.customer.phone" must be "a valid phone number" of 9 to 15 characters."""
    text = re.sub(r"[\s().-]", "", value)
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _customs(value: Any) -> list[dict[str, str]]:
    """Customs from an option: a mapping, or a list of one-pair mappings, in order."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [{str(k): str(v)} for k, v in value.items()]
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        # An item that is not a mapping is kept as it is, reported by request_errors.
        return [
            pair
            for item in value
            for pair in (_customs(item) if isinstance(item, Mapping) else [item])
        ]
    return [value]


def _clean_customs(value: Any) -> list[dict[str, str]]:
    """Customs for one payment: a mapping, or a list of one-pair mappings, of strings."""
    if isinstance(value, Mapping):
        pairs = [{k: v} for k, v in value.items()]
    elif isinstance(value, list):
        pairs = value
    else:
        # Translators: {"key": "value"} is JSON: keep it as written.
        raise ValueError(_('must be an object, or a list of {"key": "value"} pairs'))
    if len(pairs) > MAX_CUSTOMS:
        raise ValueError(
            _("must be at most %(maximum)s key/value pairs") % {"maximum": MAX_CUSTOMS}
        )
    if not _pairs_ok(pairs):
        raise ValueError(_('each item must be one {"key": "value"} pair of strings'))
    return [dict(item) for item in pairs]


def _clean_offer(value: Any, key: str) -> dict[str, Any]:
    """A discount or EMI for one payment ("Create an invoice with discount" / "with EMI"):
    ``true``/``false``, or ``{"enable": 1|0 (or true|false), "codes"|"tenures": [...]}`` held
    to the document's limits, as the alias's own are. Kept as ``{"enable": bool, key: [...]}``."""
    if isinstance(value, bool) or (_is_int(value) and value in (0, 1)):
        return {"enable": bool(value)}
    if not isinstance(value, Mapping):
        raise ValueError(
            # Translators: enable, codes and tenures are field names of the PortPos API; keep them.
            _("must be true, false or an object with enable and %(items)s") % {"items": key}
        )
    unknown = sorted(str(k) for k in value if k not in ("enable", key))
    if unknown:
        raise ValueError(
            _("unknown keys %(unknown)s; allowed: %(allowed)s")
            % {"unknown": ", ".join(unknown), "allowed": f"enable, {key}"}
        )
    enable = value.get("enable", _MISSING)
    if enable is _MISSING:
        # "enable Integer COMPULSORY"
        raise ValueError(f"enable: {_('required')}")
    if not (isinstance(enable, bool) or (_is_int(enable) and enable in (0, 1))):
        raise ValueError(f"enable: {_('must be 0 or 1')}")
    if key not in value:
        return {"enable": bool(enable)}
    if problem := _items_problem(key, value[key]):
        raise ValueError(f"{key}: {problem}")
    return {"enable": bool(enable), key: list(value[key])}


#: What one payment may choose (``payments.begin_payment(options=...)``, or staff through the
#: API). A customer never sets these.
PAYMENT_OPTIONS: dict[str, PaymentOption] = {
    # gateway-notes "PortPos / Endpoints", POST /invoice customs[]: key/value pairs shown on
    # the invoice, after the alias's own ``customs``; at most 10 in all.
    "customs": PaymentOption(object, "Key/value pairs shown on the invoice.", clean=_clean_customs),
    # "Create an invoice with discount": discount{enable, codes[]}; replaces the alias's
    # ``discount`` and ``discount_codes`` for the payment.
    "discount": PaymentOption(
        object,
        "true, false, or {enable, codes}: discount codes of the PortPos discount panel.",
        clean=partial(_clean_offer, key="codes"),
        max_depth=2,
    ),
    # "Create an invoice with EMI": emi{enable, tenures[]}; replaces the alias's ``emi`` and
    # ``emi_tenures`` for the payment.
    "emi": PaymentOption(
        object,
        "true, false, or {enable, tenures}: EMI tenures in months.",
        clean=partial(_clean_offer, key="tenures"),
        max_depth=2,
    ),
}


class PortPosGateway(BaseGateway):
    """PortPos API v2: hosted payment page, IPN confirmed with IPN validate, up to 5 partial
    refunds. Options: docs/gateways/portpos.md."""

    display_name = "PortPos"
    emulator = ("django_multipay.sandbox.portpos", "invoice")
    capabilities = Capabilities(
        refund=True,
        partial_refund=True,
        max_refunds=MAX_REFUNDS,
        # No idempotency key in the API: a refund whose answer was lost is never resent.
        idempotent_refunds=False,
        # POST /invoice/cancel appears only in a third-party client, not in the vendor's
        # documents: not offered (an unpaid invoice expires after its validity).
        cancel=False,
        list_refunds=True,
        # IPN: invoice, amount, status, reference, unsigned.
        signed_notifications=False,
        currencies=CURRENCIES,
        min_amount=MIN_AMOUNT,
        max_amount=MAX_AMOUNT,
    )
    # docs/gateways/portpos.md, "Options" (emi, discount, customs: per-payment defaults).
    declared_options = (
        GatewayOption("app_key", required=True, secret=True),
        GatewayOption("secret_key", required=True, secret=True),
        *(GatewayOption(name) for name in ("payment_url", "product_name")),
        GatewayOption("validity", int),
        GatewayOption("reference", default="invoice"),
        GatewayOption("send_ipn_url", bool, default=True),
        *(GatewayOption(name, None) for name in ("emi", "discount", "customs")),
        *(GatewayOption(name, list) for name in ("emi_tenures", "discount_codes")),
        GatewayOption("defaults", dict, default={}),
        GatewayOption("settle_refunds_from_state", bool, default=True),
    )
    live_base_url = LIVE_API
    sandbox_base_url = SANDBOX_API
    payment_options = PAYMENT_OPTIONS

    def clean_payment_options(self, options: dict[str, Any], order: Order | None) -> dict[str, str]:
        """The payment's customs and the alias's own count together against the limit."""
        own = len(_customs(self.option("customs")))
        if len(options.get("customs") or ()) + own > MAX_CUSTOMS:
            return {
                # Translators: the payment's customs and the alias's own are too many together.
                "options.customs": _("more than %(maximum)s pairs with the alias's %(own)s")
                % {"maximum": MAX_CUSTOMS, "own": own}
            }
        return {}

    # -- requests ----------------------------------------------------------------------------

    #: How an answer we cannot read is told (docs/gateways/portpos.md, "Errors").
    unreadable_message = "PortPos answered {what} that cannot be read ({why})"

    def request_headers(self, call: ApiCall) -> dict[str, str]:
        """Fresh headers: the token is rebuilt from the current time for every request."""
        app_key, secret_key = str(self.options["app_key"]), str(self.options["secret_key"])
        token = authorization(app_key, secret_key, portwallet_common.unix_time())
        return {"Authorization": token, "Accept": "application/json"}

    def error_for(self, error: GatewayAPIError, call: ApiCall) -> GatewayAPIError:
        """The gateway's own message from its error envelope (cause, explanation, property)."""
        status, answer = error.http_status, error.response
        details = answer.get("error") if isinstance(answer, Mapping) else None
        where = f"{call.method} {call.path}"
        if isinstance(details, Mapping):
            explanation = str(details.get("explanation") or details.get("message") or "").strip()
            prop = str(details.get("property") or "").strip()
            cause = str(details.get("cause") or "").strip()
            detail = explanation or cause or "no explanation"
            detail = f"{prop}: {detail}" if prop else detail
            message = f"PortPos refused {where} (HTTP {status}): {detail}"
            code = re.sub(r"[^a-z0-9_]+", "_", cause.lower()).strip("_") or None
        else:
            snippet = answer.strip()[:200] if isinstance(answer, str) else ""
            message = f"PortPos answered {where} with HTTP {status}" + (
                f": {snippet}" if snippet else ""
            )
            code = None
        if status in (401, 403):
            message += " (check the app_key and secret_key of this alias)"
        # The answer came redacted; redacting it again changes nothing.
        return self.answer_error(message, answer, http_status=status, code=code)

    def parse_answer(self, response: requests.Response, call: ApiCall) -> dict[str, Any]:
        """The envelope's ``data``. Every failure is a clear error."""
        # Response format: {"result": "success", "data": {...}} (the refund sample says
        # "SUCCESS"); errors: {"result": ..., "error": {cause, explanation, property}}.
        where = f"{call.method} {call.path}"
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            message = f"PortPos answered {where} (HTTP {status}) with a body that is not JSON"
            raise self.answer_error(message, response.text[:500], http_status=status) from None
        if not isinstance(payload, dict):
            message = f"PortPos answered {where} with JSON that is not an object"
            raise self.answer_error(message, payload, http_status=status)
        if payload.get("error") or str(payload.get("result", "")).lower() != "success":
            refused = GatewayAPIError(http_status=status, response=self.redact(payload))
            raise self.error_for(refused, call)
        data = payload.get("data")
        if not isinstance(data, dict):
            message = f"PortPos answered {where} without a data object"
            raise self.answer_error(message, payload, http_status=status)
        return data

    # -- create invoice ----------------------------------------------------------------------

    def _customer(self, order: Order, address: Mapping[str, str]) -> dict[str, Any]:
        defaults: Mapping[str, Any] = self.option("defaults", {})
        street = ", ".join(p for p in (address.get("line1"), address.get("line2")) if p)

        def pick(*values: Any, default: str) -> str:
            found = next((str(v).strip() for v in values if v and str(v).strip()), "")
            return found or str(defaults.get(default) or "").strip()

        phone = pick(address.get("phone"), order.customer_phone, default="phone")
        return {
            "name": pick(address.get("name"), order.customer_name, default="name"),
            "email": pick(address.get("email"), order.customer_email, default="email"),
            "phone": _clean_phone(phone),
            "address": {
                "street": pick(street, default="street"),
                "city": pick(address.get("city"), default="city"),
                "state": pick(address.get("state"), default="state"),
                "zipcode": pick(address.get("postal_code"), default="zipcode"),
                "country": pick(address.get("country"), default="country").upper(),
            },
        }

    def _product(self, order: Order) -> dict[str, str]:
        items = list(order.items.all())
        if self.option("product_name"):
            name = str(self.option("product_name"))
        elif items:
            name = items[0].name + (f" and {len(items) - 1} more" if len(items) > 1 else "")
        else:
            name = order.description or f"Order {order.reference}"
        listed = ", ".join(f"{i.quantity} x {i.name}" for i in items)
        description = order.description or listed or f"Order {order.reference}"
        return {"name": _shorten(name, 150), "description": _shorten(description, 300)}

    def invoice_request(self, invoice: Invoice, urls: PaymentUrls) -> dict[str, Any]:
        """The Create Invoice body for ``invoice``, from its order and this alias's options."""
        order = invoice.order
        reference = order.reference if self.option("reference") == "order" else str(invoice.pk)
        body: dict[str, Any] = {
            "order": {
                "amount": money.format_decimal(invoice.amount, invoice.currency),
                "currency": invoice.currency,
                "redirect_url": urls.return_url,
                "reference": reference,
            },
            "product": self._product(order),
        }
        if self.option("send_ipn_url", True):
            body["order"]["ipn_url"] = urls.notify_url
        if self.option("validity") is not None:
            body["order"]["validity"] = self.option("validity")
        billing = order.billing_address or {}
        # Both customers are compulsory; an order without a shipping address ships to billing.
        body["billing"] = {"customer": self._customer(order, billing)}
        body["shipping"] = {"customer": self._customer(order, order.shipping_address or billing)}
        for section, key in (("discount", "codes"), ("emi", "tenures")):
            if (offer := self._offer(invoice, section, key)) is not None:
                body[section] = offer
        customs = _customs(self.option("customs"))
        # The payment's own, chosen by the shop or its staff; never the order's metadata.
        customs += _customs((invoice.gateway_options or {}).get("customs"))
        if customs:
            body["customs"] = customs
        return body

    def _offer(self, invoice: Invoice, section: str, key: str) -> dict[str, Any] | None:
        """``discount`` or ``emi`` as sent ("Create an invoice with discount" / "with EMI":
        ``enable`` 1 or 0, the list when there is one): the payment's own option, which
        replaces the alias's for that payment, else the alias's ``discount``/``emi`` and
        ``discount_codes``/``emi_tenures`` (the list enables it unless the flag is false)."""
        if (chosen := (invoice.gateway_options or {}).get(section)) is not None:
            offer = _clean_offer(chosen, key)
        else:
            flag = self.options.get(section)
            items = self.options.get(f"{section}_{key}")
            if flag is None and not items:
                return None
            if isinstance(flag, Mapping):
                offer = _clean_offer(flag, key)
            else:
                offer = {"enable": bool(items) if flag is None else bool(flag)}
            if items and key not in offer:
                offer[key] = list(items)  # held to the document's limits by request_errors
        wire: dict[str, Any] = {"enable": int(offer["enable"])}
        if offer.get(key):
            wire[key] = list(offer[key])
        return wire

    def payment_page(self, invoice_id: str) -> str:
        """The documented payment URL, used when the answer has no ``action.url``."""
        template = self.option("payment_url") or (
            SANDBOX_PAYMENT_PAGE if self.sandbox else LIVE_PAYMENT_PAGE
        )
        return str(template).format(invoice_id=invoice_id)

    def start_payment(self, invoice: Invoice, urls: PaymentUrls) -> PaymentStart:
        body = self.invoice_request(invoice, urls)
        if errors := request_errors(body):
            # Nothing is sent: the gateway would refuse it anyway, one field at a time.
            raise InvalidRequest(
                _("PortPos cannot take this order: %(problems)s")
                % {"problems": "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))},
                fields=errors,
                gateway=self.alias,
            )
        # Create Invoice: POST /invoice, answered 201.
        data = self.call("POST", "invoice", body, expected=(200, 201))
        invoice_id = data.get("invoice_id")
        if not isinstance(invoice_id, str) or not INVOICE_ID_RX.match(invoice_id):
            raise self.answer_error("PortPos created an invoice without a usable invoice_id", data)
        order = data.get("order")
        if isinstance(order, Mapping) and order.get("amount") is not None:
            try:
                same = money.same_money(
                    money.to_decimal(order["amount"]),
                    str(order.get("currency") or invoice.currency),
                    invoice.amount,
                    invoice.currency,
                )
            except ValidationError:
                same = False
            if not same:
                raise self.answer_error(
                    f"PortPos created invoice {invoice_id} for {order.get('amount')} "
                    f"{order.get('currency')}, not {invoice.amount} {invoice.currency}",
                    data,
                )
        url = _get(data, "action.url")
        if not (isinstance(url, str) and url.startswith(("https://", "http://"))):
            url = self.payment_page(invoice_id)
        validity = self.option("validity")
        expires = timezone.now() + timedelta(seconds=int(validity)) if validity else None
        return PaymentStart(
            action=PaymentAction(url=url), gateway_id=invoice_id, expires_at=expires, raw=data
        )

    # -- invoice status ----------------------------------------------------------------------

    def _status(self, invoice: Invoice, data: Mapping[str, Any]) -> StatusResult:
        """An invoice envelope's ``data`` (Retrieving an invoice, IPN validate) as our status."""
        with self.reading("an invoice", data):
            order = data["order"]
            name = str(order["status"]).strip().upper()
            currency = money.normalize_currency(order["currency"])
            amount = money.validate_amount(order["amount"], currency)
            gateway_id = str(data.get("invoice_id") or invoice.gateway_id)
            transactions = data.get("transactions") or []
            if not isinstance(transactions, list):
                raise TypeError("transactions is not a list")
        if gateway_id != invoice.gateway_id and invoice.gateway_id:
            raise self.answer_error(
                f"PortPos answered invoice {gateway_id} when {invoice.gateway_id} was asked for",
                data,
            )
        status = portwallet_common.invoice_status(name)
        if status is None:
            # Unknown to the documents: say so, and leave the invoice as it is.
            logger.warning(
                "PortPos reports unknown status %r for invoice %s; left %s",
                name,
                invoice.pk,
                invoice.status,
            )
        paid = status == InvoiceStatus.PAID
        captured = self._captured(transactions, currency, amount) if paid else None
        reason = ""
        if status == InvoiceStatus.FAILED:
            detail = _get(data, "billing.gateway.reason", None)
            reason = f"PortPos: {name}" + (f" ({str(detail).strip()})" if detail else "")
        return StatusResult(
            status=invoice.status if status is None else status,
            gateway_id=gateway_id,
            amount=amount,
            currency=currency,
            captured_amount=captured,
            failure_reason=reason,
            raw=data,
        )

    @staticmethod
    def _captured(transactions: list[Any], currency: str, amount: Decimal) -> Decimal | None:
        """What the accepted purchase lines add up to (the negative fee line is the gateway's
        charge to the shop, not money back to the customer). ``None`` when there are none."""
        found: list[Decimal] = []
        for line in transactions:
            if not isinstance(line, Mapping):
                continue
            kind = str(line.get("type") or "").lower()
            if "purchase" not in kind or str(line.get("status", "")).upper() != "ACCEPTED":
                continue
            try:
                value = money.to_decimal(line.get("amount"))
            except ValidationError:
                continue
            if value > 0 and str(line.get("currency") or currency).upper() == currency:
                found.append(value)
        return min(sum(found, Decimal(0)), amount) if found else None

    def fetch_status(self, invoice: Invoice) -> StatusResult:
        # Retrieving an invoice: GET /invoice/{id}.
        data = self.call("GET", f"invoice/{invoice.gateway_id}", expected=(200,))
        return self._status(invoice, data)

    # -- IPN ---------------------------------------------------------------------------------

    def parse_notification(self, request: InboundRequest) -> NotificationEvent:
        """Instant Payment Notification: POST with invoice, amount, status and reference;
        unsigned, so only a hint: :meth:`verify_notification` asks IPN validate."""
        with malformed("malformed IPN body"):
            fields: dict[str, Any] = {}
            if request.content_type == "application/json":
                fields = request.json()
                if not isinstance(fields, dict):
                    raise ValueError("not an object")
            elif request.body:
                fields = request.form()
            if not fields.get("invoice"):
                fields = {**request.query.dict(), **fields}
        invoice_id = str(fields.get("invoice") or "").strip()
        if not INVOICE_ID_RX.match(invoice_id):
            raise NotificationRejected("IPN without a valid invoice", code="malformed")
        amount_text = str(fields.get("amount") or "").strip()
        if not DECIMAL_RX.match(amount_text):
            raise NotificationRejected("IPN without a valid amount", code="malformed")
        name = str(fields.get("status") or "").strip().upper()
        reference = str(fields.get("reference") or "").strip()
        raw = {"invoice": invoice_id, "amount": amount_text, "status": name, "reference": reference}
        if portwallet_common.is_refund_state(name):
            # A refund moved: our refunds are settled from the invoice's refund lines.
            return NotificationEvent(
                invoice_id=reference, gateway_id=invoice_id, kind="refund", raw=raw
            )
        mapped = portwallet_common.invoice_status(name) if name else None
        claim = None
        if mapped is not None:
            claim = StatusResult(status=mapped, gateway_id=invoice_id, amount=Decimal(amount_text))
        return NotificationEvent(
            invoice_id=reference,
            gateway_id=invoice_id,
            dedup_key=f"ipn:{invoice_id}:{name or 'none'}",
            status=claim,
            raw=raw,
        )

    def verify_notification(self, invoice: Invoice, event: NotificationEvent) -> StatusResult:
        """IPN validate: GET /invoice/ipn/{invoice}/{amount}, then the core compares the
        status, amount and currency it confirms with the IPN's claim and the invoice."""
        if event.gateway_id and event.gateway_id != invoice.gateway_id:
            raise NotificationRejected(
                "IPN names another PortPos invoice than the reference's", code="mismatch"
            )
        claim = event.status
        if claim is not None and claim.amount is not None and claim.amount != invoice.amount:
            raise NotificationRejected("IPN names another amount than the invoice", code="amount")
        claimed = str(event.raw.get("amount") or "") if event.raw else ""
        # The amount is echoed as it came (PHP may send "100" for 100.00), once checked.
        if not (DECIMAL_RX.match(claimed) and Decimal(claimed) == invoice.amount):
            claimed = money.format_decimal(invoice.amount, invoice.currency)
        try:
            data = self.call("GET", f"invoice/ipn/{invoice.gateway_id}/{claimed}", expected=(200,))
        except GatewayAPIError as exc:
            if exc.http_status in (400, 404):
                raise NotificationRejected(
                    f"PortPos does not confirm the IPN: {exc.message}", code="not_confirmed"
                ) from None
            raise
        return self._status(invoice, data)

    # -- refunds -----------------------------------------------------------------------------

    def refund(self, refund: Refund) -> RefundResult:
        path = f"invoice/refund/{refund.invoice.gateway_id}"
        amount = money.to_decimal(refund.amount)
        if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
            # Refund Request: refund.amount 0.1 to 99999999; nothing is sent.
            raise RefundError(
                _("PortPos refunds between %(minimum)s and %(maximum)s; %(amount)s asked.")
                % {"minimum": MIN_AMOUNT, "maximum": MAX_AMOUNT, "amount": amount},
                gateway=self.alias,
                code="refund_amount",
            )
        wire = {
            "amount": money.format_decimal(amount, refund.currency),
            "currency": refund.currency,
        }
        try:
            # Refund Request: POST /invoice/refund/{id}, answered 202.
            data = self.call("POST", path, {"refund": wire}, expected=(200, 201, 202))
        except GatewayAPIError as exc:
            if exc.http_status is not None and 400 <= exc.http_status < 500:
                raise RefundError(
                    exc.message, gateway=self.alias, response=exc.response, code=exc.code
                ) from None
            raise
        return self._refund_answer(data, refund)

    def _refund_answer(self, data: Mapping[str, Any], refund: Refund) -> RefundResult:
        """``{"order": {invoice, amount, currency, status}, "refund": {amount, status}}``.

        ``refund.status`` APPROVED with the invoice in REFUND_PENDING is a refund under way;
        once the invoice says REFUNDED or PARTIALLY_REFUNDED the money has gone back."""
        part, order = data.get("refund"), data.get("order")
        if not isinstance(part, Mapping) or not isinstance(order, Mapping):
            raise self.answer_error("PortPos answered a refund without refund and order", data)
        refund_name = str(part.get("status") or "").strip().upper()
        order_name = str(order.get("status") or "").strip().upper()
        status = portwallet_common.refund_status(refund_name)
        if status is None:
            raise self.answer_error(
                f"PortPos answered a refund with unknown status {refund_name!r}", data
            )
        if status == RefundStatus.PENDING and order_name in ("REFUNDED", "PARTIALLY_REFUNDED"):
            status = RefundStatus.SUCCEEDED
        try:
            amount = money.to_decimal(part.get("amount", refund.amount))
        except ValidationError:
            raise self.answer_error(
                "PortPos answered a refund without a readable amount", data
            ) from None
        return RefundResult(
            status=status,
            amount=amount,
            currency=str(order.get("currency") or refund.currency).upper(),
            failure_reason=f"PortPos: {refund_name}" if status == RefundStatus.FAILED else "",
            idempotency_key=refund.idempotency_key,
            raw=data,
        )

    def _refund_lines(self, data: Mapping[str, Any], invoice: Invoice) -> list[RefundResult]:
        """Refund lines among the invoice's ``transactions``, as PortPos gives them: no id,
        no key of ours. The document shows only ``purchase`` and ``fee`` lines, so there may
        be none; our refunds are never assigned to them here."""
        transactions = data.get("transactions") or []
        if not isinstance(transactions, list):
            raise self.answer_error("PortPos answered transactions that are not a list", data)
        found: list[RefundResult] = []
        for line in transactions:
            if not isinstance(line, Mapping) or str(line.get("type", "")).lower() != "refund":
                continue
            try:
                amount = abs(money.to_decimal(line.get("amount")))
                currency = money.normalize_currency(line.get("currency") or invoice.currency)
            except ValidationError:
                raise self.answer_error(
                    "PortPos answered a refund line without a readable amount", data
                ) from None
            name = str(line.get("status") or "").strip().upper()
            status = portwallet_common.refund_status(name)
            if status is None:
                logger.warning("PortPos refund line with unknown status %r left alone", name)
                continue
            found.append(
                RefundResult(
                    status=status,
                    amount=amount,
                    currency=currency,
                    failure_reason=f"PortPos: {name}" if status == RefundStatus.FAILED else "",
                    raw=dict(line),
                )
            )
        return found

    def list_refunds(self, invoice: Invoice) -> list[RefundResult]:
        """The invoice's refund lines (``transactions`` of type ``refund``), if it has any."""
        data = self.call("GET", f"invoice/{invoice.gateway_id}", expected=(200,))
        return self._refund_lines(data, invoice)

    def refund_report(self, invoice: Invoice) -> RefundReport:
        """Retrieving an invoice: ``order.status`` says how far the invoice's refunds are
        (REFUND_PENDING under way, PARTIALLY_REFUNDED, REFUNDED: all of it; ACCEPTED: none), and
        refund lines, where PortPos lists them, give the refunded total. PortPos gives refunds
        no id and takes no key of ours, so the core ties them only to refunds it answered."""
        data = self.call("GET", f"invoice/{invoice.gateway_id}", expected=(200,))
        lines = self._refund_lines(data, invoice)
        name = str(_get(data, "order.status", "")).strip().upper()
        state = REFUND_STATES.get(name, RefundState.UNKNOWN)
        if state == RefundState.PARTIAL and not self.option("settle_refunds_from_state", True):
            # The document shows no refusal of an approved refund; a shop that has seen one
            # can have "partially refunded" settle nothing (a person resolves instead).
            state = RefundState.UNKNOWN
        return RefundReport(lines=tuple(lines), complete=bool(lines), state=state, raw=data)
