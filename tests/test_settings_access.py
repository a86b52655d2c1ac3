"""The typed ``MULTIPAY`` accessor: one property per key, defaults filled in, read live."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from django.test import override_settings

from django_multipay import conf
from django_multipay.conf import DEFAULTS, MultipaySettings, multipay_settings

#: The accessor's own helpers, which are not keys.
HELPERS = {"raw"}


def properties() -> dict[str, property]:
    return {
        name: value
        for name, value in vars(MultipaySettings).items()
        if isinstance(value, property) and name not in HELPERS
    }


def test_one_property_per_key() -> None:
    assert sorted(properties()) == sorted(DEFAULTS)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_each_property_is_typed(name: str) -> None:
    hints = typing.get_type_hints(properties()[name].fget, vars(conf))
    assert hints["return"] is not Any
    assert properties()[name].__doc__


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_each_key_defaults_and_follows_the_setting(name: str) -> None:
    marker = object()
    with override_settings(MULTIPAY={}):
        assert getattr(multipay_settings, name) == DEFAULTS[name]
    if name == "GATEWAYS":
        marker = {"x": {"BACKEND": "a.B"}}  # only a dict is given back
    with override_settings(MULTIPAY={name: marker}):
        assert getattr(multipay_settings, name) is marker


def test_read_live_never_cached() -> None:
    with override_settings(MULTIPAY={"SUCCESS_URL": "/one/"}):
        assert multipay_settings.SUCCESS_URL == "/one/"
        with override_settings(MULTIPAY={"SUCCESS_URL": "/two/"}):
            assert multipay_settings.SUCCESS_URL == "/two/"
        assert multipay_settings.SUCCESS_URL == "/one/"


@pytest.mark.parametrize("multipay", [["not", "a", "dict"], None])
def test_a_malformed_setting_gives_the_defaults(multipay: Any) -> None:
    """The system checks report it (multipay.E001); readers still get a usable value."""
    with override_settings(MULTIPAY=multipay):
        assert multipay_settings.raw == multipay
        assert multipay_settings.GATEWAYS == {}
        assert multipay_settings.HTTP_RETRIES == 2


def test_gateways_that_are_not_a_dict_read_as_empty() -> None:
    with override_settings(MULTIPAY={"GATEWAYS": ["dummy"]}):
        assert multipay_settings.GATEWAYS == {}


def test_values_are_given_back_as_written() -> None:
    """No conversion: a value of the wrong type is the checks' to report (W011, W012)."""
    with override_settings(MULTIPAY={"WORKER_TIMEOUT": "30", "REDACT_HEADERS": ["x-token"]}):
        assert multipay_settings.WORKER_TIMEOUT == "30"
        assert multipay_settings.REDACT_HEADERS == ["x-token"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        multipay_settings.SUCESS_URL  # type: ignore[attr-defined]  # noqa: B018
