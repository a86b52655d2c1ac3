"""The Python API for shops: create an order, start a payment, refund, capture, cancel, refresh."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from django_multipay import logs, money, processing, refund_matching
from django_multipay.conf import multipay_settings
from django_multipay.exceptions import (
    AmountMismatch,
    GatewayConfigurationError,
    GatewayError,
    InvalidRequest,
    RefundRefused,
    UnsupportedOperation,
)
from django_multipay.gateways.base import BaseGateway
from django_multipay.gateways.results import Outcome, PaymentAction, PaymentUrls, StatusResult
from django_multipay.models import Invoice, Order, OrderItem, Refund
from django_multipay.registry import get_gateway, has_gateway
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus

logger = logs.get_logger("django_multipay.payments")

#: Orders in these statuses cannot start a new payment.
NOT_PAYABLE = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.PARTIALLY_REFUNDED,
        OrderStatus.REFUNDED,
        OrderStatus.CANCELLED,
    }
)

ITEM_FIELDS = ("reference", "name", "description", "quantity", "unit_price", "url", "image_url")


def create_order(
    *,
    reference: str,
    amount: Decimal | str | None = None,
    currency: str,
    items: Iterable[Mapping[str, Any]] = (),
    **fields: Any,
) -> Order:
    """Create a validated order with its items. ``amount`` defaults to the items' total
    plus ``tax_amount`` and ``shipping_amount``.

    Raises ``InvalidRequest`` naming every bad field.
    """
    currency = str(currency).upper()
    given = list(items)
    errors: dict[str, str] = {}
    for index, fields_given in enumerate(given):
        unknown = sorted(set(fields_given) - set(ITEM_FIELDS))
        if unknown:
            errors[f"items[{index}]"] = _("unknown fields %(fields)s") % {
                "fields": ", ".join(unknown)
            }
    item_rows = [OrderItem(**{k: v for k, v in g.items() if k in ITEM_FIELDS}) for g in given]
    for index, item in enumerate(item_rows):
        item_errors: dict[str, list[str]] = {}
        try:
            item.unit_price = money.validate_amount(item.unit_price, currency, allow_zero=True)
        except ValidationError as exc:
            item_errors["unit_price"] = list(exc.messages)
        try:
            item.full_clean(exclude=["order", *item_errors])
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                item_errors.setdefault(key, []).extend(messages)
        errors.update({f"items[{index}].{k}": "; ".join(v) for k, v in item_errors.items()})
    if amount is None:
        # Strings and Decimals are summed exactly; a bad item price or total is reported below.
        try:
            amount = sum(
                (money.to_decimal(i.unit_price) * int(i.quantity) for i in item_rows), Decimal(0)
            )
            amount += money.to_decimal(fields.get("tax_amount", 0))
            amount += money.to_decimal(fields.get("shipping_amount", 0))
        except (ValidationError, TypeError, ValueError):
            amount = None
    try:
        amount = Decimal(0) if amount is None else money.to_decimal(amount)
    except ValidationError as exc:
        errors["amount"] = "; ".join(exc.messages)
        amount = Decimal(0)
    order = Order(reference=reference, amount=amount, currency=currency, **fields)
    try:
        order.full_clean()
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, "; ".join(messages))
    if errors:
        raise InvalidRequest(
            _("Invalid order: %(errors)s")
            % {"errors": "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))},
            fields=errors,
        )
    try:
        with transaction.atomic():
            order.save()
            for item in item_rows:
                item.order = order
            OrderItem.objects.bulk_create(item_rows)
    except IntegrityError:
        # Another order took the reference between the check above and this insert.
        if not Order.objects.filter(reference=reference).exists():
            raise
        message = _("An order with this reference already exists.")
        raise InvalidRequest(
            _("Invalid order: %(errors)s") % {"errors": f"reference: {message}"},
            fields={"reference": message},
        ) from None
    return order


def _absolute(path: str, request: HttpRequest | None) -> str:
    base = multipay_settings.BASE_URL
    if base:
        return str(base).rstrip("/") + path
    if request is not None:
        return request.build_absolute_uri(path)
    raise GatewayConfigurationError("Set MULTIPAY['BASE_URL'] to start payments outside a request.")


def payment_urls(invoice: Invoice, request: HttpRequest | None = None) -> PaymentUrls:
    return_path = reverse("django_multipay:return", kwargs={"invoice_id": invoice.pk})
    return PaymentUrls(
        return_url=_absolute(return_path, request),
        cancel_url=_absolute(return_path + "?cancelled=1", request),
        notify_url=_absolute(
            reverse("django_multipay:notify", kwargs={"alias": invoice.gateway}), request
        ),
    )


def check_payable(order: Order, gateway: BaseGateway) -> None:
    """Refuse orders that are settled, and currencies or amounts the gateway does not take."""
    if order.status in NOT_PAYABLE:
        raise InvalidRequest(
            _("Order %(reference)s is %(status)s and cannot be paid.")
            % {"reference": order.reference, "status": order.status},
            code="order_not_payable",
        )
    if not gateway.accepts_currency(order.currency):
        raise InvalidRequest(
            _("%(gateway)s does not take %(currency)s.")
            % {"gateway": gateway.display_name, "currency": order.currency},
            gateway=gateway.alias,
        )
    caps = gateway.capabilities
    if caps.min_amount is not None and order.amount < caps.min_amount:
        raise InvalidRequest(
            _("%(gateway)s takes at least %(amount)s %(currency)s.")
            % {
                "gateway": gateway.display_name,
                "amount": caps.min_amount,
                "currency": order.currency,
            },
            gateway=gateway.alias,
        )
    if caps.max_amount is not None and order.amount > caps.max_amount:
        raise InvalidRequest(
            _("%(gateway)s takes at most %(amount)s %(currency)s.")
            % {
                "gateway": gateway.display_name,
                "amount": caps.max_amount,
                "currency": order.currency,
            },
            gateway=gateway.alias,
        )


def start_payment(
    order: Order,
    alias: str | None = None,
    *,
    request: HttpRequest | None = None,
    options: Mapping[str, Any] | None = None,
) -> PaymentAction:
    """Create an invoice for ``order`` at ``alias`` (default: ``DEFAULT_GATEWAY``), call the
    gateway, and say where the customer goes.

    ``options`` are per-payment gateway options chosen by the shop's code (never taken from
    what a customer sent): checked against what the backend declares and kept on the invoice.

    Raises ``InvalidRequest`` for unknown aliases, unpayable orders and bad options (before any
    invoice exists), ``GatewayError`` when the gateway refuses (the invoice is then marked
    failed).
    """
    return begin_payment(order, alias, request=request, options=options)[1]


def begin_payment(
    order: Order,
    alias: str | None = None,
    *,
    request: HttpRequest | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[Invoice, PaymentAction]:
    """:func:`start_payment`, also returning the invoice it created (refreshed)."""
    alias = alias or multipay_settings.DEFAULT_GATEWAY
    with logs.scope(alias=alias):
        return _begin_payment(order, alias, request=request, options=options)


def _begin_payment(
    order: Order,
    alias: str | None,
    *,
    request: HttpRequest | None,
    options: Mapping[str, Any] | None,
) -> tuple[Invoice, PaymentAction]:
    if not alias or not has_gateway(alias):
        raise InvalidRequest(_("Unknown payment method %(alias)r.") % {"alias": alias})
    gateway = get_gateway(alias)
    # A test-only backend outside DEBUG: refused before any row exists or any call is made.
    gateway.ensure_allowed()
    order.refresh_from_db(fields=["status"])
    check_payable(order, gateway)
    # Checked before the row is saved: bad options leave no invoice behind.
    gateway_options = gateway.check_payment_options(options, order)
    invoice = Invoice(
        order=order,
        gateway=alias,
        amount=order.amount,
        currency=order.currency,
        gateway_options=gateway_options,
    )
    # Built before the row is saved: a configuration error must not leave a stranded invoice.
    urls = payment_urls(invoice, request)
    invoice.save()
    logs.bind(invoice_id=invoice.pk)
    try:
        started = gateway.start_payment(invoice, urls)
    except GatewayError as exc:
        processing.mark_failed(invoice.pk, str(exc))
        raise
    except InvalidRequest as exc:
        processing.mark_failed(invoice.pk, str(exc))
        raise
    except Exception as exc:
        # A backend bug must not strand the invoice as created; its text may hold anything.
        processing.mark_failed(
            invoice.pk, f"Unexpected error starting the payment: {type(exc).__name__}"
        )
        raise
    written = processing.mark_pending(
        invoice.pk,
        gateway_id=started.gateway_id,
        redirect_url=started.action.url,
        expires_at=started.expires_at,
        gateway_data=gateway.redact(dict(started.raw)),
    )
    # The row as it was written under the lock: what refresh_from_db() would read back.
    for field in Invoice._meta.concrete_fields:
        setattr(invoice, field.attname, getattr(written, field.attname))
    return invoice, started.action


@logs.for_invoice
def refresh(invoice: Invoice) -> Outcome:
    """Read the invoice's true status from the gateway and apply it."""
    gateway = get_gateway(invoice.gateway)
    gateway.require("fetch_status")
    return apply_verified(invoice, gateway.fetch_status(invoice))


