"""Rate limits on paying and refunding: the scopes ``multipay_pay`` and ``multipay_refund``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.core.cache import cache
from django.test import override_settings
from rest_framework.throttling import UserRateThrottle

from django_multipay.api.views import OrderViewSet
from django_multipay.models import Invoice, Refund
from django_multipay.testing.router import EmulatorRouter
from tests.api.conftest import order_for

pytestmark = pytest.mark.django_db

SCHEMA = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}


@pytest.fixture(autouse=True)
def fresh_counts() -> Iterator[None]:
    """DRF counts requests in Django's cache: each test starts from none."""
    cache.clear()
    yield
    cache.clear()


def rates(**scopes: str) -> Any:
    return override_settings(REST_FRAMEWORK={**SCHEMA, "DEFAULT_THROTTLE_RATES": scopes})


def pay(client: Any, order: Any) -> Any:
    return client.post(f"/api/orders/{order.public_id}/pay/", {"gateway": "dummy"}, format="json")


def refund(client: Any, invoice: Invoice) -> Any:
    return client.post(f"/api/invoices/{invoice.pk}/refunds/", {"amount": "10.00"}, format="json")


def test_no_rate_set_means_no_limit(api: Any, customer: Any, router: EmulatorRouter) -> None:
    order = order_for(customer)
    client = api(customer)
    answers = [pay(client, order).status_code for _ in range(5)]
    assert answers == [201] * 5
    assert Invoice.objects.filter(order=order).count() == 5
    assert len(router.requests_to(r"/api/payments$", "POST")) == 5


def test_pay_rate_answers_429_and_calls_no_gateway(
    api: Any, customer: Any, router: EmulatorRouter
) -> None:
    order = order_for(customer)
    client = api(customer)
    with rates(multipay_pay="2/min"):
        answers = [pay(client, order) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    refused = answers[2]
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    # The refused request made no invoice and reached no gateway.
    assert Invoice.objects.filter(order=order).count() == 2
    assert len(router.requests_to(r"/api/payments$", "POST")) == 2


def test_pay_rate_counts_per_user(
    api: Any, customer: Any, stranger: Any, router: EmulatorRouter
) -> None:
    with rates(multipay_pay="1/min"):
        assert pay(api(customer), order_for(customer)).status_code == 201
        assert pay(api(customer), order_for(customer)).status_code == 429
        assert pay(api(stranger), order_for(stranger)).status_code == 201


def test_refund_rate_answers_429_and_refunds_once(
    api: Any, staff: Any, paid_invoice: Invoice, router: EmulatorRouter
) -> None:
    client = api(staff)
    with rates(multipay_refund="1/min"):
        first, second = refund(client, paid_invoice), refund(client, paid_invoice)
    assert first.status_code == 201, first.json()
    assert second.status_code == 429
    assert second.json()["code"] == "throttled"
    assert Refund.objects.filter(invoice=paid_invoice).count() == 1
    assert len(router.requests_to(r"/refunds$", "POST")) == 1


def test_refund_without_its_rate_is_not_limited(
    api: Any, staff: Any, paid_invoice: Invoice, router: EmulatorRouter
) -> None:
    client = api(staff)
    # Only paying is limited: each scope has its own rate.
    with rates(multipay_pay="1/min"):
        answers = [refund(client, paid_invoice).status_code for _ in range(3)]
    assert answers == [201, 201, 201]
    assert Refund.objects.filter(invoice=paid_invoice).count() == 3


def test_other_endpoints_are_not_in_the_scopes(api: Any, customer: Any) -> None:
    client = api(customer)
    order = order_for(customer)
    with rates(multipay_pay="1/min", multipay_refund="1/min"):
        answers = [client.get(f"/api/orders/{order.public_id}/").status_code for _ in range(3)]
    assert answers == [200, 200, 200]


class OnePerMinute(UserRateThrottle):
    rate = "1/min"


def test_the_shops_own_throttles_still_apply(
    api: Any, customer: Any, router: EmulatorRouter, monkeypatch: Any
) -> None:
    # What REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] gives every view (read by DRF at import).
    monkeypatch.setattr(OrderViewSet, "throttle_classes", [OnePerMinute])
    client = api(customer)
    order = order_for(customer)
    assert pay(client, order).status_code == 201
    assert pay(client, order).status_code == 429
    assert Invoice.objects.filter(order=order).count() == 1
