"""System checks for the MULTIPAY setting: one test per check ID."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import include, path

from django_multipay.checks import (
    check_deferred_notifications,
    check_deploy,
    check_emulator_routes,
    check_sandbox_app,
    check_settings,
    check_time_budget,
)
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways import builtin_backends
from django_multipay.gateways.base import COMMON_OPTIONS, BaseGateway
from django_multipay.registry import backend_class

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


# -- the shape of MULTIPAY: one ID per mistake (E014-E018 were E001) ---------------------------


@pytest.mark.parametrize("multipay", [["not", "a", "dict"], "MULTIPAY", None])
def test_e001_multipay_not_a_dict(multipay: Any) -> None:
    assert ids(multipay) == ["multipay.E001"]


def test_e014_gateways_not_a_dict() -> None:
    assert ids({"GATEWAYS": ["dummy"]}) == ["multipay.E014"]


@pytest.mark.parametrize("alias", ["bad alias!", "pay/me", 7])
def test_e015_alias_name(alias: Any) -> None:
    multipay = {"GATEWAYS": {alias: {"BACKEND": DUMMY, "OPTIONS": DUMMY_OPTIONS}}}
    with override_settings(MULTIPAY=multipay, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.E015"
    assert repr(alias) in message.msg
    assert ids({"GATEWAYS": {"my-pay_2": {"BACKEND": DUMMY, "OPTIONS": DUMMY_OPTIONS}}}) == []


@pytest.mark.parametrize("config", [DUMMY, None, [DUMMY]], ids=["path-alone", "none", "list"])
def test_e016_alias_config_not_a_dict(config: Any) -> None:
    assert ids({"GATEWAYS": {"dummy": config}}) == ["multipay.E016"]


@pytest.mark.parametrize(
    "config",
    [{"OPTIONS": DUMMY_OPTIONS}, {"BACKEND": SandboxGateway, "OPTIONS": DUMMY_OPTIONS}],
    ids=["missing", "not-a-string"],
)
def test_e017_alias_without_a_backend_path(config: dict[str, Any]) -> None:
    with override_settings(MULTIPAY={"GATEWAYS": {"dummy": config}}, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.E017"
    assert "'BACKEND'" in message.msg


def test_e018_options_not_a_dict() -> None:
    multipay = {"GATEWAYS": {"dummy": {"BACKEND": DUMMY, "OPTIONS": ["api_key"]}}}
    assert ids(multipay) == ["multipay.E018"]


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
        "multipay.E002",
        "multipay.E003",
        "multipay.E004",
        "multipay.E017",
    ]


def test_registered_with_django() -> None:
    from django.core import checks

    multipay = {"GATEWAYS": {"dummy": {"OPTIONS": {}}}, "ALLOW_TEST_GATEWAYS": True}
    with override_settings(MULTIPAY=multipay):
        found = [m.id for m in checks.run_checks(tags=["multipay"])]
    assert found == ["multipay.E017"]


# -- spelling: MULTIPAY keys, alias keys, backend options ----------------------------------------


def test_w003_misspelt_multipay_key_names_the_nearest() -> None:
    with override_settings(MULTIPAY={"SUCESS_URL": "/thanks/", "http_timeout": 3}, DEBUG=True):
        messages = check_settings()
    assert [m.id for m in messages] == ["multipay.W003", "multipay.W003"]
    assert "'SUCESS_URL'" in messages[0].msg
    assert "Did you mean 'SUCCESS_URL'?" in messages[0].hint
    assert "Did you mean 'HTTP_TIMEOUT'?" in messages[1].hint
    assert ids({"SUCCESS_URL": "/thanks/", "HTTP_TIMEOUT": 3}) == []


def test_w004_unknown_alias_key() -> None:
    alias = {"BACKEND": DUMMY, "OPTIONS": DUMMY_OPTIONS, "LABLE": "Card"}
    with override_settings(MULTIPAY={"GATEWAYS": {"dummy": alias}}, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.W004"
    assert "'LABLE'" in message.msg
    assert "Did you mean 'LABEL'?" in message.hint


def test_w005_misspelt_backend_option_names_the_nearest() -> None:
    options = {"api_kye": "k" * 8, "webhook_secret": "s" * 8}
    multipay = {"GATEWAYS": {"dummy": {"BACKEND": DUMMY, "OPTIONS": options}}}
    with override_settings(MULTIPAY=multipay, DEBUG=True):
        messages = {m.id: m for m in check_settings()}
    assert set(messages) == {"multipay.W005", "multipay.E004"}
    assert "'api_kye'" in messages["multipay.W005"].msg
    assert "Did you mean 'api_key'?" in messages["multipay.W005"].hint
    assert "k" * 8 not in messages["multipay.W005"].msg + messages["multipay.W005"].hint
    portpos = {"app_key": "a", "secret_key": "s", "sandox": True, "Validity": 60}
    backend = "django_multipay.gateways.portpos.PortPosGateway"
    with override_settings(MULTIPAY={"GATEWAYS": {"pp": {"BACKEND": backend, "OPTIONS": portpos}}}):
        hints = [m.hint for m in check_settings() if m.id == "multipay.W005"]
    assert hints[0].startswith("Did you mean 'sandbox'?")
    assert hints[1].startswith("Did you mean 'validity'?")


def test_w005_not_raised_for_a_backend_that_declares_no_options() -> None:
    options = {"api_key": "abcd1234", "anything": 1}
    assert SandboxGateway.known_options() is None
    assert ids({"GATEWAYS": {"live": {"BACKEND": SANDBOXED, "OPTIONS": options}}}) == []


BACKENDS = {name: f"{cls.__module__}.{cls.__name__}" for name, cls in builtin_backends().items()}
DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"


def documented_options(name: str) -> set[str]:
    """The option names of the first ``| Option |`` table of a gateway's page."""
    lines = (DOCS_DIR / "gateways" / f"{name}.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Option |"))
    found: set[str] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        found.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return found


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_backend_knows_the_options_its_page_documents(name: str) -> None:
    known = backend_class(BACKENDS[name]).known_options()
    assert known is not None
    documented = documented_options(name)
    assert documented - known == set()
    assert known - set(COMMON_OPTIONS) - documented == set()


