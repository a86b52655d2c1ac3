"""The contract every gateway backend meets, and what each declares it can do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from django.http import HttpResponse

from django_multipay.conf import multipay_settings
from django_multipay.exceptions import UnsupportedOperation
from django_multipay.gateways.http import HttpClient
from django_multipay.gateways.results import (
    InboundRequest,
    NotificationEvent,
    PaymentStart,
    PaymentUrls,
    RefundResult,
    SettlementLine,
    StatusResult,
)
from django_multipay.redaction import Redactor

if TYPE_CHECKING:
    from django_multipay.models import Invoice, Refund
    from django_multipay.processing import Outcome


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. The core refuses anything not declared, before any call."""

    refund: bool = False
    partial_refund: bool = False
    #: How many refunds one invoice may have (``None``: no documented limit).
    max_refunds: int | None = None
    #: The gateway de-duplicates refund requests by our idempotency key, so a refund whose
    #: outcome is unknown (timeout) may be sent again. Without it a retry is refused.
    idempotent_refunds: bool = False
    capture: bool = False
    cancel: bool = False
    fetch_status: bool = True
    list_refunds: bool = False
    #: The gateway reports what it pays out per payment (fees, net, payout date).
    settlement: bool = False
    #: Notifications carry a signature we check (otherwise only the server-side read counts).
    signed_notifications: bool = False
    #: ISO 4217 codes the gateway takes (``None``: any).
    currencies: frozenset[str] | None = None
    #: Smallest amount per payment, in major units (``None``: no documented minimum).
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None


#: Operation names accepted by :meth:`BaseGateway.require`.
OPERATIONS = (
    "refund",
    "partial_refund",
    "capture",
    "cancel",
    "fetch_status",
    "list_refunds",
    "settlement",
)


class BaseGateway:
    """Translates between our models and one gateway's wire format. Never saves, never signals.

    Subclasses set :attr:`capabilities`, :attr:`required_options` and :attr:`secret_options`
    and implement the operations they declare.
    """

    #: A human name for admin pages and errors.
    display_name: ClassVar[str] = "Gateway"
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Options that must be present and non-empty (checked by ``multipay.E004``).
    required_options: ClassVar[tuple[str, ...]] = ()
    #: Options whose values are secrets: redacted from every log line, error and stored answer.
    secret_options: ClassVar[tuple[str, ...]] = ()
    #: API addresses; ``base_url`` in the options overrides both.
    live_base_url: ClassVar[str] = ""
    sandbox_base_url: ClassVar[str] = ""
    #: A sandbox-only backend (the dummy gateway): refused by system checks outside DEBUG.
    test_only: ClassVar[bool] = False

    def __init__(self, alias: str, options: Mapping[str, Any] | None = None) -> None:
        self.alias = alias
        self.options: dict[str, Any] = dict(options or {})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r}>"

    # -- configuration -----------------------------------------------------------------------

    def option(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name, default)
        return default if value is None else value

    @property
    def sandbox(self) -> bool:
        return bool(self.options.get("sandbox", False))

    @property
    def base_url(self) -> str:
        override = self.options.get("base_url")
        if override:
            return str(override)
        return self.sandbox_base_url if self.sandbox else self.live_base_url

    def missing_options(self) -> list[str]:
        """Required options that are absent or empty."""
        return [name for name in self.required_options if not self.options.get(name)]

    @cached_property
    def redactor(self) -> Redactor:
        return Redactor(str(self.options.get(name) or "") for name in self.secret_options)

    def redact(self, data: Any) -> Any:
        return self.redactor.data(data)

    @cached_property
    def http(self) -> HttpClient:
        timeout = self.options.get("timeout") or multipay_settings.HTTP_TIMEOUT
        if isinstance(timeout, (int, float)):
            timeout = (timeout, timeout)
        return HttpClient(
            gateway=self.alias,
            base_url=self.base_url,
            timeout=tuple(timeout),
            retries=int(self.options.get("retries", multipay_settings.HTTP_RETRIES)),
            backoff=float(multipay_settings.HTTP_BACKOFF),
            user_agent=multipay_settings.USER_AGENT,
            secrets=[str(self.options.get(n) or "") for n in self.secret_options],
        )

    # -- capabilities ------------------------------------------------------------------------

    def supports(self, operation: str) -> bool:
        if operation not in OPERATIONS:
            raise ValueError(f"Unknown operation {operation!r}")
        return bool(getattr(self.capabilities, operation))

    def require(self, operation: str) -> None:
        """Raise ``UnsupportedOperation`` unless the backend declares ``operation``."""
        if not self.supports(operation):
            raise UnsupportedOperation(
                f"{self.display_name} does not support {operation.replace('_', ' ')}.",
                gateway=self.alias,
            )

    def accepts_currency(self, currency: str) -> bool:
        allowed = self.capabilities.currencies
        return allowed is None or currency.upper() in allowed

    # -- the contract ------------------------------------------------------------------------

    def start_payment(self, invoice: Invoice, urls: PaymentUrls) -> PaymentStart:
        """Create the payment at the gateway; say where to send the customer."""
        raise NotImplementedError

    def parse_notification(self, request: InboundRequest) -> NotificationEvent:
        """Authenticate and parse a notification; raise ``NotificationRejected`` if bad."""
        raise NotImplementedError

    def fetch_status(self, invoice: Invoice) -> StatusResult:
        """Read the invoice's true status server-to-server."""
        raise NotImplementedError

    def verify_notification(self, invoice: Invoice, event: NotificationEvent) -> StatusResult:
        """The true status behind a (non-authoritative) notification. By default
        :meth:`fetch_status`; a gateway with a dedicated validation call (PortPos IPN
        validate) uses it. Raise ``NotificationRejected`` if the gateway disowns the event."""
        return self.fetch_status(invoice)

    def verify_return(self, invoice: Invoice, request: InboundRequest) -> StatusResult:
        """The status to act on when the customer comes back. The query string is not trusted:
        by default this is :meth:`fetch_status`."""
        return self.fetch_status(invoice)

    def settlement(self, invoice: Invoice) -> list[SettlementLine]:
        """The gateway's settlement lines for the invoice (payment, refunds, fees); backends
        that declare ``settlement`` implement it. It calls the gateway."""
        raise NotImplementedError

    def payment_instructions(self, invoice: Invoice) -> dict[str, str] | None:
        """What the customer needs to pay another way (a Payshop or Multibanco reference, its
        entity and deadline), from what the invoice keeps, with no gateway call; ``None``
        when the payment has no such step. Shown through the REST API and the admin."""
        return None

    def capture(self, invoice: Invoice, amount: Decimal) -> StatusResult:
        raise NotImplementedError

    def cancel(self, invoice: Invoice) -> StatusResult:
        raise NotImplementedError

    def refund(self, refund: Refund) -> RefundResult:
        raise NotImplementedError

    def list_refunds(self, invoice: Invoice) -> list[RefundResult]:
        """Every refund the gateway holds for the invoice. Set ``RefundResult.idempotency_key``
        where the gateway echoes our refund's key or id, so a refund whose answer was lost
        can still be matched."""
        raise NotImplementedError

    # -- answers to notifications ------------------------------------------------------------

    def notification_response(self, outcome: Outcome) -> HttpResponse:
        """What the gateway expects back for a notification we accepted (processed or not)."""
        return HttpResponse("OK", content_type="text/plain")

    def rejection_response(self, reason: str, status: int = 400) -> HttpResponse:
        """What to answer a notification we refused."""
        return HttpResponse(reason, status=status, content_type="text/plain")
