"""Admin pages for operators: look payments up, refund, verify, capture, cancel, reprocess."""

# Statuses and amounts are read-only here: they change only through the actions, which call
# the Python API (:mod:`django_multipay.payments`), so every change goes through the processing
# engine's locks and the audit trail stays true. docs/admin.md is the operator's guide.
#
# Django's autodiscovery imports this package: importing each module below registers its
# ModelAdmin with the default admin site, once. The payments overview page
# (django_multipay.admin.overview) registers itself the same way.

from __future__ import annotations

from django_multipay.admin.invoices import SETTLEMENT_KEY, InvoiceAdmin
from django_multipay.admin.notifications import NotificationAdmin
from django_multipay.admin.orders import OrderAdmin
from django_multipay.admin.overview import PaymentsOverviewAdmin
from django_multipay.admin.reconciliation import ReconciliationRunAdmin
from django_multipay.admin.refunds import RefundAdmin

__all__ = [
    "SETTLEMENT_KEY",
    "InvoiceAdmin",
    "NotificationAdmin",
    "OrderAdmin",
    "PaymentsOverviewAdmin",
    "ReconciliationRunAdmin",
    "RefundAdmin",
]
