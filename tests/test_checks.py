"""System checks for the MULTIPAY setting: one test per check ID."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_multipay.checks import check_settings
from django_multipay.gateways.base import BaseGateway

DUMMY = "django_multipay.gateways.dummy.DummyGateway"
DUMMY_OPTIONS = {"api_key": "k" * 8, "webhook_secret": "s" * 8}


class SandboxGateway(BaseGateway):
    """A minimal real-looking backend (not test-only) that needs one credential."""

    display_name = "Sandboxed"
    required_options = ("api_key",)
    secret_options = ("api_key",)


NOT_A_GATEWAY = object()
SANDBOXED = f"{__name__}.SandboxGateway"


def ids(multipay: Any, *, debug: bool = True) -> list[str]:
    with override_settings(MULTIPAY=multipay, DEBUG=debug):
        return [message.id for message in check_settings()]


def test_valid_settings_pass() -> None:
    multipay = {
        "GATEWAYS": {
            "live": {"BACKEND": SANDBOXED, "OPTIONS": {"api_key": "abcd1234"}},
            "dummy": {"BACKEND": DUMMY, "OPTIONS": DUMMY_OPTIONS},
        },
        "DEFAULT_GATEWAY": "live",
    }
    assert ids(multipay) == []
    assert ids({"GATEWAYS": {"live": multipay["GATEWAYS"]["live"]}}, debug=False) == []


@pytest.mark.parametrize(
    "multipay",
    [
        ["not", "a", "dict"],
        {"GATEWAYS": ["dummy"]},
        {"GATEWAYS": {"dummy": {"OPTIONS": DUMMY_OPTIONS}}},
        {"GATEWAYS": {"dummy": "django_multipay.gateways.dummy.DummyGateway"}},
        {"GATEWAYS": {"dummy": {"BACKEND": DUMMY, "OPTIONS": ["api_key"]}}},
        {"GATEWAYS": {"bad alias!": {"BACKEND": DUMMY, "OPTIONS": DUMMY_OPTIONS}}},
    ],
    ids=[
        "multipay-not-dict",
        "gateways-not-dict",
        "no-backend",
        "config-not-dict",
        "options-not-dict",
        "bad-alias",
    ],
)
def test_e001_malformed_settings(multipay: Any) -> None:
    assert ids(multipay) == ["multipay.E001"]


@pytest.mark.parametrize(
    "backend",
    ["django_multipay.gateways.nope.NopeGateway", f"{__name__}.NOT_A_GATEWAY", "builtins.dict"],
    ids=["not-importable", "not-a-class", "not-a-subclass"],
)
def test_e002_bad_backend(backend: str) -> None:
    with override_settings(MULTIPAY={"GATEWAYS": {"x": {"BACKEND": backend}}}, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.E002"
    assert backend in message.msg


def test_e003_unknown_default_gateway() -> None:
    multipay = {
        "GATEWAYS": {"dummy": {"BACKEND": DUMMY, "OPTIONS": DUMMY_OPTIONS}},
        "DEFAULT_GATEWAY": "portpos",
    }
    with override_settings(MULTIPAY=multipay, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.E003"
    assert "'portpos'" in message.msg
    assert "dummy" in message.hint


def test_e004_missing_credentials() -> None:
    multipay = {"GATEWAYS": {"live": {"BACKEND": SANDBOXED, "OPTIONS": {"api_key": ""}}}}
    with override_settings(MULTIPAY=multipay, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.E004"
    assert "api_key" in message.msg
    dummy = {"GATEWAYS": {"dummy": {"BACKEND": DUMMY, "OPTIONS": {"api_key": "abcd"}}}}
    with override_settings(MULTIPAY=dummy, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.E004"
    assert "webhook_secret" in message.msg
    assert "abcd" not in message.msg


def test_e005_dummy_outside_debug() -> None:
    multipay = {"GATEWAYS": {"dummy": {"BACKEND": DUMMY, "OPTIONS": DUMMY_OPTIONS}}}
    assert ids(multipay, debug=False) == ["multipay.E005"]
    assert ids(multipay, debug=True) == []


def test_w001_sandbox_outside_debug() -> None:
    options = {"api_key": "abcd1234", "sandbox": True}
    multipay = {"GATEWAYS": {"live": {"BACKEND": SANDBOXED, "OPTIONS": options}}}
    with override_settings(MULTIPAY=multipay, DEBUG=False):
        [message] = check_settings()
    assert message.id == "multipay.W001"
    assert message.is_serious() is False
    assert ids(multipay, debug=True) == []
    live = {"GATEWAYS": {"live": {"BACKEND": SANDBOXED, "OPTIONS": {"api_key": "abcd1234"}}}}
    assert ids(live, debug=False) == []


def test_each_alias_is_checked() -> None:
    multipay = {
        "GATEWAYS": {
            "a": {"BACKEND": SANDBOXED, "OPTIONS": {}},
            "b": {"BACKEND": "nope.Nope"},
            "c": {"OPTIONS": {}},
        },
        "DEFAULT_GATEWAY": "z",
    }
    assert sorted(ids(multipay)) == [
        "multipay.E001",
        "multipay.E002",
        "multipay.E003",
        "multipay.E004",
    ]


def test_registered_with_django() -> None:
    from django.core import checks

    multipay = {"GATEWAYS": {"dummy": {"OPTIONS": {}}}}
    with override_settings(MULTIPAY=multipay):
        found = [m.id for m in checks.run_checks(tags=["multipay"])]
    assert found == ["multipay.E001"]
