"""One run of reconciliation: when it ran, over what, and what it changed."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ReconciliationRun(models.Model):
    """Recorded by every reconciliation run (command or task), dry runs included, so health
    checks and operators can tell when reconciliation last ran and what it did. A run that
    died midway has no ``finished_at``."""

    started_at = models.DateTimeField(_("started"), db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    gateway = models.CharField(_("gateway alias"), max_length=50, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=False)
    invoices_checked = models.PositiveIntegerField(_("invoices checked"), default=0)
    invoices_changed = models.PositiveIntegerField(_("invoices changed"), default=0)
    invoices_expired = models.PositiveIntegerField(_("invoices expired"), default=0)
    notifications_retried = models.PositiveIntegerField(_("notifications retried"), default=0)
    refunds_settled = models.PositiveIntegerField(_("refunds settled"), default=0)
    errors = models.PositiveIntegerField(_("errors"), default=0)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ("-started_at", "-id")

    def __str__(self) -> str:
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M:%S}"
