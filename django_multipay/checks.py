"""Django system checks for the ``MULTIPAY`` setting, one ID per mistake."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.registry import backend_class

DOCS = "See the settings reference in the django-multipay documentation."


@register(Tags.security, "multipay")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate ``MULTIPAY`` and every gateway alias in it."""
    raw = getattr(settings, "MULTIPAY", {})
    if not isinstance(raw, dict):
        return [Error("MULTIPAY must be a dict.", hint=DOCS, id="multipay.E001")]
    gateways = raw.get("GATEWAYS", {})
    if not isinstance(gateways, dict):
        return [
            Error("MULTIPAY['GATEWAYS'] must be a dict of aliases.", hint=DOCS, id="multipay.E001")
        ]
    messages: list[CheckMessage] = []
    for alias, config in gateways.items():
        messages.extend(_check_alias(alias, config))
    default = raw.get("DEFAULT_GATEWAY")
    if default is not None and default not in gateways:
        messages.append(
            Error(
                f"MULTIPAY['DEFAULT_GATEWAY'] is {default!r}, which is not a configured alias.",
                hint=f"Use one of: {', '.join(gateways) or '(none configured)'}.",
                id="multipay.E003",
            )
        )
    return messages


def _check_alias(alias: Any, config: Any) -> list[CheckMessage]:
    if not isinstance(alias, str) or not alias.replace("-", "").replace("_", "").isalnum():
        return [
            Error(
                f"Gateway alias {alias!r} must be letters, digits, '-' or '_'.", id="multipay.E001"
            )
        ]
    if not isinstance(config, dict) or not isinstance(config.get("BACKEND"), str):
        return [
            Error(
                f"MULTIPAY['GATEWAYS'][{alias!r}] must be a dict with a 'BACKEND' dotted path.",
                hint=DOCS,
                id="multipay.E001",
            )
        ]
    options = config.get("OPTIONS", {})
    if not isinstance(options, dict):
        return [Error(f"OPTIONS of gateway {alias!r} must be a dict.", id="multipay.E001")]
    try:
        cls = backend_class(config["BACKEND"])
    except GatewayConfigurationError as exc:
        return [Error(str(exc), hint="Check the BACKEND dotted path.", id="multipay.E002")]
    messages: list[CheckMessage] = []
    gateway = cls(alias, options)
    missing = gateway.missing_options()
    if missing:
        messages.append(
            Error(
                f"Gateway {alias!r} is missing {', '.join(missing)}.",
                hint="Set them in OPTIONS, from the environment; never commit credentials.",
                id="multipay.E004",
            )
        )
    if cls.test_only and not settings.DEBUG:
        messages.append(
            Error(
                f"Gateway {alias!r} uses the test-only {cls.display_name} backend"
                " with DEBUG=False.",
                hint="Anyone could mark orders paid. Remove it from production settings.",
                id="multipay.E005",
            )
        )
    elif options.get("sandbox") and not settings.DEBUG:
        messages.append(
            Warning(
                f"Gateway {alias!r} is in sandbox mode with DEBUG=False.",
                hint="Set 'sandbox': False for live payments.",
                id="multipay.W001",
            )
        )
    return messages
