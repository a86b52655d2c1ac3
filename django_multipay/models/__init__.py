"""The payment domain: orders, invoices (payment attempts), refunds, notifications, and the
reconciliation runs that settle them."""

from django_multipay.models.invoice import Invoice
from django_multipay.models.notification import Notification
from django_multipay.models.order import Order, OrderItem
from django_multipay.models.overview import PaymentsOverview
from django_multipay.models.reconciliation import ReconciliationRun
from django_multipay.models.refund import Refund

__all__ = [
    "Invoice",
    "Notification",
    "Order",
    "OrderItem",
    "PaymentsOverview",
    "ReconciliationRun",
    "Refund",
]
