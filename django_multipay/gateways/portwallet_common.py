"""What PortPos (API v2) and its legacy form, PortWallet (API v1), share: the request token."""

from __future__ import annotations

import hashlib
import time


def unix_time() -> int:
    """Seconds since the epoch, as both APIs expect in their tokens."""
    return int(time.time())


def md5_token(secret_key: str, timestamp: int) -> str:
    """``md5(secret_key + timestamp)`` in lower-case hex (PortWallet v1 ``token``; the second
    half of the PortPos v2 Authorization header)."""
    return hashlib.md5(f"{secret_key}{timestamp}".encode(), usedforsecurity=False).hexdigest()


#: PortWallet v1's numeric invoice statuses and their names, which PortPos v2 sends as they
#: are (gateway notes, PortWallet v1 status codes). 400 and 500 are answer codes, not states.
_STATUS_NAMES: dict[int, str] = {
    100: "PENDING",
    120: "CANCELLED",
    200: "ACCEPTED",
    210: "REFUND_PENDING",
    215: "REFUND_PROCESSING",
    220: "REFUNDED",
    230: "PARTIALLY_REFUNDED",
    240: "CHARGED_BACK",
    300: "REJECTED",
    400: "INVALID_REQUEST",
    500: "NOT_ALLOWED",
}

#: Invoice status names that describe a refund of a payment that was taken.
_REFUND_STATE_NAMES = frozenset(_STATUS_NAMES[code] for code in (210, 215, 220, 230))


def status_name(code: int | str) -> str:
    """The name of a numeric status code (``210`` → ``"REFUND_PENDING"``); ``""`` if unknown."""
    try:
        return _STATUS_NAMES.get(int(str(code).strip()), "")
    except ValueError:
        return ""


def is_refund_state(name: str) -> bool:
    """True for the invoice states that say a refund is under way or done."""
    return str(name).strip().upper() in _REFUND_STATE_NAMES


def invoice_status(name: str) -> str | None:
    """Our ``InvoiceStatus`` for an invoice status name, or ``None`` for an unknown one.

    The refund states map to ``paid``: the payment was taken, and how much went back is
    tracked refund by refund (``Refund`` rows, settled from the gateway's refund lines), so
    the invoice's refunded total is never counted twice."""
    from django_multipay.status import InvoiceStatus

    return {
        **dict.fromkeys(_REFUND_STATE_NAMES, str(InvoiceStatus.PAID)),
        "PENDING": str(InvoiceStatus.PENDING),
        "ACCEPTED": str(InvoiceStatus.PAID),
        "REJECTED": str(InvoiceStatus.FAILED),
        "CANCELLED": str(InvoiceStatus.CANCELLED),
        "EXPIRED": str(InvoiceStatus.EXPIRED),
        "CHARGED_BACK": str(InvoiceStatus.CHARGED_BACK),
    }.get(str(name).strip().upper())


def refund_status(name: str) -> str | None:
    """Our ``RefundStatus`` for the status of one refund (a refund answer or a refund line),
    or ``None`` for an unknown one. ``APPROVED`` is a request the gateway took, not money
    paid back yet: pending."""
    from django_multipay.status import RefundStatus

    wanted = str(name).strip().upper()
    if wanted in ("PENDING", "APPROVED", "PROCESSING", "REFUND_PENDING", "REFUND_PROCESSING"):
        return str(RefundStatus.PENDING)
    if wanted in ("REFUNDED", "PARTIALLY_REFUNDED", "ACCEPTED", "SUCCESS", "COMPLETED"):
        return str(RefundStatus.SUCCEEDED)
    if wanted in ("REJECTED", "DECLINED", "FAILED", "CANCELLED", "NOT_ALLOWED", "INVALID_REQUEST"):
        return str(RefundStatus.FAILED)
    return None