def apply_verified(invoice: Invoice, result: StatusResult, **kwargs: Any) -> Outcome:
    """Apply a status read from the gateway; where it speaks of refunds, settle our refund
    rows from the gateway's refund list too (refund amounts are only counted from them)."""
    gateway = get_gateway(invoice.gateway)
    outcome = processing.apply_status(
        invoice.pk,
        result,
        gateway_data=gateway.redact(dict(result.raw)) if result.raw else None,
        **kwargs,
    )
    if result.status in processing.REFUND_STATUSES and gateway.supports("list_refunds"):
        settled = sync_refunds(invoice)
        if settled and outcome.result != NotificationResult.PROCESSED:
            outcome = dataclasses.replace(
                outcome,
                result=NotificationResult.PROCESSED,
                reason=f"{len(settled)} refund(s) settled",
            )
    return outcome


@logs.for_invoice
def refund(
    invoice: Invoice,
    amount: Decimal | str | None = None,
    *,
    reason: str = "",
    user: Any = None,
    idempotency_key: str | None = None,
) -> Refund:
    """Refund ``amount`` (default: all that is left) of a paid invoice.

    The refund row is saved before the gateway is called; calling again with the same
    ``idempotency_key`` returns that refund instead of refunding twice.
    """
    gateway = get_gateway(invoice.gateway)
    gateway.require("refund")
    caps = gateway.capabilities
    try:
        value = money.to_decimal(amount) if amount is not None else None
    except ValidationError as exc:
        raise RefundRefused(
            _("Invalid refund amount: %(reason)s") % {"reason": "; ".join(exc.messages)}
        ) from None
    saved, created = processing.reserve_refund(
        invoice.pk,
        value,
        reason=reason,
        user=user,
        idempotency_key=idempotency_key,
        partial_allowed=caps.partial_refund,
        max_refunds=caps.max_refunds,
    )
    if not created:
        if saved.status != RefundStatus.REQUESTED:
            return saved
        if not caps.idempotent_refunds:
            # The first call's outcome is unknown and the gateway cannot de-duplicate: sending
            # it again could pay the customer back twice.
            raise RefundRefused(
                _(
                    "Refund %(refund)s may already have reached %(gateway)s; check it there "
                    "(or reconcile) before trying again."
                )
                % {"refund": saved.pk, "gateway": gateway.display_name},
                gateway=gateway.alias,
                code="refund_outcome_unknown",
            )
    return processing.run_refund(saved, gateway.refund, gateway.redact)


