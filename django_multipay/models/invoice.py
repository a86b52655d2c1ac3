"""One attempt to pay an order at one gateway alias."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from django_multipay import money
from django_multipay.models.fields import amount_field, currency_field
from django_multipay.models.order import Order
from django_multipay.status import CAPTURED, InvoiceStatus


class Invoice(models.Model):
    """A payment attempt. Only :mod:`django_multipay.processing` changes its status."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="invoices"
    )
    gateway = models.CharField(_("gateway alias"), max_length=50, db_index=True)
    gateway_id = models.CharField(
        _("gateway's id"),
        max_length=191,
        blank=True,
        help_text=_("The invoice/order/checkout id the gateway gave this attempt."),
    )
    amount = amount_field(_("amount"))
    currency = currency_field()
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=InvoiceStatus.choices,
        default=InvoiceStatus.CREATED,
        db_index=True,
    )
    captured_amount = amount_field(_("captured"), default=Decimal(0))
    refunded_amount = amount_field(_("refunded"), default=Decimal(0))
    redirect_url = models.URLField(_("redirect URL"), max_length=2000, blank=True)
    expires_at = models.DateTimeField(
        _("payment page expires"),
        null=True,
        blank=True,
        help_text=_("When the payment page stops taking payment."),
    )
    hold_expires_at = models.DateTimeField(
        _("hold lapses"),
        null=True,
        blank=True,
        help_text=_("When an authorized hold lapses at the gateway unless captured."),
    )
    gateway_options = models.JSONField(
        _("gateway options"),
        default=dict,
        blank=True,
        help_text=_("Per-payment gateway options chosen by the shop or its staff."),
    )
    gateway_data = models.JSONField(
        _("last gateway answer"), default=dict, blank=True, help_text=_("Secrets removed.")
    )
    failure_reason = models.CharField(_("failure reason"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Reconciliation's own bookkeeping (never a status): how often the gateway was asked
    # about this invoice while it stayed open, and when to ask next (back-off).
    reconcile_attempts = models.PositiveIntegerField(_("reconciliation attempts"), default=0)
    next_check_at = models.DateTimeField(_("next check"), null=True, blank=True)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ("-created_at",)
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="multipay_invoice_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0) & Q(captured_amount__lte=F("amount")),
                name="multipay_invoice_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("captured_amount")),
                name="multipay_invoice_refunded_within_captured",
            ),
            models.UniqueConstraint(
                fields=("gateway", "gateway_id"),
                condition=~Q(gateway_id=""),
                name="multipay_invoice_unique_gateway_id",
            ),
        ]
        indexes = [
            models.Index(fields=("status", "updated_at"), name="multipay_inv_status_upd"),
            # The overview's period and reconciliation's re-check read invoices by creation.
            models.Index(fields=("created_at",), name="multipay_inv_created"),
        ]

    def __str__(self) -> str:
        try:
            amount = money.format_decimal(self.amount, self.currency)
        except ValidationError:  # an unsaved invoice with a bad amount or currency
            amount = str(self.amount)
        return f"{self.gateway}:{self.gateway_id or self.pk} ({amount} {self.currency})"

    @property
    def is_captured(self) -> bool:
        return self.status in CAPTURED

    @property
    def refundable_amount(self) -> Decimal:
        """What could still be refunded, ignoring refunds that are requested but not settled."""
        return Decimal(self.captured_amount) - Decimal(self.refunded_amount)
