"""One inbound callback from a gateway, stored raw before anything else happens."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_multipay.models.invoice import Invoice
from django_multipay.status import NotificationResult


class Notification(models.Model):
    """A raw IPN, webhook or callback and what became of it."""

    gateway = models.CharField(_("gateway alias"), max_length=50, db_index=True)
    invoice = models.ForeignKey(
        Invoice,
        verbose_name=_("invoice"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=500)
    query_string = models.TextField(_("query string"), blank=True)
    headers = models.JSONField(
        _("headers"), default=dict, blank=True, help_text=_("Secrets removed.")
    )
    body = models.TextField(_("body"), blank=True)
    remote_addr = models.GenericIPAddressField(_("source address"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), auto_now_add=True, db_index=True)
    verified = models.BooleanField(_("verified"), default=False)
    result = models.CharField(
        _("result"),
        max_length=20,
        choices=NotificationResult.choices,
        default=NotificationResult.RECEIVED,
        db_index=True,
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    dedup_key = models.CharField(
        _("de-duplication key"),
        max_length=191,
        blank=True,
        help_text=_("Set once processed; a second notification with the same key is a duplicate."),
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ("-received_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("gateway", "dedup_key"),
                condition=~Q(dedup_key=""),
                name="multipay_notification_unique_dedup_key",
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(gateway)s notification #%(id)s (%(result)s)") % {
            "gateway": self.gateway,
            "id": self.pk,
            "result": self.result,
        }