@logs.for_invoice
def sync_refunds(invoice: Invoice) -> list[Refund]:
    """Read what the gateway says of the invoice's refunds and settle ours that it accounts for.

    The gateway's report is read first; then, under the invoice lock, the core decides which
    of our refunds it settles (:func:`django_multipay.refund_matching.match_refunds`): tied by
    the gateway's refund id or our echoed key, an anonymous line only to a refund whose call
    the gateway answered, and never more succeeded than the gateway's total. A refund whose
    call had no answer is settled from the gateway's record only once it is older than
    ``REFUND_SETTLE_UNKNOWN_AFTER``. Returns the refunds whose status changed. Refunds at the
    gateway that we have no record of (made in its dashboard) are logged, not invented.
    """
    gateway = get_gateway(invoice.gateway)
    gateway.require("list_refunds")
    read_at = timezone.now()
    report = gateway.refund_report(invoice)
    wait = timedelta(seconds=float(multipay_settings.REFUND_SETTLE_UNKNOWN_AFTER))
    changed: list[Refund] = []
    with transaction.atomic():
        _order, locked = processing.lock_invoice(invoice.pk)
        ours = list(Refund.objects.filter(invoice_id=invoice.pk))
        matching = refund_matching.match_refunds(
            ours,
            report,
            captured=locked.captured_amount,
            settle_unknown_before=read_at - wait,
        )
        for settlement in matching.settlements:
            data = gateway.redact({**dict(settlement.result.raw), "matched_by": settlement.basis})
            try:
                with transaction.atomic():
                    changed.append(
                        processing.apply_refund_result(
                            settlement.refund_id, settlement.result, gateway_data=data
                        )
                    )
            except AmountMismatch as exc:
                logger.error(
                    "Invoice %s: refund %s not settled: %s", invoice.pk, settlement.refund_id, exc
                )
    for line in matching.unattributed:
        logger.warning(
            "Invoice %s: the gateway reports refund %s (%s %s, %s) that is not recorded here "
            "(or that no refund here can be tied to)",
            invoice.pk,
            line.gateway_refund_id or "?",
            line.amount,
            line.currency or invoice.currency,
            line.status,
        )
    if matching.unknown:
        logger.warning(
            "Invoice %s: %d refund(s) of unknown outcome the gateway's record cannot settle; "
            "reconcile later or resolve them in the admin",
            invoice.pk,
            len(matching.unknown),
        )
    if matching.overcounted:
        logger.error(
            "Invoice %s: our succeeded refunds exceed the gateway's refunded total %s by %s",
            invoice.pk,
            matching.gateway_total,
            matching.overcounted,
        )
    return changed


