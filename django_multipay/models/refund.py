"""Money given back on an invoice."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_multipay import money
from django_multipay.models.fields import amount_field, currency_field
from django_multipay.models.invoice import Invoice
from django_multipay.status import RefundStatus


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class Refund(models.Model):
    """Saved before the gateway is called, so a timeout never causes a second refund."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(
        Invoice, verbose_name=_("invoice"), on_delete=models.PROTECT, related_name="refunds"
    )
    amount = amount_field(_("amount"))
    currency = currency_field()
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=RefundStatus.choices,
        default=RefundStatus.REQUESTED,
        db_index=True,
    )
    gateway_refund_id = models.CharField(_("gateway's refund id"), max_length=191, blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=100, unique=True, default=new_idempotency_key
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    gateway_data = models.JSONField(_("last gateway answer"), default=dict, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=500, blank=True)
    # A staff decision on a refund whose outcome the gateway could not tell (who, when, why).
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("resolved by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolution_note = models.CharField(_("resolution reason"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ("-created_at",)
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="multipay_refund_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        try:
            amount = money.format_decimal(self.amount, self.currency)
        except ValidationError:  # an unsaved refund with a bad amount or currency
            amount = str(self.amount)
        return gettext("Refund %(amount)s %(currency)s (%(status)s)") % {
            "amount": amount,
            "currency": self.currency,
            "status": self.status,
        }

    @property
    def outcome_unknown(self) -> bool:
        """Still ``requested``: the gateway never gave a readable answer to its call."""
        return self.status == RefundStatus.REQUESTED
