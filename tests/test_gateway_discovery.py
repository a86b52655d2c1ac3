"""A gateway is found by being added: a backend module and an emulator module, listed nowhere."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import Resolver404, clear_url_caches, resolve

import django_multipay.gateways
import django_multipay.sandbox
from django_multipay.checks import check_emulator_routes
from django_multipay.gateways import builtin_backends
from django_multipay.gateways.base import BaseGateway
from django_multipay.sandbox import urls as sandbox_urls

BACKEND = '''
"""Acme: a gateway that exists only in this test."""

from django_multipay.gateways.base import BaseGateway


class AcmeGateway(BaseGateway):
    """Acme: payments of the test's own invention."""

    display_name = "Acme"
    emulator = ("django_multipay.sandbox.acme", "api/payments")
'''
EMULATOR = '''
"""Emulator of Acme."""

from django.http import JsonResponse
from django.urls import path

from django_multipay.sandbox.guard import guarded


def payments(request):
    return JsonResponse({})


urlpatterns = guarded([path("api/payments", payments, name="acme-payments")])
'''
SITE = """
from django.urls import include, path

urlpatterns = [path("sandbox/", include("django_multipay.sandbox.urls"))]
"""


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A sixth gateway's two modules, dropped into the two packages' search paths."""
    (tmp_path / "gateways").mkdir()
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "gateways" / "acme.py").write_text(BACKEND)
    (tmp_path / "sandbox" / "acme.py").write_text(EMULATOR)
    # A site of its own, so the suite's URLconf never sees Acme.
    (tmp_path / "acme_site_urls.py").write_text(SITE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        django_multipay.gateways,
        "__path__",
        [*django_multipay.gateways.__path__, str(tmp_path / "gateways")],
    )
    monkeypatch.setattr(
        django_multipay.sandbox,
        "__path__",
        [*django_multipay.sandbox.__path__, str(tmp_path / "sandbox")],
    )
    builtin_backends.cache_clear()
    yield
    monkeypatch.undo()
    for name in ("django_multipay.gateways.acme", "django_multipay.sandbox.acme", "acme_site_urls"):
        sys.modules.pop(name, None)
    builtin_backends.cache_clear()
    reload_sandbox_urls()  # the emulators' URLs without Acme again


def reload_sandbox_urls() -> None:
    importlib.reload(sandbox_urls)
    clear_url_caches()


def test_the_shipped_backends_are_found() -> None:
    found = builtin_backends()
    assert {"dummy", "paylands", "portone", "portpos", "portwallet", "postpay"} <= set(found)
    assert list(found) == sorted(found)
    assert all(issubclass(cls, BaseGateway) for cls in found.values())
    # Helpers of the package (base, http, results, webhooks...) are not backends.
    assert {cls.__module__ for cls in found.values()} == {
        f"django_multipay.gateways.{name}" for name in found
    }


def test_a_new_backend_module_is_a_backend(acme: None) -> None:
    found = builtin_backends()
    assert found["acme"].__name__ == "AcmeGateway"
    assert {"acme", "dummy", "paylands", "portone", "portpos", "portwallet", "postpay"} <= set(
        found
    )


def test_a_new_emulator_module_is_served_under_its_name(acme: None, settings: Any) -> None:
    reload_sandbox_urls()
    settings.ROOT_URLCONF = "acme_site_urls"
    assert "acme" in sandbox_urls.emulator_modules()
    match = resolve("/sandbox/acme/api/payments")
    assert match.view_name == "multipay_sandbox:acme-payments"
    # multipay.E010 resolves the path the backend names against the emulator it names.
    settings.MULTIPAY = {
        "GATEWAYS": {
            "acme": {
                "BACKEND": "django_multipay.gateways.acme.AcmeGateway",
                "OPTIONS": {"base_url": "http://testserver/sandbox/acme/"},
            }
        }
    }
    assert check_emulator_routes() == []
    settings.MULTIPAY = {
        "GATEWAYS": {
            "acme": {
                "BACKEND": "django_multipay.gateways.acme.AcmeGateway",
                "OPTIONS": {"base_url": "http://testserver/sandbox/postpay/"},
            }
        }
    }
    assert [message.id for message in check_emulator_routes()] == ["multipay.E010"]


def test_without_it_the_emulator_is_not_served() -> None:
    """After the test above, the URLs are back as they were: no Acme."""
    assert "acme" not in sandbox_urls.emulator_modules()
    with pytest.raises(Resolver404):
        resolve("/sandbox/acme/api/payments")
