"""Receiving a gateway notification: store it raw, authenticate, verify, process, answer."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from django_multipay import logs, metrics, money, payments, processing, signals
from django_multipay.conf import multipay_settings
from django_multipay.exceptions import (
    AmountMismatch,
    GatewayConfigurationError,
    GatewayError,
    NotificationRejected,
)
from django_multipay.gateways.base import BaseGateway
from django_multipay.gateways.results import (
    InboundRequest,
    NotificationEvent,
    Outcome,
    StatusResult,
)
from django_multipay.models import Invoice, Notification
from django_multipay.processing import REFUND_STATUSES, send_after_commit
from django_multipay.redaction import Redactor
from django_multipay.registry import get_gateway
from django_multipay.status import NotificationResult, is_stale

logger = logs.get_logger("django_multipay.notifications")


#: What a backend's parsing raises on a body it cannot read: too deep for the JSON decoder
#: (``RecursionError``), a number no amount can be (``1e309``, ``ArithmeticError``), a field
#: of the wrong shape. The sender's fault, never ours: answered 400 and stored rejected, so
#: it is never retried.
MALFORMED = (
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    ArithmeticError,
    RecursionError,
    ValidationError,
)

#: The columns a notification's ids end up in (``Invoice.gateway_id``, ``dedup_key``).
MAX_ID_LENGTH = 191


def storable(value: str | bytes) -> str:
    """Text any database keeps as it is: bytes that are not UTF-8 and NULs become escapes."""
    text = value.decode("utf-8", errors="backslashreplace") if isinstance(value, bytes) else value
    return text.replace("\x00", "\\x00")


def capture(
    alias: str, request: HttpRequest, gateway: BaseGateway | None, *, max_body: int | None = None
) -> Notification:
    """The raw request as an unsaved ``Notification``, secrets masked."""
    redactor = gateway.redactor if gateway is not None else Redactor()
    headers = redactor.headers(
        {k: storable(v) for k, v in request.headers.items()},
        extra=multipay_settings.REDACT_HEADERS,
    )
    body = request.body if max_body is None else request.body[:max_body]
    return Notification(
        gateway=storable(alias)[:50],
        method=storable(request.method or "")[:10],
        path=storable(request.path)[:500],
        query_string=redactor.text(storable(request.META.get("QUERY_STRING", ""))),
        headers=headers,
        body=redactor.text(storable(body)),
        remote_addr=request.META.get("REMOTE_ADDR") or None,
    )


def _insert(notification: Notification) -> None:
    processing.insert_row(notification)
    logs.bind(notification_id=notification.pk)
    send_after_commit(signals.notification_received, Notification, notification=notification)


def _finish(notification: Notification, result: str, reason: str = "", **fields: Any) -> None:
    """Record how a notification ended: one INSERT if it is not stored yet, else one UPDATE."""
    notification.result = result
    notification.reason = reason[:500]
    notification.processed_at = timezone.now()
    for name, value in fields.items():
        setattr(notification, name, value)
    if notification.pk is None:
        _insert(notification)
    else:
        processing.save_fields(
            notification, ["result", "reason", "processed_at", "attempts", *fields]
        )
    metrics.notification_finished(notification.gateway, result)


def unusable_ids(event: NotificationEvent) -> str:
    """Why the ids a parsed notification names cannot be looked up or stored, or ``""``.

    A NUL is refused by PostgreSQL in any query and an id longer than its column cannot be
    saved: either would fail inside our code, on every retry."""
    named = {
        "invoice id": event.invoice_id,
        "gateway id": event.gateway_id,
        "status gateway id": event.status.gateway_id if event.status is not None else "",
        "de-duplication key": event.dedup_key,
    }
    for what, value in named.items():
        text = str(value or "")
        if "\x00" in text:
            return f"malformed notification: NUL character in the {what}"
        if len(text) > MAX_ID_LENGTH:
            return f"malformed notification: {what} longer than {MAX_ID_LENGTH} characters"
    return ""


def invoice_lookups(gateway: BaseGateway, event: NotificationEvent) -> list[Q]:
    """Where to look for the invoice a notification names, best first: our id, then the
    gateway's id for this alias."""
    lookups = []
    if event.invoice_id:
        try:
            uuid.UUID(str(event.invoice_id))
        except ValueError:
            pass
        else:
            lookups.append(Q(pk=event.invoice_id, gateway=gateway.alias))
    if event.gateway_id:
        lookups.append(Q(gateway=gateway.alias, gateway_id=event.gateway_id))
    return lookups


