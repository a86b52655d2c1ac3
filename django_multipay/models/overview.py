"""The payments overview's place in the admin: a proxy of invoices, with no rows of its own."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from django_multipay.models.invoice import Invoice


class PaymentsOverview(Invoice):
    """Listed in the admin index as *Payments overview*; seen by staff who may view
    invoices (it has no permissions of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("payments overview")
        verbose_name_plural = _("payments overview")
        default_permissions = ()
