"""PortOne per-payment options: each reaches the call that takes it, checked first."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from django_multipay import payments
from django_multipay.exceptions import InvalidRequest
from django_multipay.gateways.base import PaymentOption
from django_multipay.gateways.portone import CHANNEL_OPTIONS, LINK_OPTIONS, wire_time
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

TOKEN = {
    "token": "39ad3aac0486492fae11f96327ad9d97",
    "partial_card_number": "424242******4242",
    "expiry_month": "06",
    "expiry_year": "2030",
    "type": "mastercard",
    "save_card": False,
}
#: The shop's own record of the cards PortOne saved, by the customer id bound to each user.
SAVED: dict[str, list[str]] = {}


def saved_cards(customer_id: str) -> list[str]:
    return SAVED.get(customer_id, [])


@pytest.fixture(autouse=True)
def no_saved_cards() -> Any:
    SAVED.clear()
    yield
    SAVED.clear()


def configure(settings: Any, alias: str, **options: Any) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][alias]["OPTIONS"].update(options)
    settings.MULTIPAY = config


def order_of(user: Any = None, **fields: Any) -> Order:
    order = OrderFactory(amount=Decimal("100.00"), currency="EUR", user=user, **fields)
    assert isinstance(order, Order)
    return order


def sent(router: EmulatorRouter, path: str) -> dict[str, Any]:
    (call,) = router.requests_to(path, "POST")
    return json.loads(call.body)  # type: ignore[no-any-return]


@pytest.fixture
def customer(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("customer", password="pw")


@pytest.fixture
def other(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("other", password="pw")


def test_the_declared_options() -> None:
    declared = get_gateway("portone").payment_options
    assert set(declared) == {
        "token_params",
        "routing_enabled",
        "routing_params",
        *(f"user_configured_field{n}" for n in range(1, 6)),
        "show_shipping_details",
        "show_back_button",
        "notify_by_email",
        "notify_by_phone",
        "notes",
        "custom_txn_webhook_urls",
        "expiry_date",
        "back_url",
        "promo_code",
        "sub_merchant_key",
    }
    assert all(isinstance(o, PaymentOption) for o in declared.values())
    assert {n for n, o in declared.items() if o.sensitive} == {
        "token_params",
        "custom_txn_webhook_urls",
        "sub_merchant_key",
    }
    assert set(declared) >= CHANNEL_OPTIONS | LINK_OPTIONS


# -- saved cards ---------------------------------------------------------------------------------


def test_a_saved_card_needs_the_alias_opt_in(router: EmulatorRouter, customer: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(customer), "portone", options={"token_params": TOKEN})
    assert "allow_sensitive_payment_options" in caught.value.fields["options.token_params"]
    assert not Invoice.objects.exists()
    assert router.calls == []


def test_a_guest_cannot_pay_with_a_saved_card(router: EmulatorRouter, settings: Any) -> None:
    configure(
        settings,
        "portone",
        allow_sensitive_payment_options=["token_params"],
        saved_card_tokens=saved_cards,
    )
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(), "portone", options={"token_params": TOKEN})
    assert "signed-in user" in caught.value.fields["options.token_params"]
    assert router.calls == []


def test_without_the_shops_list_of_saved_cards_none_is_used(
    router: EmulatorRouter, settings: Any, customer: Any
) -> None:
    configure(settings, "portone", allow_sensitive_payment_options=["token_params"])
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(customer), "portone", options={"token_params": TOKEN})
    assert "saved_card_tokens" in caught.value.fields["options.token_params"]
    assert not Invoice.objects.exists()


def test_another_customers_card_is_refused_and_ones_own_is_sent(
    router: EmulatorRouter, settings: Any, customer: Any, other: Any
) -> None:
    configure(
        settings,
        "portone",
        allow_sensitive_payment_options=["token_params"],
        saved_card_tokens="tests.gateways.test_portone_options.saved_cards",
    )
    SAVED[str(other.pk)] = [TOKEN["token"]]
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(customer), "portone", options={"token_params": TOKEN})
    assert caught.value.fields == {
        "options.token_params": "a saved card is paid only by the customer it was saved for"
    }
    assert not Invoice.objects.exists()
    SAVED[str(customer.pk)] = [TOKEN["token"]]
    invoice, _action = payments.begin_payment(
        order_of(customer), "portone", options={"token_params": TOKEN}
    )
    assert sent(router, r"/api/initiatePayment$")["token_params"] == TOKEN
    assert invoice.gateway_options["token_params"] == TOKEN


def test_a_card_removed_before_the_call_is_not_sent(
    router: EmulatorRouter, settings: Any, customer: Any, monkeypatch: Any
) -> None:
    configure(
        settings,
        "portone",
        allow_sensitive_payment_options=["token_params"],
        saved_card_tokens=saved_cards,
    )
    SAVED[str(customer.pk)] = [TOKEN["token"]]
    gateway = get_gateway("portone")
    real = gateway.check_payment_options

    def check_then_forget(options: Any, order: Any = None) -> Any:
        checked = real(options, order)
        SAVED.clear()  # the customer deleted the card meanwhile
        return checked

    monkeypatch.setattr(
        type(gateway), "check_payment_options", lambda self, o, r=None: check_then_forget(o, r)
    )
    with pytest.raises(InvalidRequest):
        payments.begin_payment(order_of(customer), "portone", options={"token_params": TOKEN})
    assert Invoice.objects.get().status == InvoiceStatus.FAILED
    assert not router.requests_to(r"/api/initiatePayment$")


@pytest.mark.parametrize(
    "token_params",
    [
        {"partial_card_number": "4242"},  # no token
        {**TOKEN, "expiry_month": "13"},
        {**TOKEN, "save_card": "yes"},
        {**TOKEN, "cvv": "123"},
        {**TOKEN, "token": {"nested": "x"}},
    ],
)
def test_saved_card_values_are_checked(
    router: EmulatorRouter, settings: Any, customer: Any, token_params: dict[str, Any]
) -> None:
    configure(settings, "portone", allow_sensitive_payment_options=["token_params"])
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(
            order_of(customer), "portone", options={"token_params": token_params}
        )
    assert set(caught.value.fields) == {"options.token_params"}


# -- routing, user configured fields --------------------------------------------------------------

ROUTE = {
    "type": "failover",
    "data": [
        {"channel_key": "OMISE", "method_key": "OMISE_CREDIT_CARD", "rank": 2},
        {"channel_key": "STRIPE2", "method_key": "STRIPE_CARD", "rank": 1},
    ],
}


def test_routing_reaches_initiate_payment_and_refunds_name_the_routed_channel(
    router: EmulatorRouter,
) -> None:
    invoice, _action = payments.begin_payment(
        order_of(),
        "portone",
        options={
            "routing_enabled": True,
            "routing_params": ROUTE,
            "user_configured_field1": "SO-1",
        },
    )
    body = sent(router, r"/api/initiatePayment$")
    assert (body["routing_enabled"], body["routing_params"]) == (True, ROUTE)
    assert body["user_configured_field1"] == "SO-1"
    router.client.post(f"/sandbox/portone/pay/{invoice.gateway_id}", {"outcome": "success"})
    payments.refund(invoice, Decimal("10.00"))
    (refund,) = router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "POST")
    assert json.loads(refund.body)["channel"] == "STRIPE2"  # PortOne's choice, read back


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"routing_params": ROUTE}, "options.routing_params"),
        ({"routing_enabled": False, "routing_params": ROUTE}, "options.routing_params"),
        (
            {"routing_enabled": True, "routing_params": {"type": "failover"}},
            "options.routing_params",
        ),
        (
            {
                "routing_enabled": True,
                "routing_params": {"data": [{"channel_key": "X", "rank": 1}]},
            },
            "options.routing_params",
        ),
        ({"user_configured_field3": "x" * 256}, "options.user_configured_field3"),
        ({"user_configured_field6": "x"}, "options.user_configured_field6"),
    ],
)
def test_routing_and_fields_are_checked(
    router: EmulatorRouter, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(), "portone", options=options)
    assert set(caught.value.fields) == {field}
    assert router.calls == []


# -- payment-link options -------------------------------------------------------------------------


def test_link_options_reach_the_payment_link(router: EmulatorRouter, settings: Any) -> None:
    configure(settings, "portone-link", allow_sensitive_payment_options=["custom_txn_webhook_urls"])
    when = timezone.now() + timedelta(days=3)
    payments.begin_payment(
        order_of(),
        "portone-link",
        options={
            "show_shipping_details": True,
            "show_back_button": False,
            "notify_by_email": True,
            "notify_by_phone": False,
            "notes": [{"key": "Table", "value": "12"}],
            "custom_txn_webhook_urls": ["http://testserver/audit/"],
            "expiry_date": when.isoformat(),
            "back_url": "https://shop.example/cart",
            "promo_code": "SPRING",
            "user_configured_field5": "campaign-7",
        },
    )
    body = sent(router, r"/api/paymentLink$")
    assert body["merchant_details"] == {
        "name": "Test shop",
        "promo_discount": 0,
        "shipping_charges": 0,
        "back_url": "https://shop.example/cart",
        "promo_code": "SPRING",
    }
    assert (body["show_shipping_details"], body["show_back_button"]) == (True, False)
    assert (body["notify_by_email"], body["notify_by_phone"]) == (True, False)
    assert body["notes"] == [{"key": "Table", "value": "12"}]
    assert body["custom_txn_webhook_urls"] == ["http://testserver/audit/"]
    assert body["expiry_date"] == wire_time(when)
    assert body["user_configured_field5"] == "campaign-7"
    for name in ("back_url", "promo_code", "sub_merchant_key"):
        assert name not in body


def test_a_links_extra_webhook_address_gets_its_payment_webhook(
    router: EmulatorRouter, settings: Any
) -> None:
    configure(settings, "portone-link", allow_sensitive_payment_options=["custom_txn_webhook_urls"])
    invoice, action = payments.begin_payment(
        order_of(),
        "portone-link",
        options={
            "custom_txn_webhook_urls": ["http://testserver/payments/notify/portone-link/?copy=1"]
        },
    )
    router.client.post(action.url.replace("http://testserver", ""), {"outcome": "success"})
    delivered = [c.url for c in router.requests_to(r"/payments/notify/portone-link/$", "POST")]
    assert len(delivered) == 2
    assert any(url.endswith("?copy=1") for url in delivered)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (
            {"custom_txn_webhook_urls": ["https://elsewhere.example/"]},
            "options.custom_txn_webhook_urls",
        ),
        ({"expiry_date": "2001-01-01T00:00:00Z"}, "options.expiry_date"),
        ({"expiry_date": "2030-01-01 10:00"}, "options.expiry_date"),  # no offset
        ({"back_url": "javascript:alert(1)"}, "options.back_url"),
        ({"notes": [{"key": "a", "value": 1}]}, "options.notes"),
        ({"notes": [{"label": "a"}]}, "options.notes"),
        ({"sub_merchant_key": "has spaces"}, "options.sub_merchant_key"),
        ({"token_params": TOKEN}, "options.token_params"),  # a channel's, not a link's
        ({"routing_enabled": True}, "options.routing_enabled"),
    ],
)
def test_link_options_are_checked(
    router: EmulatorRouter, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(), "portone-link", options=options)
    assert field in caught.value.fields
    assert router.calls == []


@pytest.mark.parametrize("name", sorted(LINK_OPTIONS))
def test_a_link_option_is_refused_at_a_channel(router: EmulatorRouter, name: str) -> None:
    value = {
        "notes": [{"key": "a", "value": "b"}],
        "custom_txn_webhook_urls": ["https://x.example/"],
        "expiry_date": (timezone.now() + timedelta(days=1)).isoformat(),
        "back_url": "https://x.example/",
        "promo_code": "X",
        "sub_merchant_key": "Sub1",
    }.get(name, True)
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order_of(), "portone", options={name: value})
    assert f"options.{name}" in caught.value.fields
    assert router.calls == []


def test_customer_metadata_never_reaches_portone(router: EmulatorRouter) -> None:
    order = order_of(
        metadata={
            "user_configured_field1": "from the customer",
            "token_params": {"token": "stolen"},
            "custom_txn_webhook_urls": ["https://evil.example/"],
        }
    )
    payments.begin_payment(order, "portone")
    payments.begin_payment(order_of(metadata={"notes": "x"}), "portone-link")
    for path in (r"/api/initiatePayment$", r"/api/paymentLink$"):
        raw = router.requests_to(path, "POST")[0].body
        assert b"from the customer" not in raw
        assert b"stolen" not in raw
        assert b"evil.example" not in raw
        assert b"user_configured_field1" not in raw
