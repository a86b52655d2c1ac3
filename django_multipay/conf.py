"""Typed access to the ``MULTIPAY`` settings dict, read live so ``override_settings`` works."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from django.conf import settings

#: What ``CUSTOMER_ID`` (and an alias's ``customer_id``) names: given the order's user, the
#: gateway-side customer id bound to it, or ``None``.
CustomerId = Callable[[Any], "str | None"]

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
    """Typed access to ``settings.MULTIPAY``, one property per key, merged over
    :data:`DEFAULTS`.

    Each property reads the setting when it is used, never at import, so ``override_settings``
    and the ``settings`` fixture work. Values are returned as the shop gave them: the system
    checks report a value of the wrong type, and each reader keeps its own fallback."""

    @property
    def raw(self) -> Any:
        """``settings.MULTIPAY`` as it is (not necessarily a dict), or ``{}``."""
        return getattr(settings, "MULTIPAY", {})

    def _get(self, name: str) -> Any:
        raw = self.raw
        if isinstance(raw, dict) and name in raw:
            return raw[name]
        return DEFAULTS[name]

    @property
    def GATEWAYS(self) -> dict[str, dict[str, Any]]:
        """The gateway aliases; ``{}`` when it is not a dict (multipay.E014 says so)."""
        value = self._get("GATEWAYS")
        return value if isinstance(value, dict) else {}

    @property
    def DEFAULT_GATEWAY(self) -> str | None:
        """The alias ``payments.start_payment`` uses when none is given."""
        return cast("str | None", self._get("DEFAULT_GATEWAY"))

    @property
    def SUCCESS_URL(self) -> str:
        """Where the return view sends the customer after a payment that did not fail."""
        return cast("str", self._get("SUCCESS_URL"))

    @property
    def FAILURE_URL(self) -> str:
        """Where the return view sends the customer after a failed payment."""
        return cast("str", self._get("FAILURE_URL"))

    @property
    def ORDER_URL(self) -> str | None:
        """The shop's page for one order, linked from the pay page."""
        return cast("str | None", self._get("ORDER_URL"))

    @property
    def HTTP_TIMEOUT(self) -> tuple[float, float]:
        """(connect, read) seconds of one attempt of a gateway call."""
        return cast("tuple[float, float]", self._get("HTTP_TIMEOUT"))

    @property
    def HTTP_RETRIES(self) -> int:
        """Retries of an idempotent read."""
        return cast("int", self._get("HTTP_RETRIES"))

    @property
    def HTTP_BACKOFF(self) -> float:
        """Backoff factor between those retries."""
        return cast("float", self._get("HTTP_BACKOFF"))

    @property
    def REQUEST_TIME_BUDGET(self) -> float | None:
        """Seconds one web request may wait on gateways in all."""
        return cast("float | None", self._get("REQUEST_TIME_BUDGET"))

    @property
    def BACKGROUND_TIME_BUDGET(self) -> float:
        """Seconds each gateway call may take outside a web request."""
        return cast("float", self._get("BACKGROUND_TIME_BUDGET"))

    @property
    def WORKER_TIMEOUT(self) -> float | None:
        """The web server's worker timeout, if the shop declares it."""
        return cast("float | None", self._get("WORKER_TIMEOUT"))

    @property
    def USER_AGENT(self) -> str | None:
        """The ``User-Agent`` of gateway calls."""
        return cast("str | None", self._get("USER_AGENT"))

    @property
    def BASE_URL(self) -> str | None:
        """Scheme and host of the return and notify URLs given to gateways."""
        return cast("str | None", self._get("BASE_URL"))

    @property
    def MAX_NOTIFICATION_BYTES(self) -> int:
        """The largest notification body that is parsed."""
        return cast("int", self._get("MAX_NOTIFICATION_BYTES"))

    @property
    def MAX_METADATA_BYTES(self) -> int:
        """The largest order metadata, as UTF-8 JSON."""
        return cast("int", self._get("MAX_METADATA_BYTES"))

    @property
    def MAX_METADATA_DEPTH(self) -> int:
        """How deeply order metadata may nest."""
        return cast("int", self._get("MAX_METADATA_DEPTH"))

    @property
    def REDACT_HEADERS(self) -> Sequence[str]:
        """Header names never stored with a notification."""
        return cast("Sequence[str]", self._get("REDACT_HEADERS"))

    @property
    def RECONCILE_PENDING_AFTER(self) -> float:
        """Seconds before an open invoice is re-checked."""
        return cast("float", self._get("RECONCILE_PENDING_AFTER"))

    @property
    def RECONCILE_BACKOFF(self) -> float:
        """Seconds before an invoice still open is asked about again."""
        return cast("float", self._get("RECONCILE_BACKOFF"))

    @property
    def RECONCILE_BACKOFF_MAX(self) -> float:
        """The longest such wait, in seconds."""
        return cast("float", self._get("RECONCILE_BACKOFF_MAX"))

    @property
    def RECONCILE_NOTIFICATION_ATTEMPTS(self) -> int:
        """Tries of a failed notification before it is abandoned."""
        return cast("int", self._get("RECONCILE_NOTIFICATION_ATTEMPTS"))

    @property
    def RECONCILE_CHUNK_SIZE(self) -> int:
        """Rows read per database round trip during reconciliation."""
        return cast("int", self._get("RECONCILE_CHUNK_SIZE"))

    @property
    def REFUND_SETTLE_UNKNOWN_AFTER(self) -> float:
        """Seconds before a refund of unknown outcome is judged."""
        return cast("float", self._get("REFUND_SETTLE_UNKNOWN_AFTER"))

    @property
    def NOTIFICATION_RETENTION(self) -> float | None:
        """Seconds finished notifications are kept; ``None``: all."""
        return cast("float | None", self._get("NOTIFICATION_RETENTION"))

    @property
    def HEALTH_TOKEN(self) -> str | None:
        """Bearer token that shows the health checks' facts."""
        return cast("str | None", self._get("HEALTH_TOKEN"))

    @property
    def HEALTH_NOTIFICATION_MAX_AGE(self) -> float | None:
        """Oldest unprocessed notification, in seconds."""
        return cast("float | None", self._get("HEALTH_NOTIFICATION_MAX_AGE"))

    @property
    def HEALTH_RECONCILE_MAX_AGE(self) -> float | None:
        """Longest time since a reconciliation run finished."""
        return cast("float | None", self._get("HEALTH_RECONCILE_MAX_AGE"))

    @property
    def DEFER_NOTIFICATIONS(self) -> bool:
        """Verify notifications in a task."""
        return cast("bool", self._get("DEFER_NOTIFICATIONS"))

    @property
    def CUSTOMER_ID(self) -> CustomerId | str | None:
        """The customer id bound to a user: a callable or its path."""
        return cast("CustomerId | str | None", self._get("CUSTOMER_ID"))

    @property
    def ALLOW_TEST_GATEWAYS(self) -> bool:
        """Let the test-only parts run with ``DEBUG`` off."""
        return cast("bool", self._get("ALLOW_TEST_GATEWAYS"))


multipay_settings = MultipaySettings()


def allows_test_gateways() -> bool:
    """Whether the test-only parts may run now: ``DEBUG``, or ``ALLOW_TEST_GATEWAYS`` is
    ``True`` (the boolean; a switch this strong is not set by a stray string).

    Read on every call, not at import: a server such as gunicorn runs no system checks, and
    ``override_settings`` must flip it."""
    return bool(settings.DEBUG) or multipay_settings.ALLOW_TEST_GATEWAYS is True
