"""Users, authenticated API clients and paid invoices for the REST API tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from django_multipay import payments
from django_multipay.models import Invoice, Order
from django_multipay.testing.router import EmulatorRouter

STAFF_PERMISSIONS = ("add_refund", "change_invoice", "view_notification")


@pytest.fixture(autouse=True)
def api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.api.urls"


@pytest.fixture
def customer(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("customer", password="pw")


@pytest.fixture
def stranger(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("stranger", password="pw")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    """A staff member with the refund, capture/cancel and notification permissions."""
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="django_multipay", codename__in=STAFF_PERMISSIONS
        )
    )
    return user


@pytest.fixture
def bare_staff(django_user_model: Any) -> Any:
    """A staff member without any model permission."""
    return django_user_model.objects.create_user("bare-staff", password="pw", is_staff=True)


@pytest.fixture
def api() -> Callable[[Any], Any]:
    """``api(user)``: a DRF test client authenticated as ``user`` (``None``: anonymous)."""
    from rest_framework.test import APIClient

    def client_for(user: Any) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for


def order_for(user: Any, **fields: Any) -> Order:
    fields.setdefault("reference", f"API-{Order.objects.count() + 1:04d}")
    fields.setdefault("amount", "100.00")
    fields.setdefault("currency", "EUR")
    return payments.create_order(user=user, **fields)


def started_invoice(order: Order, alias: str = "dummy") -> Invoice:
    payments.start_payment(order, alias)
    return Invoice.objects.filter(order=order).latest("created_at")


def customer_pays(router: EmulatorRouter, invoice: Invoice, outcome: str = "paid") -> Invoice:
    response = router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": outcome})
    assert response.status_code == 302, response.content
    invoice.refresh_from_db()
    return invoice


@pytest.fixture
def paid_invoice(router: EmulatorRouter, customer: Any) -> Invoice:
    """A 100.00 EUR invoice of the customer's order, paid at the dummy gateway."""
    invoice = customer_pays(router, started_invoice(order_for(customer)))
    assert invoice.status == "paid"
    return invoice
