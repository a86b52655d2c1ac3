"""The ``MULTIPAY`` settings dict, read live so ``override_settings`` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "GATEWAYS": {},
    "DEFAULT_GATEWAY": None,
    # Where the customer lands after the return view has verified the invoice.
    "SUCCESS_URL": "/",
    "FAILURE_URL": "/",
    # (connect, read) seconds for every gateway call.
    "HTTP_TIMEOUT": (5.0, 30.0),
    # Retries for idempotent reads only (GET/HEAD); writes are never repeated by the client.
    "HTTP_RETRIES": 2,
    "HTTP_BACKOFF": 0.3,
    "USER_AGENT": None,
    # Absolute base (scheme and host) for return and notify URLs, needed when payments start
    # outside a request or behind a proxy that hides the host.
    "BASE_URL": None,
    # Notification bodies larger than this are rejected before parsing.
    "MAX_NOTIFICATION_BYTES": 256 * 1024,
    # Header names (case-insensitive) never stored with a notification.
    "REDACT_HEADERS": ("authorization", "cookie", "x-api-key", "proxy-authorization"),
    # Reconciliation: re-check invoices still pending this many seconds after they were made,
    # then wait RECONCILE_BACKOFF seconds, doubling per attempt up to RECONCILE_BACKOFF_MAX.
    "RECONCILE_PENDING_AFTER": 15 * 60,
    "RECONCILE_BACKOFF": 5 * 60,
    "RECONCILE_BACKOFF_MAX": 24 * 60 * 60,
    # A failed notification is retried until it has been tried this many times.
    "RECONCILE_NOTIFICATION_ATTEMPTS": 5,
    "RECONCILE_CHUNK_SIZE": 200,
    # Verify notifications in a task: the notify view stores, authenticates and answers.
    "DEFER_NOTIFICATIONS": False,
}


class MultipaySettings:
    """Attribute access to ``settings.MULTIPAY`` merged over :data:`DEFAULTS`."""

    @property
    def raw(self) -> Any:
        return getattr(settings, "MULTIPAY", {})

    def _get(self, name: str) -> Any:
        raw = self.raw
        if isinstance(raw, dict) and name in raw:
            return raw[name]
        return DEFAULTS[name]

    @property
    def GATEWAYS(self) -> dict[str, Any]:
        value = self._get("GATEWAYS")
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name in DEFAULTS:
            return self._get(name)
        raise AttributeError(name)


multipay_settings = MultipaySettings()