def find_invoice(gateway: BaseGateway, event: NotificationEvent) -> Invoice | None:
    """The invoice a notification names: by our id, or by the gateway's id for this alias."""
    for lookup in invoice_lookups(gateway, event):
        found = Invoice.objects.filter(lookup).first()
        if found is not None:
            return found
    return None


def verify_and_apply(
    gateway: BaseGateway, invoice: Invoice, event: NotificationEvent, notification: Notification
) -> Outcome:
    """Read the truth (unless the notification is signed over status and amount) and apply it.

    A refund event settles our refunds from the gateway's refund list. A payment event whose
    claim the gateway does not confirm is refused (``NotificationRejected``)."""
    if event.kind == "refund":
        settled = payments.sync_refunds(invoice)
        result = NotificationResult.PROCESSED if settled else NotificationResult.DUPLICATE
        return Outcome(result, invoice.pk, reason=f"{len(settled)} refund(s) settled")
    if event.authoritative and event.status is not None:
        status = event.status
    else:
        status = gateway.verify_notification(invoice, event)
        check_claim(invoice, event.status, status)
    return payments.apply_verified(
        invoice, status, dedup_key=event.dedup_key, record=partial(_claim, notification)
    )


def _claim(notification: Notification, outcome: Outcome) -> None:
    """Save the de-duplication key a change claimed, in the transaction that made it."""
    if outcome.claimed_key:
        # If the key's unique index refuses it, the row keeps no key it lost.
        previous, notification.dedup_key = notification.dedup_key, outcome.claimed_key
        try:
            processing.save_fields(notification, ["dedup_key"])
        except Exception:
            notification.dedup_key = previous
            raise


def applies_without_gateway(event: NotificationEvent) -> bool:
    """True if the event is applied as it stands, with no call to the gateway: a payment
    status its signature vouches for (status *and* amount), not one that speaks of refunds
    (those are settled from the gateway's refund list)."""
    return (
        event.kind == "payment"
        and event.authoritative
        and event.status is not None
        and event.status.status not in REFUND_STATUSES
    )


def check_claim(invoice: Invoice, claim: StatusResult | None, truth: StatusResult) -> None:
    """Refuse a notification that names another amount, or claims more than the gateway says.

    A claim the truth has already passed (a late "pending" after "paid") is not a lie."""
    if claim is None:
        return
    if (claim.currency and claim.currency.upper() != invoice.currency) or (
        claim.amount is not None and money.to_decimal(claim.amount) != invoice.amount
    ):
        raise NotificationRejected(
            "notification names another amount or currency than the invoice", code="amount"
        )
    if claim.status != truth.status and not is_stale(truth.status, claim.status):
        raise NotificationRejected(
            f"notification says {claim.status} but the gateway says {truth.status}",
            code="disagrees",
        )


def handle(
    alias: str, request: HttpRequest, *, enqueue: Callable[[int], object] | None = None
) -> HttpResponse:
    """The whole notify flow for one request. Never raises: every failure is an answer.

    With ``enqueue`` (the notify view passes the task's, under ``DEFER_NOTIFICATIONS``) the
    verification and the status change are deferred to it, given the stored row's id."""
    with logs.scope(alias=alias):
        return _handle(alias, request, enqueue)


def _handle(
    alias: str, request: HttpRequest, enqueue: Callable[[int], object] | None
) -> HttpResponse:
    try:
        gateway: BaseGateway | None = get_gateway(alias)
    except GatewayConfigurationError:
        gateway = None
    limit = int(multipay_settings.MAX_NOTIFICATION_BYTES)
    if len(request.body) > limit:
        notification = capture(alias, request, gateway, max_body=limit)
        _finish(notification, NotificationResult.REJECTED, "body too large", attempts=1)
        return HttpResponse("Body too large", status=413, content_type="text/plain")
    notification = capture(alias, request, gateway)
    if gateway is None:
        _finish(
            notification,
            NotificationResult.REJECTED,
            f"unknown gateway alias {alias!r}",
            attempts=1,
        )
        return HttpResponse("Unknown gateway", status=404, content_type="text/plain")
    try:
        return process(
            gateway,
            notification,
            InboundRequest.from_django(request),
            defer=enqueue,
        )
    except Exception:
        # A fault of ours, not of the sender: keep the row for a retry and ask the gateway to
        # repeat later, rather than answer with a bare 500.
        logger.exception("Processing %s notification #%s failed", alias, notification.pk)
        _finish(notification, NotificationResult.FAILED, "internal error; will be retried")
        return gateway.rejection_response("Temporary failure; retry later", 503)


