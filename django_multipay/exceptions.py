"""Errors raised by the core and by gateway backends, all under one root: ``MultipayError``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation


class MultipayError(Exception):
    """Base error: carries the gateway alias and the (already redacted) gateway answer."""

    default_code = "error"
    status_code = 400

    def __init__(
        self,
        message: str = "",
        *,
        gateway: str | None = None,
        response: Any = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.gateway = gateway
        self.response = response
        self.code = code or self.default_code

    def __str__(self) -> str:
        prefix = f"[{self.gateway}] " if self.gateway else ""
        return f"{prefix}{self.message}"


class GatewayConfigurationError(MultipayError, ImproperlyConfigured):
    """A gateway alias is missing, unknown or badly configured. Never swallowed.

    Still an ``ImproperlyConfigured`` (Django and the shop's own handlers know it as one),
    and under the root so that ``except MultipayError`` is the one clause callers need."""

    default_code = "gateway_not_configured"
    status_code = 503


class GatewayError(MultipayError):
    """The gateway could not do what was asked."""

    default_code = "gateway_error"
    status_code = 502


class GatewayConnectionError(GatewayError):
    """The gateway could not be reached, or did not answer in time."""

    default_code = "gateway_unreachable"
    status_code = 504


class GatewayAPIError(GatewayError):
    """The gateway answered with an error status or a body we cannot read."""

    default_code = "gateway_api_error"

    def __init__(self, message: str = "", *, http_status: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.http_status = http_status


class PaymentDeclined(GatewayError):
    """The gateway refused the payment or capture."""

    default_code = "declined"
    status_code = 402


class RefundError(GatewayError):
    """The gateway refused a refund (the refund is then failed)."""

    default_code = "refund_error"
    status_code = 400


class RefundRefused(MultipayError):
    """The core refused a refund before calling the gateway: not paid, over what is left,
    a reused idempotency key... Nothing was sent and nothing saved."""

    # The same code and status as RefundError: API bodies do not tell the two apart.
    default_code = "refund_error"
    status_code = 400


class UnsupportedOperation(MultipayError):
    """The gateway does not declare the capability that was asked for."""

    default_code = "unsupported"
    status_code = 400


class InvalidRequest(MultipayError):
    """Input that can never succeed: bad field values, paid orders, wrong currency."""

    default_code = "invalid"
    status_code = 400

    def __init__(self, message: str = "", *, fields: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.fields = fields or {}


class InvalidTransition(MultipayError):
    """A status change that the transition table does not allow."""

    default_code = "invalid_transition"
    status_code = 409


class AmountMismatch(MultipayError):
    """The gateway reports an amount or currency that differs from our record."""

    default_code = "amount_mismatch"
    status_code = 400


class NotificationRejected(SuspiciousOperation):
    """A notification failed authentication or could not be parsed (Django answers 400)."""

    def __init__(self, reason: str, *, code: str = "rejected", status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.status_code = status_code
