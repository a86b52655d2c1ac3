"""Signals sent after commit, exactly once per transition (see docs/signals.md)."""

from __future__ import annotations

from django.dispatch import Signal

#: An invoice moved. Arguments: ``invoice``, ``previous``, ``current`` (status values).
invoice_status_changed = Signal()

#: An order became paid. Arguments: ``order``, ``invoice`` (the invoice that paid it).
order_paid = Signal()

#: An order's derived status moved. Arguments: ``order``, ``previous``, ``current``.
order_status_changed = Signal()

#: A refund moved. Arguments: ``refund``, ``previous``, ``current``.
refund_status_changed = Signal()

#: A notification was stored, before it is verified. Arguments: ``notification``.
notification_received = Signal()