def process(
    gateway: BaseGateway,
    notification: Notification,
    inbound: InboundRequest,
    *,
    defer: Callable[[int], object] | None = None,
) -> HttpResponse:
    """Authenticate, verify and apply a notification, stored or not yet stored.

    The raw row is committed before anything is asked of the gateway or of a task worker, so
    a crash or a timeout there leaves a row to retry. A refusal that needs neither is stored
    once, with its reason; an event applied as it stands is stored in the transaction that
    applies it (see ``apply_signed``).

    With ``defer`` (a task's enqueue) the notification is authenticated here (a signature
    with a time limit is checked while fresh) and the gateway is answered at once; the
    server-to-server verification and the status change run in that task on the stored
    row."""
    notification.attempts += 1
    try:
        event = gateway.parse_notification(inbound)
    except NotificationRejected as exc:
        logger.warning(
            "Rejected %s notification #%s: %s", gateway.alias, notification.pk, exc.reason
        )
        _finish(notification, NotificationResult.REJECTED, exc.reason)
        return gateway.rejection_response(exc.reason, exc.status_code)
    except MALFORMED as exc:
        reason = f"malformed notification: {type(exc).__name__}"
        logger.warning("Rejected %s notification #%s: %s", gateway.alias, notification.pk, reason)
        _finish(notification, NotificationResult.REJECTED, reason)
        return gateway.rejection_response(reason, 400)
    unusable = unusable_ids(event)
    if unusable:
        _finish(notification, NotificationResult.REJECTED, unusable)
        return gateway.rejection_response(unusable, 400)
    notification.verified = gateway.capabilities.signed_notifications
    if event.kind not in ("payment", "refund"):
        _finish(
            notification,
            NotificationResult.IGNORED,
            f"{event.kind} event",
            verified=notification.verified,
        )
        return gateway.notification_response(Outcome(NotificationResult.IGNORED, reason=event.kind))
    if defer is None and applies_without_gateway(event):
        return apply_signed(gateway, event, notification)
    invoice = find_invoice(gateway, event)
    if invoice is None:
        _finish(
            notification,
            NotificationResult.REJECTED,
            "unknown invoice",
            verified=notification.verified,
        )
        return gateway.rejection_response("Unknown invoice", 404)
    notification.invoice = invoice
    logs.bind(invoice_id=invoice.pk)
    if defer is not None:
        notification.attempts -= 1  # only authenticated here: the task's run is the attempt
    if notification.pk is None:
        _insert(notification)  # committed before the gateway or a worker is asked anything
    else:
        processing.save_fields(notification, ["invoice", "verified", "attempts"])
    if defer is not None:
        return _defer(gateway, notification, defer)
    return apply_event(gateway, invoice, event, notification)


def apply_signed(
    gateway: BaseGateway, event: NotificationEvent, notification: Notification
) -> HttpResponse:
    """Apply a status the notification's signature vouches for, storing the notification in
    the same transaction: it commits with its outcome, or not at all.

    Nothing here waits on the gateway, so the transaction is short; if it fails, the caller
    stores the notification as failed, and a process killed before the commit has not
    answered, so the gateway sends the notification again."""
    assert event.status is not None

    def record(outcome: Outcome) -> None:
        _finish(
            notification,
            outcome.result,
            outcome.reason,
            invoice_id=outcome.invoice_id,
            verified=True,
            dedup_key=outcome.claimed_key,
        )

    stored = notification.pk is not None
    for lookup in invoice_lookups(gateway, event):
        try:
            outcome = processing.apply_status(
                lookup, event.status, dedup_key=event.dedup_key, record=record
            )
        except Invoice.DoesNotExist:
            continue
        except AmountMismatch as exc:
            logger.error("Notification #%s refused: %s", notification.pk, exc)
            _finish(
                notification,
                NotificationResult.REJECTED,
                str(exc),
                invoice=find_invoice(gateway, event),
            )
            return gateway.rejection_response("Amount or currency mismatch", 400)
        except Exception:
            if not stored:
                # The row went with the rolled-back transaction; the caller stores it afresh,
                # tied to its invoice so that a retry need not trust an expired signature.
                notification.pk = None
                notification._state.adding = True
                with contextlib.suppress(DatabaseError):
                    notification.invoice = find_invoice(gateway, event)
            raise
        return gateway.notification_response(outcome)
    _finish(
        notification, NotificationResult.REJECTED, "unknown invoice", verified=notification.verified
    )
    return gateway.rejection_response("Unknown invoice", 404)


