"""Test-only parts refuse to run in production: the dummy gateway and the sandbox emulators."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core import checks
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from django_multipay import payments
from django_multipay.checks import check_deploy, check_settings
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways import builtin_backends
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox.urls import emulator_modules
from django_multipay.status import InvoiceStatus, OrderStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

REFUSAL = "served only with DEBUG"


def production(**extra: Any) -> Any:
    """``DEBUG = False`` and no opt-in: how a shop runs under gunicorn."""
    multipay = {**settings.MULTIPAY, "ALLOW_TEST_GATEWAYS": False, **extra}
    return override_settings(DEBUG=False, MULTIPAY=multipay)


def without_opt_in_in_debug() -> Any:
    """A developer's machine: ``DEBUG = True``, no opt-in needed."""
    multipay = {k: v for k, v in settings.MULTIPAY.items() if k != "ALLOW_TEST_GATEWAYS"}
    return override_settings(DEBUG=True, MULTIPAY=multipay)


@pytest.fixture
def order(transactional_db: Any) -> Order:
    found = OrderFactory(amount=Decimal("100.00"), currency="EUR")
    assert isinstance(found, Order)
    return found


def no_invoice_left(order: Order) -> None:
    assert not Invoice.objects.filter(order=order).exists()
    assert not Invoice.objects.filter(status=InvoiceStatus.CREATED).exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.NEW


# -- the dummy gateway -------------------------------------------------------------------------


def test_python_api_refuses_the_dummy_gateway_without_debug(
    router: EmulatorRouter, order: Order, signal_log: Any
) -> None:
    with production(), pytest.raises(GatewayConfigurationError, match="test-only"):
        payments.start_payment(order, "dummy")
    no_invoice_left(order)
    assert router.calls == []  # refused before the emulator was asked
    assert signal_log.sent == []


def test_begin_payment_refuses_too(router: EmulatorRouter, order: Order) -> None:
    with production(), pytest.raises(GatewayConfigurationError):
        payments.begin_payment(order, "dummy-manual")
    no_invoice_left(order)


def test_rest_api_pay_answers_503_with_a_reason(
    router: EmulatorRouter, order: Order, settings: Any, django_user_model: Any
) -> None:
    pytest.importorskip("rest_framework")
    from rest_framework.test import APIClient

    settings.ROOT_URLCONF = "tests.api.urls"
    user = django_user_model.objects.create_user("buyer", password="pw")
    Order.objects.filter(pk=order.pk).update(user=user)
    client = APIClient()
    client.force_authenticate(user)
    with production():
        response = client.post(
            f"/api/orders/{order.public_id}/pay/", {"gateway": "dummy"}, format="json"
        )
        listed = [g["alias"] for g in client.get("/api/gateways/").json()]
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "gateway_not_configured"
    assert response.json()["message"]
    assert "Traceback" not in response.content.decode()
    assert "dummy" not in listed
    assert "dummy-manual" not in listed
    assert "portone" in listed
    no_invoice_left(order)
    assert router.calls == []


def test_pay_view_answers_503_with_a_page(router: EmulatorRouter, order: Order) -> None:
    client = Client()
    with production():
        response = client.post(f"/payments/pay/{order.public_id}/", {"gateway": "dummy"})
        page = client.get(f"/payments/pay/{order.public_id}/")
    assert response.status_code == 503
    assert b"not available" in response.content
    no_invoice_left(order)
    assert router.calls == []
    # The choice page no longer offers what would be refused.
    assert page.status_code == 200
    assert b'value="dummy"' not in page.content
    assert b'value="portone"' in page.content


@pytest.mark.parametrize("allowed", [without_opt_in_in_debug, override_settings])
def test_the_dummy_gateway_works_with_debug_or_the_opt_in(
    router: EmulatorRouter, order: Order, allowed: Any
) -> None:
    # ``override_settings()`` with nothing changed: the suite's own settings opt in.
    with allowed():
        action = payments.start_payment(order, "dummy")
        page = Client().get(f"/payments/pay/{order.public_id}/")
    assert action.url.startswith("http://testserver/sandbox/dummy/pay/")
    assert Invoice.objects.get(order=order).status == InvoiceStatus.PENDING
    assert b'value="dummy"' in page.content


