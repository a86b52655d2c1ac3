"""PortOne payment links: updating one, and reading one by our own reference."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.utils import timezone

from django_multipay import payments
from django_multipay.exceptions import GatewayAPIError, InvalidRequest, UnsupportedOperation
from django_multipay.gateways.portone import read_token, wire_time
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

KEY = "portone-client-key-three"
SECRET = "portone-secret-key-three-0123456789abcdef0123"
API = "http://testserver/sandbox/portone/"


@pytest.fixture
def order(db: Any) -> Order:
    return OrderFactory(amount=Decimal("100.00"), currency="EUR", shipping_amount=Decimal("5.00"))


@pytest.fixture
def link(router: EmulatorRouter, order: Order) -> Invoice:
    invoice, _action = payments.begin_payment(order, "portone-link")
    return invoice


def opt_in(settings: Any, *names: str) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portone-link"]["OPTIONS"]["allow_sensitive_payment_options"] = list(names)
    settings.MULTIPAY = config


def assert_signed(call: Any) -> None:
    assert call.headers["X-Portone-Client-Key"] == KEY
    scheme, _, token = call.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    assert read_token(token, KEY, SECRET)["sub"] == KEY


def test_update_payment_link_on_the_wire(router: EmulatorRouter, link: Invoice) -> None:
    when = timezone.now() + timedelta(days=2)
    content = get_gateway("portone-link").update_payment_link(
        link,
        expiry_date=when,
        notify_by_email=True,
        description="Two mugs, gift wrapped",
        merchant_details={"back_url": "https://shop.example/cart", "promo_code": "SPRING"},
        notes=[{"key": "gift", "value": "yes"}],
    )
    (call,) = router.requests_to(rf"/api/update-paylink/{link.gateway_id}$")
    assert call.method == "PUT"
    assert_signed(call)
    assert "X-Portone-SubMerchant-Key" not in call.headers
    assert json.loads(call.body) == {
        "expiry_date": wire_time(when),
        "notify_by_email": True,
        "description": "Two mugs, gift wrapped",
        "merchant_details": {
            "name": "Test shop",
            "promo_discount": 0,
            "shipping_charges": 5.0,
            "back_url": "https://shop.example/cart",
            "promo_code": "SPRING",
        },
        "notes": [{"key": "gift", "value": "yes"}],
    }
    assert b'"shipping_charges":5.00' in call.body  # a number from the Decimal, not a float
    assert content["status"] == "Created"
    assert content["notify_by_email"] is True
    assert content["expired_at"] == wire_time(when)
    assert (content["amount"], content["currency"]) == ("100.00", "EUR")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": Decimal("1.00")}, "amount"),
        ({"currency": "USD"}, "currency"),
        ({"success_url": "https://evil.example/"}, "success_url"),
        ({"billing_details": {}}, "billing_details"),
        ({"merchant_dcc_rate": {}}, "merchant_dcc_rate"),
        ({"expiry_date": "2001-01-01T00:00:00Z"}, "expiry_date"),
        ({"reminder_time_unit": "week"}, "reminder_time_unit"),
        ({"merchant_details": {"promo_discount": 50}}, "merchant_details"),
        (
            {"custom_txn_webhook_urls": ["https://elsewhere.example/hook"]},
            "custom_txn_webhook_urls",
        ),
        ({}, "changes"),
    ],
)
def test_what_may_not_change_is_refused_before_any_call(
    router: EmulatorRouter, link: Invoice, changes: dict[str, Any], field: str
) -> None:
    calls = len(router.calls)
    with pytest.raises(InvalidRequest) as caught:
        get_gateway("portone-link").update_payment_link(link, **changes)
    assert set(caught.value.fields) == {field}
    assert len(router.calls) == calls


def test_webhook_addresses_change_with_the_alias_opt_in(
    router: EmulatorRouter, link: Invoice, settings: Any
) -> None:
    opt_in(settings, "custom_txn_webhook_urls")
    get_gateway("portone-link").update_payment_link(
        link, custom_txn_webhook_urls=["https://audit.example/hook"]
    )
    (call,) = router.requests_to(rf"/api/update-paylink/{link.gateway_id}$")
    assert json.loads(call.body) == {"custom_txn_webhook_urls": ["https://audit.example/hook"]}


def test_a_channel_payment_is_no_link_to_update(router: EmulatorRouter, order: Order) -> None:
    invoice, _action = payments.begin_payment(order, "portone")
    with pytest.raises(UnsupportedOperation):
        get_gateway("portone").update_payment_link(invoice, notify_by_email=True)
    assert not router.requests_to(r"/api/update-paylink/")


def test_a_paid_link_is_not_updated(router: EmulatorRouter, link: Invoice) -> None:
    page = link.redirect_url.replace("http://testserver", "")
    router.client.post(page, {"outcome": "success"})
    with pytest.raises(GatewayAPIError) as caught:
        get_gateway("portone-link").update_payment_link(link, show_items=True)
    assert caught.value.code == "4001"


def test_an_update_answer_naming_another_amount_is_an_error(db: Any, order: Order) -> None:
    invoice = Invoice.objects.create(
        order=order,
        gateway="portone-link",
        gateway_id="2BEemUknaImTq5ljmoNQQV2tSll",
        amount=order.amount,
        currency="EUR",
        status=InvoiceStatus.PENDING,
        gateway_options={"started_with": "paymentLink"},
    )
    with responses.RequestsMock() as mock:
        mock.add(
            responses.PUT,
            API + "api/update-paylink/2BEemUknaImTq5ljmoNQQV2tSll",
            json={
                "content": {"amount": 10, "currency": "EUR", "status": "Created"},
                "message": "Payment link updated successfully",
                "status_code": "2000",
                "status_reason": "SUCCESS",
            },
        )
        with pytest.raises(GatewayAPIError, match="now asks 10 EUR"):
            get_gateway("portone-link").update_payment_link(invoice, show_items=False)


def test_link_status_by_our_reference(router: EmulatorRouter, link: Invoice) -> None:
    content = get_gateway("portone-link").fetch_payment_link_by_reference(str(link.pk))
    (call,) = router.requests_to(rf"/api/merchant/{KEY}/paymentLink/{link.pk}/status$")
    assert call.method == "GET"
    assert_signed(call)
    assert content["paymentLinkRef"] == link.gateway_id
    assert content["merchantOrderRef"] == str(link.pk)
    assert content["status"] == "Created"
    # The deprecated call by merchant reference is never used.
    assert not router.requests_to(rf"/api/paymentLink/{link.pk}/status$")


def test_a_sub_merchant_link_is_made_and_read_under_its_key(
    router: EmulatorRouter, order: Order, settings: Any
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order, "portone-link", options={"sub_merchant_key": "SubShop1"})
    assert "allow_sensitive_payment_options" in caught.value.fields["options.sub_merchant_key"]
    assert not Invoice.objects.exists()
    opt_in(settings, "sub_merchant_key")
    invoice, _action = payments.begin_payment(
        order, "portone-link", options={"sub_merchant_key": "SubShop1"}
    )
    (created,) = router.requests_to(r"/api/paymentLink$", "POST")
    assert created.headers["X-Portone-SubMerchant-Key"] == "SubShop1"
    assert "sub_merchant_key" not in json.loads(created.body)
    result = get_gateway("portone-link").fetch_status(invoice)
    assert result.status == InvoiceStatus.PENDING
    (read,) = router.requests_to(rf"/api/merchant/SubShop1/paymentLink/{invoice.pk}/status$")
    assert_signed(read)
    assert not router.requests_to(r"/fetch-status$")
    get_gateway("portone-link").update_payment_link(invoice, show_items=True)
    (update,) = router.requests_to(r"/api/update-paylink/")
    assert update.headers["X-Portone-SubMerchant-Key"] == "SubShop1"


def test_a_link_read_back_naming_another_order_is_unreadable(
    router: EmulatorRouter, link: Invoice
) -> None:
    with store.table(emulator.LINKS) as table:
        table[link.gateway_id]["merchant_order_ref"] = "someone-else"
    with pytest.raises(GatewayAPIError, match="names merchant order"):
        get_gateway("portone-link").fetch_status(link)


def test_the_emulator_expires_a_link_past_its_expiry_date(
    router: EmulatorRouter, order: Order
) -> None:
    invoice, _action = payments.begin_payment(
        order,
        "portone-link",
        options={"expiry_date": (timezone.now() + timedelta(hours=1)).isoformat()},
    )
    (created,) = router.requests_to(r"/api/paymentLink$", "POST")
    assert json.loads(created.body)["expiry_date"].endswith(".000Z") or json.loads(created.body)[
        "expiry_date"
    ].endswith("Z")
    with store.table(emulator.LINKS) as table:
        table[invoice.gateway_id]["expiry_date"] = "2001-01-01T00:00:00.000Z"
    assert get_gateway("portone-link").fetch_status(invoice).status == InvoiceStatus.EXPIRED
