"""Emulator URLs; include under ``sandbox/`` in development: ``path("sandbox/", include(...))``."""

from __future__ import annotations

import importlib
import pkgutil

from django.urls import URLPattern, URLResolver, include, path

import django_multipay.sandbox

app_name = "multipay_sandbox"


def emulator_modules() -> list[str]:
    """The name of each emulator module in this package (one that has ``urlpatterns``), in
    name order: a new emulator is served by being added."""
    names = []
    for found in pkgutil.iter_modules(django_multipay.sandbox.__path__):
        if found.name == "urls":
            continue
        module = importlib.import_module(f"django_multipay.sandbox.{found.name}")
        if hasattr(module, "urlpatterns"):
            names.append(found.name)
    return sorted(names)


# Each emulator under its name (``sandbox/portpos/``). Each guards its own URLs: they answer
# only where test-only parts may run (DEBUG, or ALLOW_TEST_GATEWAYS).
urlpatterns: list[URLPattern | URLResolver] = [
    path(f"{name}/", include(f"django_multipay.sandbox.{name}")) for name in emulator_modules()
]
