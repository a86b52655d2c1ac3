"""Gateway aliases from ``MULTIPAY["GATEWAYS"]``: loaded lazily, forgotten when settings change."""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from django_multipay.conf import multipay_settings
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways.base import BaseGateway

_lock = threading.Lock()
_instances: dict[str, BaseGateway] = {}


def gateway_aliases() -> list[str]:
    """Every configured alias, in settings order."""
    return list(multipay_settings.GATEWAYS)


def backend_class(path: str) -> type[BaseGateway]:
    """Import a backend by dotted path; ``GatewayConfigurationError`` if it is not one."""
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise GatewayConfigurationError(f"Cannot import gateway backend {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseGateway)):
        raise GatewayConfigurationError(f"{path!r} is not a BaseGateway subclass.")
    return cls


def gateway_config(alias: str) -> dict[str, Any]:
    config = multipay_settings.GATEWAYS.get(alias)
    if not isinstance(config, dict) or "BACKEND" not in config:
        raise GatewayConfigurationError(f"No gateway alias {alias!r} in MULTIPAY['GATEWAYS'].")
    return config


def get_gateway(alias: str) -> BaseGateway:
    """The backend instance for ``alias`` (one per alias and process, reused)."""
    instance = _instances.get(alias)
    if instance is not None:
        return instance
    with _lock:
        instance = _instances.get(alias)
        if instance is None:
            config = gateway_config(alias)
            cls = backend_class(config["BACKEND"])
            instance = cls(alias, config.get("OPTIONS") or {})
            _instances[alias] = instance
    return instance


def has_gateway(alias: str) -> bool:
    return alias in multipay_settings.GATEWAYS


def clear_cache() -> None:
    """Forget every instance (and close their HTTP sessions)."""
    with _lock:
        for instance in _instances.values():
            if "http" in instance.__dict__:
                instance.http.close()
        _instances.clear()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "MULTIPAY":
        clear_cache()