def _defer(
    gateway: BaseGateway, notification: Notification, enqueue: Callable[[int], object]
) -> HttpResponse:
    # Stays "received" until the task finishes it; reconciliation picks up any a worker lost.
    # After commit, so a worker never looks for a row it cannot see yet.
    transaction.on_commit(partial(enqueue, notification.pk))
    return gateway.notification_response(
        Outcome(NotificationResult.RECEIVED, notification.invoice_id, reason="deferred")
    )


def apply_event(
    gateway: BaseGateway, invoice: Invoice, event: NotificationEvent, notification: Notification
) -> HttpResponse:
    """Verify and apply a parsed event for a stored notification, record the outcome on it,
    and give the answer the gateway expects (used by the view, retries and deferred tasks)."""
    try:
        outcome = verify_and_apply(gateway, invoice, event, notification)
    except NotificationRejected as exc:
        logger.warning("Notification #%s refused: %s", notification.pk, exc.reason)
        _finish(notification, NotificationResult.REJECTED, exc.reason, invoice=invoice)
        return gateway.rejection_response(exc.reason, exc.status_code)
    except AmountMismatch as exc:
        logger.error("Notification #%s refused: %s", notification.pk, exc)
        _finish(notification, NotificationResult.REJECTED, str(exc), invoice=invoice)
        return gateway.rejection_response("Amount or currency mismatch", 400)
    except GatewayError as exc:
        # Kept as failed: reconciliation (or the gateway's own retry) will try again.
        logger.warning("Notification #%s could not be verified: %s", notification.pk, exc)
        _finish(notification, NotificationResult.FAILED, str(exc), invoice=invoice)
        return gateway.rejection_response("Could not verify with the gateway; retry later", 503)
    _finish(
        notification,
        outcome.result,
        outcome.reason,
        invoice=invoice,
        verified=True,
    )
    return gateway.notification_response(outcome)


def stored_request(notification: Notification) -> InboundRequest:
    """The stored notification as the backend saw it (bodies and signature headers are kept)."""
    return InboundRequest(
        method=notification.method,
        path=notification.path,
        headers={str(k).lower(): str(v) for k, v in (notification.headers or {}).items()},
        body=notification.body.encode("utf-8"),
        query_string=notification.query_string,
        remote_addr=notification.remote_addr,
    )


def reprocess(notification: Notification) -> HttpResponse:
    """Run a stored notification through the notify flow again: the one replay path, for
    the admin's Reprocess, reconciliation's retries and the deferred-notification task.

    Without an invoice (it never got that far) the stored request is taken as if it had just
    arrived. With one, it is parsed again for what it says (a payment or a refund, its claim
    and de-duplication key), and verified and applied as that. When it no longer
    authenticates (a signature with a time limit has aged since it was checked) nothing it
    says is taken: the gateway is asked both the payment's status and, where it lists them,
    its refunds, since either may be what the notification was about."""
    gateway = get_gateway(notification.gateway)
    inbound = stored_request(notification)
    if notification.invoice_id is None:
        return process(gateway, notification, inbound)
    invoice = Invoice.objects.get(pk=notification.invoice_id)
    try:
        event = gateway.parse_notification(inbound)
    except (NotificationRejected, *MALFORMED):
        event = None
    notification.attempts += 1
    if event is not None:
        return apply_event(gateway, invoice, event, notification)
    answer = apply_event(
        gateway, invoice, NotificationEvent(invoice_id=str(invoice.pk)), notification
    )
    if (
        gateway.supports("list_refunds")
        and invoice.refunds.filter(status__in=processing.RESOLVABLE_REFUND_STATUSES).exists()
    ):
        settled = payments.sync_refunds(invoice)
        if settled and notification.result != NotificationResult.PROCESSED:
            # The refunds were what it was about: it did change something.
            notification.result = NotificationResult.PROCESSED
            notification.reason = f"{len(settled)} refund(s) settled"
            Notification.objects.filter(pk=notification.pk).update(
                result=notification.result, reason=notification.reason
            )
    return answer
