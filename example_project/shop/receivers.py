"""What the shop does when payments move. Connected in ``ShopConfig.ready()``.

Each receiver is idempotent: it only moves a shop order forward from the states it expects,
with one conditional UPDATE, so running it twice changes nothing the second time.
``record_event`` instead keeps one row per signal received: signals come once per transition,
so its rows show each transition once.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from django_multipay import signals
from django_multipay.models import Order
from django_multipay.status import OrderStatus
from shop.models import PaymentEvent, ShopOrder

logger = logging.getLogger("shop.receivers")

F = ShopOrder.Fulfilment


def mark_paid(sender: Any, order: Order, **kwargs: Any) -> None:
    """``order_paid``: the shop can ship."""
    moved = ShopOrder.objects.filter(
        order_id=order.pk, fulfilment_status=F.AWAITING_PAYMENT
    ).update(fulfilment_status=F.PAID, paid_at=timezone.now())
    if moved:
        logger.info("Order %s paid: ready to ship", order.reference)


def follow_order_status(
    sender: Any, order: Order, previous: str, current: str, **kwargs: Any
) -> None:
    """``order_status_changed``: record refunds (payment itself is ``mark_paid``'s job)."""
    if current == OrderStatus.REFUNDED:
        moved = (
            ShopOrder.objects.filter(order_id=order.pk)
            .exclude(fulfilment_status=F.REFUNDED)
            .update(fulfilment_status=F.REFUNDED)
        )
    elif current == OrderStatus.PARTIALLY_REFUNDED:
        moved = ShopOrder.objects.filter(
            order_id=order.pk, fulfilment_status__in=[F.AWAITING_PAYMENT, F.PAID]
        ).update(fulfilment_status=F.PARTIALLY_REFUNDED)
    else:
        return
    if moved:
        logger.info("Order %s is now %s", order.reference, current)


def record_event(sender: Any, signal: Any, **kwargs: Any) -> None:
    """Every payment signal: one ``PaymentEvent`` row, the shop's audit trail."""
    order = kwargs.get("order")
    invoice = kwargs.get("invoice")
    refund = kwargs.get("refund")
    if refund is not None:
        invoice = refund.invoice
    if invoice is not None and order is None:
        order = invoice.order
    PaymentEvent.objects.create(
        signal=SIGNAL_NAMES.get(signal, "unknown"),
        order_reference=order.reference if order is not None else "",
        invoice_id=invoice.pk if invoice is not None else None,
        refund_id=refund.pk if refund is not None else None,
        previous=kwargs.get("previous") or "",
        current=kwargs.get("current") or "",
    )


SIGNAL_NAMES = {
    signals.invoice_status_changed: "invoice_status_changed",
    signals.order_paid: "order_paid",
    signals.order_status_changed: "order_status_changed",
    signals.refund_status_changed: "refund_status_changed",
}
