"""Fixtures several modules of one gateway's tests share, named after their gateway."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from django_multipay import payments
from django_multipay.models import Invoice, Order, OrderItem
from django_multipay.registry import get_gateway
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """``timezone.now()`` stands at ``clock[0]`` (backend and emulator read the same clock)."""
    moment = [timezone.now()]
    monkeypatch.setattr(timezone, "now", lambda: moment[0])
    return moment


# -- PortOne -----------------------------------------------------------------------------------


@pytest.fixture
def portone_fresh_tokens() -> Iterator[None]:
    """No token cached across tests: each test sees the token calls it makes."""
    from django_multipay.gateways.portone import clear_token_cache

    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def portone_order(db: Any) -> Order:
    return OrderFactory(amount=Decimal("100.00"), currency="EUR")


@pytest.fixture
def portone_order_with_items(db: Any) -> Order:
    order = OrderFactory(amount=Decimal("100.50"), currency="EUR", description="Two mugs")
    OrderItem.objects.create(
        order=order, reference="MUG", name="Mug", quantity=2, unit_price=Decimal("50.25")
    )
    return order


@pytest.fixture
def portone_shipped_order(db: Any) -> Order:
    return OrderFactory(amount=Decimal("100.00"), currency="EUR", shipping_amount=Decimal("5.00"))


@pytest.fixture
def portone_link(router: EmulatorRouter, portone_shipped_order: Order) -> Invoice:
    """A payment started on PortOne's checkout page (a payment link), shipping included."""
    invoice, _action = payments.begin_payment(portone_shipped_order, "portone-link")
    return invoice


# -- PortWallet --------------------------------------------------------------------------------

#: The emulator's hosted page: the alias's payment_url, as the example shop sets it.
PORTWALLET_PAGE = "http://testserver/sandbox/portwallet/payment/"


@pytest.fixture
def portwallet_page(settings: Any) -> None:
    """The test settings point base_url at the emulator; its page is named on its own."""
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portwallet"]["OPTIONS"]["payment_url"] = PORTWALLET_PAGE
    settings.MULTIPAY = config


@pytest.fixture
def portwallet_gateway() -> Any:
    from django_multipay.gateways.portwallet import PortWalletGateway

    found = get_gateway("portwallet")
    assert isinstance(found, PortWalletGateway)
    return found


# -- PortPos -----------------------------------------------------------------------------------


@pytest.fixture
def portpos_order(transactional_db: object) -> Order:
    """The document's sample order: two polo T-shirts with shipping, 2,050.00 BDT."""
    return payments.create_order(
        reference="PP-1001",
        currency="BDT",
        items=[{"name": "Polo T-shirt", "unit_price": "1000.00", "quantity": 2}],
        shipping_amount="50.00",
        description="Two polo T-shirts with shipping",
        customer_name="Robbie Amell",
        customer_email="robbie@example.com",
        customer_phone="+880 1711-000000",
        billing_address={
            "line1": "House 1, Road 1",
            "line2": "Gulshan 1",
            "city": "Dhaka",
            "state": "Dhaka",
            "postal_code": "1212",
            "country": "BD",
        },
    )
