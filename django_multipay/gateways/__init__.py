"""Gateway backends: each turns our objects into wire requests and wire answers into results."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django_multipay.gateways.base import BaseGateway


@cache
def builtin_backends() -> dict[str, type[BaseGateway]]:
    """Every backend shipped in this package, by its module's name (``"portpos"``), in name
    order: a module here that defines a :class:`BaseGateway` subclass is a backend, so a new
    gateway is found by being added. One whose optional dependency is missing is left out."""
    from django_multipay.gateways.base import BaseGateway

    found: dict[str, type[BaseGateway]] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        try:
            module = importlib.import_module(f"{__name__}.{module_info.name}")
        except ImportError as exc:
            if (exc.name or "").startswith("django_multipay"):
                raise
            continue  # an extra that is not installed (PortOne without PyJWT)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseGateway)
                and value is not BaseGateway
                and value.__module__ == module.__name__
            ):
                found[module_info.name] = value
    return found
