"""Small typed values that gateways return to the core; the core alone acts on them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from django.http import HttpRequest, QueryDict

from django_multipay.status import NotificationResult


@dataclass(frozen=True)
class PaymentUrls:
    """Absolute URLs a gateway sends the customer and its notifications back to."""

    return_url: str
    cancel_url: str
    notify_url: str


@dataclass(frozen=True)
class PaymentAction:
    """Where to send the customer: a GET redirect, or a form to POST (auto-submitted)."""

    url: str
    method: str = "GET"
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_redirect(self) -> bool:
        return self.method.upper() == "GET"


@dataclass(frozen=True)
class PaymentStart:
    """A gateway's answer to "start a payment"."""

    action: PaymentAction
    gateway_id: str
    expires_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusResult:
    """The gateway's word on an invoice, in our status vocabulary (``InvoiceStatus``).

    ``amount``/``currency`` are what the gateway says the customer was asked for; the core
    compares them with the invoice and refuses a mismatch. ``captured_amount`` and
    ``refunded_amount`` are optional: left ``None`` they are derived from the status.
    """

    status: str
    gateway_id: str = ""
    amount: Decimal | None = None
    currency: str | None = None
    captured_amount: Decimal | None = None
    refunded_amount: Decimal | None = None
    failure_reason: str = ""
    #: When the gateway says a hold (``authorized``) lapses unless captured, where it says
    #: so; ``None`` lets the core count the alias's ``hold_lifetime`` instead.
    hold_expires_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    """The gateway's word on one refund, in ``RefundStatus`` vocabulary."""

    status: str
    gateway_refund_id: str = ""
    amount: Decimal | None = None
    currency: str | None = None
    failure_reason: str = ""
    idempotency_key: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


class RefundState:
    """What a gateway says of an invoice's refunds as a whole (``RefundReport.state``)."""

    #: The gateway does not say.
    UNKNOWN = ""
    #: Nothing has been refunded.
    NONE = "none"
    #: A refund is under way: totals may still grow.
    IN_PROGRESS = "in_progress"
    #: Refunded in part (less than was captured), nothing under way.
    PARTIAL = "partial"
    #: Everything captured has been refunded.
    FULL = "full"


@dataclass(frozen=True)
class RefundReport:
    """Everything a gateway says about an invoice's refunds, and nothing more.

    Backends report the gateway's own refund lines with whatever ids it gives (and our key
    where it echoes one), and its refunded total or refund state where it has them. They never
    decide which of our refunds a line belongs to: :mod:`django_multipay.refund_matching`
    does, in the core.
    """

    lines: tuple[RefundResult, ...] = ()
    #: ``lines`` names every refund the gateway holds, so a refund missing from it was not
    #: made (a list read in full). ``False`` when the gateway itemises nothing.
    complete: bool = False
    #: What the gateway says it has refunded in all (``None``: it does not say).
    refunded_total: Decimal | None = None
    #: A ``RefundState`` value.
    state: str = RefundState.UNKNOWN
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SettlementLine:
    """One line of what the gateway pays the merchant out for an invoice: the payment or a
    refund, everything the gateway keeps of it (``fee``) and the net amount."""

    id: str
    type: str
    currency: str
    amount: Decimal
    fee: Decimal
    net: Decimal
    created: datetime | None = None
    paid_out: datetime | None = None
    description: str = ""


@dataclass(frozen=True)
class NotificationEvent:
    """What an authenticated notification says: which invoice, and perhaps its status.

    A notification is a hint: unless ``authoritative`` (a signature covering status *and*
    amount), the core reads the true status from the gateway before changing anything.
    """

    invoice_id: str = ""
    gateway_id: str = ""
    dedup_key: str = ""
    status: StatusResult | None = None
    authoritative: bool = False
    kind: str = "payment"
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundRequest:
    """A request as a gateway backend sees it: from a live request or a stored notification."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    query_string: str = ""
    remote_addr: str | None = None

    @classmethod
    def from_django(cls, request: HttpRequest) -> InboundRequest:
        return cls(
            method=request.method or "GET",
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.body,
            query_string=request.META.get("QUERY_STRING", ""),
            remote_addr=request.META.get("REMOTE_ADDR"),
        )

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def query(self) -> QueryDict:
        return QueryDict(self.query_string)

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` if it is not."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (last value wins)."""
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        return {key: values[-1] for key, values in parsed.items()}


@dataclass(frozen=True)
class Outcome:
    """What applying a gateway's word did: a ``NotificationResult`` value and a reason."""

    result: str
    invoice_id: Any = None
    previous: str = ""
    current: str = ""
    reason: str = ""
    #: The de-duplication key this change claimed (only a change claims one).
    claimed_key: str = ""

    @property
    def changed(self) -> bool:
        return self.result == NotificationResult.PROCESSED and self.previous != self.current