def test_the_shipped_settings_spell_every_key_and_option() -> None:
    """The suite's own settings: only what they silence on purpose."""
    from django.core import checks

    found = {m.id for m in checks.run_checks(tags=["multipay"])}
    assert found - set(settings.SILENCED_SYSTEM_CHECKS) == set()


@pytest.mark.parametrize("args", [["check"], ["check", "--deploy"]], ids=["check", "deploy"])
def test_the_example_project_passes_every_multipay_check(args: list[str], tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DEBUG")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'check.sqlite3'}"
    done = subprocess.run(
        [sys.executable, str(root / "example_project" / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "multipay." not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr


# -- SUCCESS_URL / FAILURE_URL placeholders ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown", "guess"),
    [
        ("/orders/{ref}/", "{ref}", None),
        ("/orders/{referance}/done/", "{referance}", "Did you mean 'reference'?"),
        ("/orders/{reference/", "{", None),
        ("/orders/{order}/{}", "{}", None),
    ],
)
def test_e008_unknown_placeholder(url: str, shown: str, guess: str | None) -> None:
    with override_settings(MULTIPAY={"FAILURE_URL": url}, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.E008"
    assert "FAILURE_URL" in message.msg
    assert f"with {shown}," in message.msg
    assert "{reference}, {order}" in message.hint
    if guess:
        assert message.hint.startswith(guess)


def test_e008_known_placeholders_pass() -> None:
    multipay = {"SUCCESS_URL": "/o/{reference}/{order}/", "FAILURE_URL": "https://shop.example/"}
    assert ids(multipay) == []


# -- the emulators ---------------------------------------------------------------------------------


def test_e009_sandbox_app_installed_with_debug_off() -> None:
    assert "django_multipay.sandbox" in settings.INSTALLED_APPS
    with override_settings(DEBUG=False, MULTIPAY={}):
        [message] = check_sandbox_app()
    assert message.id == "multipay.E009"
    assert message.is_serious()
    assert "ALLOW_TEST_GATEWAYS" in message.hint
    # The opt-in of test settings, and a developer's DEBUG, allow it (the run-time rule).
    with override_settings(DEBUG=False, MULTIPAY={"ALLOW_TEST_GATEWAYS": True}):
        assert check_sandbox_app() == []
    with override_settings(DEBUG=True, MULTIPAY={}):
        assert check_sandbox_app() == []
    without = [app for app in settings.INSTALLED_APPS if app != "django_multipay.sandbox"]
    with override_settings(DEBUG=False, MULTIPAY={}, INSTALLED_APPS=without):
        assert check_sandbox_app() == []


#: A URLconf with no emulators, and one with them under another prefix.
urlpatterns = [path("payments/", include("django_multipay.urls"))]
elsewhere = [path("dev/", include("django_multipay.sandbox.urls"))]


class ElsewhereUrls:
    urlpatterns = elsewhere


def routes(gateways: dict[str, Any], urlconf: Any = "tests.urls", **multipay: Any) -> list[str]:
    with override_settings(MULTIPAY={"GATEWAYS": gateways, **multipay}, ROOT_URLCONF=urlconf):
        return [m.id for m in check_emulator_routes()]


EMULATOR_OPTIONS = {"base_url": "http://testserver/sandbox/{name}/"}


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_e010_each_emulator_routed_where_the_alias_points_passes(name: str) -> None:
    alias = {
        "BACKEND": BACKENDS[name],
        "OPTIONS": {"base_url": f"http://testserver/sandbox/{name}/"},
    }
    assert routes({name: alias}) == []
    # The same alias against a URLconf that does not route the emulators.
    assert routes({name: alias}, urlconf=__name__) == ["multipay.E010"]


def test_e010_alias_pointed_at_an_unrouted_emulator() -> None:
    dummy = {"BACKEND": DUMMY, "OPTIONS": {**DUMMY_OPTIONS}}
    # The dummy backend's default address is this site's /sandbox/dummy/.
    with override_settings(MULTIPAY={"GATEWAYS": {"dummy": dummy}}, ROOT_URLCONF=__name__):
        [message] = check_emulator_routes()
    assert message.id == "multipay.E010"
    assert "http://127.0.0.1:8000/sandbox/dummy/" in message.msg
    assert "/sandbox/dummy/api/payments" in message.msg
    assert 'include("django_multipay.sandbox.urls")' in message.hint
    # Routed under dev/: the alias must point there.
    moved = {
        "BACKEND": DUMMY,
        "OPTIONS": {**DUMMY_OPTIONS, "base_url": "http://testserver/dev/dummy/"},
    }
    assert routes({"dummy": dummy}, urlconf=ElsewhereUrls) == ["multipay.E010"]
    assert routes({"dummy": moved}, urlconf=ElsewhereUrls) == []
    # Another gateway's emulator at that path is not this one's.
    portpos = {
        "BACKEND": BACKENDS["portpos"],
        "OPTIONS": {"base_url": "http://testserver/sandbox/postpay/"},
    }
    assert routes({"portpos": portpos}) == ["multipay.E010"]


def test_e010_never_shows_credentials_in_the_address() -> None:
    dummy = {
        "BACKEND": DUMMY,
        "OPTIONS": {**DUMMY_OPTIONS, "base_url": "http://me:pw-secret@testserver/x/"},
    }
    with override_settings(MULTIPAY={"GATEWAYS": {"dummy": dummy}}):
        [message] = check_emulator_routes()
    assert message.id == "multipay.E010"
    assert "http://testserver/x/" in message.msg
    assert "pw-secret" not in message.msg + message.hint


def test_e010_only_for_addresses_on_this_site() -> None:
    def alias(url: str) -> dict[str, Any]:
        return {"BACKEND": BACKENDS["portpos"], "OPTIONS": {"base_url": url}}

    gateways = {
        "live": {"BACKEND": BACKENDS["portpos"], "OPTIONS": {}},
        "proxy": alias("https://payments-proxy.example/portpos/"),
        "mock": alias("http://127.0.0.1:9000/sandbox/portpos/"),
    }
    # BASE_URL says where this site is: another port on this machine is another server.
    assert routes(gateways, urlconf=__name__, BASE_URL="http://127.0.0.1:8000") == []
    # The default port is the scheme's.
    assert routes(
        {"here": alias("https://shop.example/sandbox/portpos/")},
        urlconf=__name__,
        BASE_URL="https://shop.example:443",
    ) == ["multipay.E010"]
    assert routes(
        {"here": alias("http://127.0.0.1:8000/sandbox/portpos/")},
        urlconf=__name__,
        BASE_URL="http://127.0.0.1:8000",
    ) == ["multipay.E010"]
    # Without BASE_URL, a loopback address is taken to be this site.
    assert routes({"mock": gateways["mock"]}, urlconf=__name__) == ["multipay.E010"]


def test_e010_under_a_script_prefix() -> None:
    """A site served under FORCE_SCRIPT_NAME: its URLconf paths come after the prefix."""
    dummy = {
        "BACKEND": DUMMY,
        "OPTIONS": {**DUMMY_OPTIONS, "base_url": "http://testserver/shop/sandbox/dummy/"},
    }
    with override_settings(FORCE_SCRIPT_NAME="/shop"):
        assert routes({"dummy": dummy}) == []
    assert routes({"dummy": dummy}) == ["multipay.E010"]


# -- deferred notifications and optional dependencies --------------------------------------------


def test_e011_deferred_notifications_without_a_task_framework(monkeypatch: Any) -> None:
    with override_settings(MULTIPAY={"DEFER_NOTIFICATIONS": True}):
        assert check_deferred_notifications() == []  # django.tasks or the backport is here
        # Neither Django 6's django.tasks nor the backport can be imported.
        monkeypatch.setitem(sys.modules, "django.tasks", None)
        monkeypatch.setitem(sys.modules, "django_tasks", None)
        monkeypatch.delitem(sys.modules, "django_multipay.tasks", raising=False)
        [message] = check_deferred_notifications()
    assert message.id == "multipay.E011"
    assert "django-multipay[tasks]" in message.hint
    with override_settings(MULTIPAY={"DEFER_NOTIFICATIONS": False}):
        assert check_deferred_notifications() == []


def test_e012_portone_without_pyjwt_says_to_install_the_extra(monkeypatch: Any) -> None:
    monkeypatch.delitem(sys.modules, "django_multipay.gateways.portone", raising=False)
    monkeypatch.setitem(sys.modules, "jwt", None)
    portone = {
        "BACKEND": BACKENDS["portone"],
        "OPTIONS": {"client_key": "c", "secret_key": "s", "pmt_channel": "S", "pmt_method": "M"},
    }
    with override_settings(MULTIPAY={"GATEWAYS": {"portone": portone}}, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.E012"
    assert "PyJWT" in message.msg
    assert 'pip install "django-multipay[portone]"' in message.hint
    assert "dotted path" not in message.hint


def test_new_checks_are_registered_with_django() -> None:
    from django.core import checks

    multipay = {"GATEWAYS": {}, "SUCESS_URL": "/", "DEFER_NOTIFICATIONS": True}
    with override_settings(MULTIPAY=multipay, DEBUG=False):
        found = {m.id for m in checks.run_checks(tags=["multipay"])}
    assert {"multipay.W003", "multipay.E009"} <= found


# -- per-payment defaults the gateway cannot read --------------------------------------------


@pytest.mark.parametrize(
    ("alias", "changes", "field"),
    [
        ("postpay", {"num_instalments": "abc"}, "OPTIONS.num_instalments"),
        ("paylands", {"reference_valid_days": 10**9}, "OPTIONS.reference_valid_days"),
        ("paylands", {"extra_data": ["payment"]}, "OPTIONS.extra_data"),
    ],
)
def test_e013_alias_default_the_gateway_cannot_read(
    alias: str, changes: dict[str, Any], field: str
) -> None:
    multipay = copy.deepcopy(settings.MULTIPAY)
    multipay["GATEWAYS"][alias]["OPTIONS"].update(changes)
    with override_settings(MULTIPAY=multipay):
        messages = [m for m in check_settings() if m.id == "multipay.E013"]
    assert len(messages) == 1
    assert f"{alias!r}" in messages[0].msg
    assert field in messages[0].msg
    # The shipped settings' own defaults are readable.
    assert [m for m in check_settings() if m.id == "multipay.E013"] == []


@pytest.mark.parametrize(
    ("alias", "changes", "shown"),
    [
        ("dummy", {"signature_tolerance": "300"}, "signature_tolerance must be a whole number"),
        ("dummy", {"trust_signed_notifications": "yes"}, "must be true or false, not str"),
        ("postpay", {"secret_key": 12345678}, "secret_key must be a string, not int"),
        ("paylands", {"rate_limit_backoff": True}, "rate_limit_backoff must be a number"),
        ("portpos", {"sandbox": "yes"}, "sandbox must be true or false"),
    ],
)
def test_e019_option_of_another_type_than_declared(
    alias: str, changes: dict[str, Any], shown: str
) -> None:
    multipay = copy.deepcopy(settings.MULTIPAY)
    multipay["GATEWAYS"][alias]["OPTIONS"].update(changes)
    with override_settings(MULTIPAY=multipay):
        messages = [m for m in check_settings() if m.id != "multipay.W001"]
    [message] = messages
    assert f"{alias!r}" in message.msg
    assert shown in message.msg
    assert message.id == "multipay.E019"
    assert "12345678" not in message.msg  # the type is named, never the value
    # A per-payment default of the wrong type is E013's, not also E019's.
    multipay["GATEWAYS"]["postpay"]["OPTIONS"].update({"secret_key": "s", "num_instalments": "3"})
    with override_settings(MULTIPAY=multipay):
        assert "multipay.E019" not in {m.id for m in check_settings() if "postpay" in m.msg}


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"transaction_type": "SALE"}, "transaction_type must be PURCHASE or PREAUTH"),
        ({"auth_token": "jwt"}, "auth_token must be local or remote"),
        ({"listing_page_size": 0}, "listing_page_size must be a whole number from 1 to 1000"),
        ({"hold_lifetime": -5}, "hold_lifetime must be a positive number of seconds"),
    ],
)
def test_e020_option_breaking_a_rule_of_its_backend(changes: dict[str, Any], shown: str) -> None:
    multipay = copy.deepcopy(settings.MULTIPAY)
    multipay["GATEWAYS"]["portone"]["OPTIONS"].update(changes)
    with override_settings(MULTIPAY=multipay):
        [message] = [m for m in check_settings() if m.id != "multipay.W001"]
    assert message.id == "multipay.E020"
    assert "'portone'" in message.msg
    assert shown in message.msg
    # The same rule refuses every payment at the alias, with the same words.
    gateway = backend_class(BACKENDS["portone"])(
        "portone", multipay["GATEWAYS"]["portone"]["OPTIONS"]
    )
    with pytest.raises(GatewayConfigurationError) as caught:
        gateway.check_options()
    assert str(caught.value) == message.msg


# -- sensitive options, customer ids, the deployment check -------------------------------------


def test_e006_opt_in_naming_no_sensitive_option() -> None:
    options = {**DUMMY_OPTIONS, "allow_sensitive_payment_options": ["colour"]}
    with override_settings(
        MULTIPAY={"GATEWAYS": {"dummy": {"BACKEND": DUMMY, "OPTIONS": options}}}, DEBUG=True
    ):
        [message] = check_settings()
    assert message.id == "multipay.E006"
    assert "'dummy'" in message.msg


@pytest.mark.parametrize("where", ["setting", "alias"])
def test_e007_customer_id_not_a_callable(where: str) -> None:
    options = {**DUMMY_OPTIONS, **({"customer_id": 42} if where == "alias" else {})}
    multipay: dict[str, Any] = {"GATEWAYS": {"dummy": {"BACKEND": DUMMY, "OPTIONS": options}}}
    if where == "setting":
        multipay["CUSTOMER_ID"] = "no.such.module.function"
    assert ids(multipay) == ["multipay.E007"]


def test_w002_test_gateways_allowed_in_production() -> None:
    with override_settings(MULTIPAY={"ALLOW_TEST_GATEWAYS": True}, DEBUG=False):
        [message] = check_deploy()
    assert message.id == "multipay.W002"
    with override_settings(MULTIPAY={"ALLOW_TEST_GATEWAYS": True}, DEBUG=True):
        assert check_deploy() == []


# -- the time budget against the worker timeout (W011-W013 were W010) ---------------------------


def budget_ids(**multipay: Any) -> list[str]:
    with override_settings(MULTIPAY={"GATEWAYS": {}, **multipay}):
        return [m.id for m in check_time_budget()]


def test_w010_budget_does_not_fit_the_worker_timeout() -> None:
    assert budget_ids(WORKER_TIMEOUT=30, REQUEST_TIME_BUDGET=28.0) == ["multipay.W010"]
    assert budget_ids(WORKER_TIMEOUT=30, REQUEST_TIME_BUDGET=24.0) == []
    assert budget_ids(REQUEST_TIME_BUDGET=28.0) == []


@pytest.mark.parametrize("value", ["30", 0, -1, True])
def test_w011_worker_timeout_not_seconds(value: Any) -> None:
    assert budget_ids(WORKER_TIMEOUT=value) == ["multipay.W011"]


@pytest.mark.parametrize("value", ["fifteen", 0, True])
def test_w012_request_time_budget_not_seconds(value: Any) -> None:
    assert budget_ids(WORKER_TIMEOUT=30, REQUEST_TIME_BUDGET=value) == ["multipay.W012"]
    assert budget_ids(REQUEST_TIME_BUDGET=value) == []  # only checked against a worker timeout


def test_w013_without_a_budget_an_alias_read_does_not_fit() -> None:
    slow = {**DUMMY_OPTIONS, "timeout": 30, "retries": 1}
    gateways = {
        "slow": {"BACKEND": DUMMY, "OPTIONS": slow},
        "quick": {"BACKEND": DUMMY, "OPTIONS": {**DUMMY_OPTIONS, "timeout": 1, "retries": 0}},
    }
    with override_settings(
        MULTIPAY={"GATEWAYS": gateways, "WORKER_TIMEOUT": 30, "REQUEST_TIME_BUDGET": None}
    ):
        [message] = check_time_budget()
    assert message.id == "multipay.W013"
    assert "'slow'" in message.msg


# -- the IDs and their documentation ----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
#: Every ID a check gives, as written in the package's source.
RAISED = set(
    re.findall(
        r'id="multipay\.([EW]\d{3})"',
        "\n".join(p.read_text() for p in (ROOT / "django_multipay").rglob("*.py")),
    )
)
#: Every ID with an anchor of its own in the settings reference.
DOCUMENTED = {
    found.upper()
    for found in re.findall(
        r"^\(check-([ew]\d{3})\)=$", (DOCS_DIR / "settings.md").read_text(), re.M
    )
}


def test_every_check_id_has_its_docs_anchor() -> None:
    raised, undocumented = RAISED, RAISED - DOCUMENTED
    assert {"E001", "E013", "E018", "W005", "W010", "W013"} <= raised
    assert undocumented == set()


def test_every_documented_check_id_is_used() -> None:
    """A retired ID keeps no anchor, and no anchor names an ID no check gives."""
    unused = DOCUMENTED - RAISED
    assert unused == set()


def test_the_checks_table_lists_every_id_once() -> None:
    docs = (DOCS_DIR / "settings.md").read_text()
    listed = re.findall(r"^\| \[`([EW]\d{3})`\]\(#check-([ew]\d{3})\) \|", docs, re.M)
    assert [code for code, _ in listed] == sorted(RAISED)
    assert all(code.lower() == anchor for code, anchor in listed)


def test_each_id_is_given_once_in_the_source() -> None:
    """One ID per mistake: an ID written twice would be two mistakes under one name (E007 is
    the same mistake, a customer id that is not a callable, at two places)."""
    source = (ROOT / "django_multipay" / "checks.py").read_text()
    written = re.findall(r'id="multipay\.([EW]\d{3})"', source)
    assert sorted(i for i in set(written) if written.count(i) > 1) == ["E007"]


def test_every_check_id_has_a_test_here() -> None:
    """Each ID is triggered by a test of this module named after it (``test_e014_...``)."""
    tested = {name[5:9].upper() for name in globals() if re.match(r"test_[ew]\d{3}_", name)}
    missing = RAISED - tested
    assert missing == set()
