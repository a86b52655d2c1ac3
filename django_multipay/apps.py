"""Django app configuration for django-multipay."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MultipayConfig(AppConfig):
    name = "django_multipay"
    label = "django_multipay"
    verbose_name = _("Payments")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_multipay import checks, metrics, registry  # noqa: F401 - registers checks and receivers

        metrics.connect()
