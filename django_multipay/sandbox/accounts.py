"""The emulators' merchant accounts: the aliases in ``MULTIPAY`` that use a given backend."""

from __future__ import annotations

import secrets
from typing import Any

from django_multipay.conf import multipay_settings
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways.base import BaseGateway
from django_multipay.registry import backend_class


def accounts(backend: type[BaseGateway]) -> list[dict[str, Any]]:
    """The ``OPTIONS`` of every alias whose backend is ``backend`` (or a subclass), plus
    ``"alias"``. An emulator accepts exactly these credentials, so the demo needs no setup."""
    found = []
    for alias, config in multipay_settings.GATEWAYS.items():
        try:
            cls = backend_class(config["BACKEND"])
        except (GatewayConfigurationError, KeyError, TypeError):
            continue
        if issubclass(cls, backend):
            found.append({**(config.get("OPTIONS") or {}), "alias": alias})
    return found


def account_with(backend: type[BaseGateway], option: str, value: str) -> dict[str, Any] | None:
    """The account whose ``option`` equals ``value`` (compared in constant time), if any."""
    if not value:
        return None
    for account in accounts(backend):
        if secrets.compare_digest(str(account.get(option) or ""), value):
            return account
    return None