def test_only_test_only_backends_are_refused() -> None:
    with production():
        get_gateway("portone").ensure_allowed()  # a real backend: nothing to refuse
        with pytest.raises(GatewayConfigurationError, match="ALLOW_TEST_GATEWAYS"):
            get_gateway("dummy").ensure_allowed()
    get_gateway("dummy").ensure_allowed()  # the suite's settings opt in


# -- the emulators -----------------------------------------------------------------------------


def sandbox_paths() -> Iterator[str]:
    """One concrete path for every URL the sandbox app serves (converters filled in)."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[str]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"\1", route)

    for top in get_resolver("tests.urls").url_patterns:
        if str(top.pattern) == "sandbox/":
            yield from walk(top.url_patterns, "sandbox/")


PATHS = list(sandbox_paths())


def test_every_emulator_is_covered() -> None:
    served = emulator_modules()
    # Each built-in backend names its emulator, which is served under its name.
    assert {
        cls.emulator[0].rpartition(".")[2] for cls in builtin_backends().values() if cls.emulator
    } == set(served)
    assert len(served) >= 6
    for gateway in served:
        assert any(p.startswith(f"/sandbox/{gateway}/") for p in PATHS), gateway
    assert len(PATHS) >= 40


@pytest.mark.parametrize("method", ["get", "post", "put"])
@pytest.mark.parametrize("path", PATHS)
def test_every_emulator_url_answers_404_without_debug(db: Any, path: str, method: str) -> None:
    with production():
        response = getattr(Client(), method)(path)
    assert response.status_code == 404, (path, response.status_code)
    assert REFUSAL in response.content.decode()


@pytest.mark.parametrize("path", PATHS)
def test_every_emulator_url_answers_with_debug_or_the_opt_in(db: Any, path: str) -> None:
    for allowed in (without_opt_in_in_debug(), override_settings()):
        with allowed:
            response = Client().post(path)
        assert REFUSAL not in response.content.decode(), path


def test_the_refusal_flips_live(router: EmulatorRouter, order: Order) -> None:
    """The rule is read on every request, so ``override_settings`` turns it on and off."""
    action = payments.start_payment(order, "dummy")
    page = action.url.removeprefix("http://testserver")
    with production():
        assert Client().get(page).status_code == 404
    assert Client().get(page).status_code == 200


# -- the system checks agree -------------------------------------------------------------------

DUMMY = {
    "BACKEND": "django_multipay.gateways.dummy.DummyGateway",
    "OPTIONS": {"api_key": "k" * 8, "webhook_secret": "s" * 8},
}


def check_ids(multipay: dict[str, Any], *, debug: bool) -> list[str]:
    with override_settings(MULTIPAY=multipay, DEBUG=debug):
        return [m.id for m in check_settings()] + [m.id for m in check_deploy()]


def test_e005_follows_the_run_time_rule() -> None:
    assert check_ids({"GATEWAYS": {"dummy": DUMMY}}, debug=False) == ["multipay.E005"]
    assert check_ids({"GATEWAYS": {"dummy": DUMMY}}, debug=True) == []
    opted_in = {"GATEWAYS": {"dummy": DUMMY}, "ALLOW_TEST_GATEWAYS": True}
    # Allowed at run time, so no E005; the deploy check still says it is on.
    assert check_ids(opted_in, debug=False) == ["multipay.W002"]
    assert check_ids(opted_in, debug=True) == []


def test_w002_is_a_deployment_check() -> None:
    opted_in = {"GATEWAYS": {}, "ALLOW_TEST_GATEWAYS": True}
    with override_settings(MULTIPAY=opted_in, DEBUG=False):
        everyday = [m.id for m in checks.run_checks(tags=["multipay"])]
        deploy = [
            m.id for m in checks.run_checks(tags=["multipay"], include_deployment_checks=True)
        ]
    assert "multipay.W002" not in everyday
    assert "multipay.W002" in deploy
