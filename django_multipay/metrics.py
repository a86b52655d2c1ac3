"""Prometheus metrics (the ``metrics`` extra, prometheus-client): counts and gateway latency."""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse

try:
    import prometheus_client
except ImportError:  # pragma: no cover - exercised by a subprocess test without the extra
    prometheus_client = None  # type: ignore[assignment]

#: Whether metrics are collected: prometheus-client is installed.
ENABLED = prometheus_client is not None

F = TypeVar("F", bound=Callable[..., Any])

#: The gateway operation in progress in this context, for the latency histogram's label.
_operation: contextvars.ContextVar[str] = contextvars.ContextVar("multipay_operation", default="")

#: Seconds: gateway calls take tens of milliseconds to the time budget's 15 s and more.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)

if prometheus_client is not None:
    NOTIFICATIONS = prometheus_client.Counter(
        "multipay_notifications",
        "Notifications received, by gateway alias and what became of them.",
        ["alias", "result"],
    )
    STATUS_CHANGES = prometheus_client.Counter(
        "multipay_payment_status_changes",
        "Invoice status changes, by gateway alias, previous and new status.",
        ["alias", "previous", "current"],
    )
    REFUNDS = prometheus_client.Counter(
        "multipay_refunds",
        "Refund status changes, by gateway alias and the status reached.",
        ["alias", "outcome"],
    )
    GATEWAY_CALLS = prometheus_client.Histogram(
        "multipay_gateway_call_seconds",
        "Time of each HTTP call to a gateway (retries included), by alias, operation, outcome.",
        ["alias", "operation", "outcome"],
        buckets=LATENCY_BUCKETS,
    )
    RECONCILIATION_RUNS = prometheus_client.Counter(
        "multipay_reconciliation_runs",
        "Reconciliation runs finished (dry runs included).",
        ["dry_run"],
    )
    RECONCILIATION_CHANGES = prometheus_client.Counter(
        "multipay_reconciliation_changes",
        "What reconciliation runs did, by kind (checked, changed, expired, "
        "notifications_retried, refunds_settled, errors).",
        ["kind"],
    )


def notification_finished(alias: str, result: str) -> None:
    """A notification's result was recorded."""
    if ENABLED:
        NOTIFICATIONS.labels(alias=alias, result=result).inc()


def status_changed(alias: str, previous: str, current: str) -> None:
    """An invoice moved (counted when its transaction commits)."""
    if ENABLED:
        STATUS_CHANGES.labels(alias=alias, previous=previous, current=current).inc()


def refund_changed(alias: str, outcome: str) -> None:
    """A refund reached a status (counted when its transaction commits)."""
    if ENABLED:
        REFUNDS.labels(alias=alias, outcome=outcome).inc()


def gateway_call(alias: str, outcome: str, seconds: float) -> None:
    """One HTTP call to a gateway ended: ``ok``, ``error`` (an answer we refuse),
    ``timeout``, ``connection_error`` or ``not_sent`` (the time budget was used up)."""
    if ENABLED:
        GATEWAY_CALLS.labels(
            alias=alias, operation=_operation.get() or "other", outcome=outcome
        ).observe(seconds)


def reconciliation_finished(summary: Any) -> None:
    """A reconciliation run finished."""
    if not ENABLED:
        return
    RECONCILIATION_RUNS.labels(dry_run=str(bool(summary.dry_run)).lower()).inc()
    if summary.dry_run:
        return
    for kind, value in (
        ("checked", summary.invoices_checked + summary.holds_checked),
        ("changed", summary.invoices_changed),
        ("expired", summary.invoices_expired),
        ("notifications_retried", summary.notifications_retried),
        ("refunds_settled", summary.refunds_settled),
        ("errors", summary.errors),
    ):
        if value:
            RECONCILIATION_CHANGES.labels(kind=kind).inc(value)


@contextmanager
def operation(name: str) -> Iterator[None]:
    """Label the gateway calls made inside with the operation ``name`` (a management
    command's own calls, say)."""
    token = _operation.set(name)
    try:
        yield
    finally:
        _operation.reset(token)


def labelled(name: str, method: F) -> F:
    """``method`` with its gateway calls labelled ``name``, unless an outer operation already
    labels them (a return's ``verify_return`` that reads ``fetch_status`` is a
    ``verify_return``). :class:`BaseGateway` wraps its contract methods in every backend."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _operation.get():
            return method(*args, **kwargs)
        token = _operation.set(name)
        try:
            return method(*args, **kwargs)
        finally:
            _operation.reset(token)

    wrapper.__multipay_operation__ = name  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type; with
    ``PROMETHEUS_MULTIPROC_DIR`` set (several worker processes), every process's."""
    if prometheus_client is None:
        raise RuntimeError(
            "prometheus-client is not installed: pip install django-multipay[metrics]"
        )
    registry: Any = prometheus_client.REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST


def view(request: HttpRequest) -> HttpResponse:
    """The exposition, for staff or a request bearing ``HEALTH_TOKEN`` (403 otherwise)."""
    from django_multipay.access import may_see_details

    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if not may_see_details(request):
        return HttpResponse("Forbidden: staff or the health token only.\n", status=403)
    if not ENABLED:
        return HttpResponse(
            "Metrics are off: install django-multipay[metrics] (prometheus-client).\n",
            status=501,
            content_type="text/plain",
        )
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def _refund_alias(refund: Any) -> str:
    invoice = refund._state.fields_cache.get("invoice")
    if invoice is not None:
        return str(invoice.gateway)
    from django_multipay.models import Invoice

    return str(Invoice.objects.filter(pk=refund.invoice_id).values_list("gateway", flat=True)[0])


def _on_invoice_status(
    sender: Any, invoice: Any, previous: str, current: str, **kwargs: Any
) -> None:
    status_changed(invoice.gateway, previous, current)


def _on_refund_status(sender: Any, refund: Any, previous: str, current: str, **kwargs: Any) -> None:
    refund_changed(_refund_alias(refund), current)


def connect() -> None:
    """Count status changes from the signals the processing engine sends after commit, so a
    change rolled back is never counted (called once, from the app's ``ready``)."""
    if not ENABLED:
        return
    from django_multipay import signals

    signals.invoice_status_changed.connect(_on_invoice_status, dispatch_uid="multipay-metrics")
    signals.refund_status_changed.connect(_on_refund_status, dispatch_uid="multipay-metrics")
