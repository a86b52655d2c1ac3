"""Django system checks for the ``MULTIPAY`` setting, one ID per mistake."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from django_multipay.conf import allows_test_gateways
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways.base import load_callable
from django_multipay.registry import backend_class

DOCS = "See the settings reference in the django-multipay documentation."
CUSTOMER_ID_HINT = "Give a callable taking the user and returning its customer id, or its path."


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
    customer_id = raw.get("CUSTOMER_ID")
    if customer_id is not None:
        try:
            load_callable(customer_id, "MULTIPAY['CUSTOMER_ID']")
        except GatewayConfigurationError as exc:
            messages.append(Error(str(exc), hint=CUSTOMER_ID_HINT, id="multipay.E007"))
    return messages


@register(Tags.security, "multipay", deploy=True)
def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy`` only: the test-only parts switched on with DEBUG off (what a test
    settings module does, and a production one must not)."""
    raw = getattr(settings, "MULTIPAY", {})
    if not settings.DEBUG and isinstance(raw, dict) and raw.get("ALLOW_TEST_GATEWAYS") is True:
        return [
            Warning(
                "MULTIPAY['ALLOW_TEST_GATEWAYS'] is True with DEBUG=False: the dummy gateway"
                " takes payments and the sandbox emulators answer.",
                hint="Set it only in test settings; remove it from production settings.",
                id="multipay.W002",
            )
        ]
    return []


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
    for problem in gateway.sensitive_option_errors():
        messages.append(
            Error(
                f"Gateway {alias!r}: {problem}.",
                hint="List only the sensitive per-payment options its page names.",
                id="multipay.E006",
            )
        )
    if options.get("customer_id") is not None:
        try:
            load_callable(options["customer_id"], f"customer_id of gateway {alias!r}")
        except GatewayConfigurationError as exc:
            messages.append(Error(str(exc), hint=CUSTOMER_ID_HINT, id="multipay.E007"))
    if cls.test_only:
        # The same rule as at run time (BaseGateway.ensure_allowed), so what the check lets
        # through is what runs. Its sandbox mode is what it is for: no W001.
        if not allows_test_gateways():
            messages.append(
                Error(
                    f"Gateway {alias!r} uses the test-only {cls.display_name} backend"
                    " with DEBUG=False: it refuses every payment.",
                    hint="Anyone could mark orders paid. Remove it from production settings"
                    " (test settings opt in with MULTIPAY['ALLOW_TEST_GATEWAYS'] = True).",
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
