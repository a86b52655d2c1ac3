"""Checks backends compose to read and authenticate a webhook: its body, a header, a
timestamped HMAC and its age."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django_multipay.exceptions import NotificationRejected
from django_multipay.gateways.base import UNREADABLE
from django_multipay.gateways.results import InboundRequest


@contextmanager
def malformed(
    reason: str = "malformed notification body", also: tuple[type[Exception], ...] = ()
) -> Iterator[None]:
    """Read a notification within the block: whatever :data:`UNREADABLE` (or ``also``) its
    reading raises refuses it as malformed, a 400 with ``reason`` (the notification's
    counterpart of :meth:`BaseGateway.reading`)."""
    refused: tuple[type[Exception], ...] = (*UNREADABLE, *also)
    try:
        yield
    except refused:
        raise NotificationRejected(reason, code="malformed") from None


def required_header(request: InboundRequest, name: str, reason: str = "") -> str:
    """The header's value, or ``NotificationRejected`` with ``reason`` (default: naming it)."""
    value = request.header(name)
    if not value:
        raise NotificationRejected(reason or f"missing {name} header", code="signature")
    return str(value)


@dataclass(frozen=True)
class TimestampedHmac:
    """A hex HMAC-SHA256 over ``"<timestamp><separator><body>"``: the timestamp is signed
    with the body, so an old signature cannot be replayed under a new timestamp, and one
    more than ``tolerance`` seconds from now is refused."""

    separator: str

    def digest(self, secret: str, timestamp: int, body: bytes) -> str:
        message = f"{timestamp}{self.separator}".encode() + body
        return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()

    def verify(
        self,
        secret: str,
        timestamp: int,
        digests: Iterable[str],
        body: bytes,
        *,
        tolerance: int,
        now: float | None = None,
    ) -> None:
        """Raise ``NotificationRejected`` unless one of ``digests`` signs ``body`` at
        ``timestamp`` with ``secret`` (compared in constant time) within ``tolerance``."""
        now = time.time() if now is None else now
        if abs(now - timestamp) > tolerance:
            raise NotificationRejected("signature timestamp outside tolerance", code="replay")
        expected = self.digest(secret, timestamp, body)
        if not any(
            hmac.compare_digest(expected, candidate.strip().lower()) for candidate in digests
        ):
            raise NotificationRejected("signature does not match", code="signature")
