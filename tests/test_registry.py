"""Gateway aliases: instances per alias, cached, forgotten when MULTIPAY changes."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_multipay import registry
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways.dummy import DummyGateway


def test_two_aliases_of_one_backend_side_by_side() -> None:
    one = registry.get_gateway("dummy")
    two = registry.get_gateway("dummy-manual")
    assert type(one) is type(two) is DummyGateway
    assert one is not two
    assert (one.alias, two.alias) == ("dummy", "dummy-manual")
    assert one.options["api_key"] == "dummy-api-key-one"
    assert two.options["api_key"] == "dummy-api-key-two"
    assert one.option("capture", "automatic") == "automatic"
    assert two.option("capture", "automatic") == "manual"
    assert one.http is not two.http
    assert one.http.session is not two.http.session


def test_instance_is_cached() -> None:
    assert registry.get_gateway("dummy") is registry.get_gateway("dummy")


def test_cache_cleared_when_settings_change(monkeypatch: pytest.MonkeyPatch) -> None:
    before = registry.get_gateway("dummy")
    closed: list[str] = []
    monkeypatch.setattr(before.http, "close", lambda: closed.append(before.alias))
    changed = {
        **settings.MULTIPAY,
        "GATEWAYS": {
            "dummy": {
                "BACKEND": "django_multipay.gateways.dummy.DummyGateway",
                "OPTIONS": {"api_key": "other-key", "webhook_secret": "other-secret"},
            }
        },
    }
    with override_settings(MULTIPAY=changed):
        inside = registry.get_gateway("dummy")
        assert inside is not before
        assert inside.options["api_key"] == "other-key"
        assert registry.gateway_aliases() == ["dummy"]
        assert not registry.has_gateway("dummy-manual")
    after = registry.get_gateway("dummy")
    assert after is not inside
    assert after.options["api_key"] == "dummy-api-key-one"
    # The old instance's HTTP session was closed when it was forgotten.
    assert closed == ["dummy"]


def test_other_settings_do_not_clear_cache() -> None:
    before = registry.get_gateway("dummy")
    with override_settings(USE_I18N=False):
        assert registry.get_gateway("dummy") is before


def test_aliases_in_settings_order() -> None:
    # Each gateway's tests append their aliases after the dummy ones.
    assert registry.gateway_aliases()[:2] == ["dummy", "dummy-manual"]
    assert registry.gateway_aliases() == list(settings.MULTIPAY["GATEWAYS"])
    assert registry.has_gateway("dummy")
    assert not registry.has_gateway("nope")


@pytest.mark.parametrize("alias", ["nope", ""])
def test_unknown_alias_raises_configuration_error(alias: str) -> None:
    with pytest.raises(GatewayConfigurationError, match="No gateway alias"):
        registry.get_gateway(alias)
    assert issubclass(GatewayConfigurationError, ImproperlyConfigured)


def test_alias_without_backend_raises() -> None:
    with (
        override_settings(MULTIPAY={"GATEWAYS": {"x": {"OPTIONS": {}}}}),
        pytest.raises(ImproperlyConfigured),
    ):
        registry.get_gateway("x")


@pytest.mark.parametrize("path", ["no.such.Module", "django_multipay.models.Order", "os.path"])
def test_backend_class_refuses_non_gateways(path: str) -> None:
    with pytest.raises(GatewayConfigurationError):
        registry.backend_class(path)


def test_clear_cache() -> None:
    before = registry.get_gateway("dummy")
    registry.clear_cache()
    assert registry.get_gateway("dummy") is not before
