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
    # The shop's page for one order, linked from the pay page ({reference}, {order}); None:
    # an order that can no longer be paid links to its success URL.
    "ORDER_URL": None,
    # (connect, read) seconds for one attempt of a gateway call, cut to fit the time budget.
    "HTTP_TIMEOUT": (3.05, 10.0),
    # Retries for idempotent reads only (GET/HEAD); writes are never repeated by the client.
    "HTTP_RETRIES": 2,
    "HTTP_BACKOFF": 0.3,
    # Seconds one web request may wait on gateways in all (every call, attempt and pause),
    # well inside a server's worker timeout (gunicorn: 30 s); None: no total.
    "REQUEST_TIME_BUDGET": 15.0,
    # Seconds each gateway call may take outside a web request (reconciliation, tasks).
    "BACKGROUND_TIME_BUDGET": 60.0,
    # The web server's worker timeout in seconds, if the shop declares it (multipay.W010).
    "WORKER_TIMEOUT": None,
    "USER_AGENT": None,
    # Absolute base (scheme and host) for return and notify URLs, needed when payments start
    # outside a request or behind a proxy that hides the host.
    "BASE_URL": None,
    # Notification bodies larger than this are rejected before parsing.
    "MAX_NOTIFICATION_BYTES": 256 * 1024,
    # An order's metadata: at most this much JSON (UTF-8 bytes), nested at most this deep
    # (the object itself is level 1).
    "MAX_METADATA_BYTES": 16 * 1024,
    "MAX_METADATA_DEPTH": 10,
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
    # A refund whose call had no answer is settled from the gateway's record (not made when
    # the record accounts for every other refund; made when it is exactly what is left
    # unexplained) only once it is this many seconds old, so a call still in flight is
    # never judged.
    "REFUND_SETTLE_UNKNOWN_AFTER": 15 * 60,
    # Finished notifications (processed, duplicate, ignored, rejected) older than this many
    # seconds may be pruned (multipay_prune_notifications); None keeps them all.
    "NOTIFICATION_RETENTION": 90 * 24 * 60 * 60,
    # The health view (django_multipay.health.health): a bearer token that shows each
    # check's facts to monitoring (staff see them anyway); the oldest unprocessed
    # notification and the last reconciliation run may be at most this many seconds old
    # (None: reported, never failing).
    "HEALTH_TOKEN": None,
    "HEALTH_NOTIFICATION_MAX_AGE": 60 * 60,
    "HEALTH_RECONCILE_MAX_AGE": None,
    # Verify notifications in a task: the notify view stores, authenticates and answers.
    "DEFER_NOTIFICATIONS": False,
    # The gateway-side customer id bound to a signed-in user (a callable given the user, or
    # its dotted path): saved cards are used only with it. None: each backend's default.
    "CUSTOMER_ID": None,
    # The test-only parts (the dummy gateway, the sandbox emulators) run only with DEBUG, or
    # with this set: test runners force DEBUG off, so a test settings module opts in here.
    "ALLOW_TEST_GATEWAYS": False,
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


def allows_test_gateways() -> bool:
    """Whether the test-only parts may run now: ``DEBUG``, or ``ALLOW_TEST_GATEWAYS`` is
    ``True`` (the boolean; a switch this strong is not set by a stray string).

    Read on every call, not at import: a server such as gunicorn runs no system checks, and
    ``override_settings`` must flip it."""
    return bool(settings.DEBUG) or multipay_settings.ALLOW_TEST_GATEWAYS is True
