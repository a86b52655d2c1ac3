"""The emulators' merchant accounts: the aliases in ``MULTIPAY`` that use a given backend.

An emulator names the backend whose aliases are its accounts by dotted path, and an alias is
matched by the names of its backend class and of that class's bases (so a shop's subclass of a
backend counts too). Nothing here imports a gateway backend: the emulators take no rule from
the backends, only the credentials the shop configured for them."""

from __future__ import annotations

import secrets
from typing import Any

from django.utils.module_loading import import_string

from django_multipay.conf import multipay_settings


def _serves(path: object, backend: str) -> bool:
    """Whether the class at dotted ``path`` is ``backend`` (a dotted path) or a subclass."""
    try:
        cls = import_string(str(path))
    except ImportError:
        return False
    if not isinstance(cls, type):
        return False
    return any(f"{base.__module__}.{base.__qualname__}" == backend for base in cls.__mro__)


def accounts(backend: str) -> list[dict[str, Any]]:
    """The ``OPTIONS`` of every alias whose backend is ``backend`` (a dotted path) or a
    subclass of it, plus ``"alias"``. An emulator accepts exactly these credentials, so the
    demo needs no setup."""
    found = []
    for alias, config in multipay_settings.GATEWAYS.items():
        try:
            path = config["BACKEND"]
        except (KeyError, TypeError):
            continue
        if _serves(path, backend):
            found.append({**(config.get("OPTIONS") or {}), "alias": alias})
    return found


def account_with(backend: str, option: str, value: str) -> dict[str, Any] | None:
    """The account whose ``option`` equals ``value`` (compared in constant time), if any."""
    if not value:
        return None
    for account in accounts(backend):
        if secrets.compare_digest(str(account.get(option) or ""), value):
            return account
    return None
