"""App configuration for the gateway emulators (add only to development and test settings)."""

from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "django_multipay.sandbox"
    label = "multipay_sandbox"
    verbose_name = "Payment gateway emulators"