def resolve_refund(refund: Refund, *, refunded: bool, user: Any, reason: str) -> Refund:
    """Staff's decision on a refund of unknown outcome: ``refunded`` says whether the gateway
    did refund it (seen in its dashboard, say). Recorded with who, when and why; marking it
    not refunded frees its amount. See :func:`processing.resolve_refund`."""
    return processing.resolve_refund(refund.pk, refunded=refunded, user=user, reason=reason)


@logs.for_invoice
def capture(invoice: Invoice, amount: Decimal | str | None = None) -> Outcome:
    """Capture an authorized invoice (all of it by default)."""
    gateway = get_gateway(invoice.gateway)
    gateway.require("capture")
    if invoice.status != InvoiceStatus.AUTHORIZED:
        raise InvalidRequest(
            _("Only authorized invoices can be captured; this one is %(status)s.")
            % {"status": invoice.status},
            code="invalid_status",
        )
    try:
        value = money.validate_amount(
            amount if amount is not None else invoice.amount, invoice.currency
        )
    except ValidationError as exc:
        raise InvalidRequest(
            _("Invalid capture amount: %(reason)s") % {"reason": "; ".join(exc.messages)}
        ) from None
    if value > invoice.amount:
        raise InvalidRequest(
            _("Cannot capture %(amount)s; the invoice is for %(total)s.")
            % {"amount": value, "total": invoice.amount}
        )
    if gateway.supports("fetch_status"):
        # A capture whose answer was lost (timeout) may have happened: look before capturing.
        current = gateway.fetch_status(invoice)
        if current.status != InvoiceStatus.AUTHORIZED:
            return processing.apply_status(
                invoice.pk, current, gateway_data=gateway.redact(dict(current.raw))
            )
    result = gateway.capture(invoice, value)
    return processing.apply_status(
        invoice.pk, result, gateway_data=gateway.redact(dict(result.raw))
    )


@logs.for_invoice
def cancel(invoice: Invoice) -> Outcome:
    """Cancel an invoice the customer has not paid (pending or authorized)."""
    gateway = get_gateway(invoice.gateway)
    gateway.require("cancel")
    if invoice.status not in (
        InvoiceStatus.CREATED,
        InvoiceStatus.PENDING,
        InvoiceStatus.AUTHORIZED,
    ):
        raise InvalidRequest(
            _("Only unpaid invoices can be cancelled; this one is %(status)s.")
            % {"status": invoice.status},
            code="invalid_status",
        )
    result = gateway.cancel(invoice)
    return processing.apply_status(
        invoice.pk, result, gateway_data=gateway.redact(dict(result.raw))
    )


def order_status(order: Order) -> str:
    """The order's current status, read from the database."""
    return str(Order.objects.values_list("status", flat=True).get(pk=order.pk))


def supports(alias: str, operation: str) -> bool:
    """Whether the gateway at ``alias`` declares ``operation`` (``refund``, ``capture``…)."""
    try:
        return get_gateway(alias).supports(operation)
    except (GatewayConfigurationError, UnsupportedOperation, ValueError):
        return False
