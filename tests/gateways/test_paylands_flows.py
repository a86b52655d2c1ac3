"""Paylands end to end against its emulator: card, deferred, refunds, APMs, expiry, lies."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from django_multipay import payments
from django_multipay.exceptions import (
    GatewayAPIError,
    InvalidRequest,
    PaymentDeclined,
    RefundRefused,
)
from django_multipay.gateways.paylands_hash import php_json, validation_hash
from django_multipay.models import Invoice, Notification, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import paylands as emulator
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter

SIGNATURE = "paylands-signature-one"
OK, KO = "5590337536718399", "5485009949201879"


def make_order(**fields: Any) -> Order:
    order = OrderFactory(**fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def start(order: Order, alias: str = "paylands", options: dict[str, Any] | None = None) -> Invoice:
    payments.start_payment(order, alias, options=options)
    return Invoice.objects.filter(order=order).latest("created_at")


PUSH_PAYSHOP = {"apm": "PAYSHOP", "push": True}


@pytest.fixture
def card_customer(django_user_model: Any, settings: Any) -> Any:
    """A signed-in customer, on an alias that lets the shop pay with saved cards."""
    config = json.loads(json.dumps(settings.MULTIPAY))
    config["GATEWAYS"]["paylands"]["OPTIONS"]["allow_sensitive_payment_options"] = ["card_uuid"]
    settings.MULTIPAY = config
    return django_user_model.objects.create_user("card-customer", password="pw")


def page(invoice: Invoice) -> str:
    return invoice.redirect_url.replace("http://testserver", "")


def emulated(invoice: Invoice) -> dict[str, Any]:
    order = emulator._load(invoice.gateway_id)
    assert order is not None
    return order


def reload(invoice: Invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def notifications(invoice: Invoice) -> list[str]:
    return list(
        Notification.objects.filter(invoice=invoice)
        .order_by("received_at")
        .values_list("result", flat=True)
    )


def post_notification(body: dict[str, Any]) -> Any:
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": "paylands"}),
        data=php_json(body).encode(),
        content_type="application/json",
    )


def pay_by_card(router: EmulatorRouter, invoice: Invoice, number: str = OK) -> Any:
    assert router.client.get(page(invoice)).status_code == 200
    return router.client.post(page(invoice), {"action": "pay", "card_number": number, "cvv": "123"})


# -- AUTHORIZATION --------------------------------------------------------------------------------


def test_card_payment_is_settled_by_the_notification_after_a_read_back(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = start(make_order())
    response = pay_by_card(router, invoice)
    assert response.status_code == 302
    assert response["Location"] == f"http://testserver/payments/return/{invoice.pk}/"
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")
    assert notifications(invoice) == [NotificationResult.PROCESSED]
    # The notification changed nothing by itself: the order was read back first.
    assert len(router.requests_to(rf"/order/{invoice.gateway_id}$", "GET")) == 1
    assert signal_log.count("order_paid") == 1
    # The customer's return finds the invoice settled and makes no further call.
    calls = len(router.calls)
    back = Client().get(f"/payments/return/{invoice.pk}/")
    assert back.status_code == 302
    assert len(router.calls) == calls


def test_refused_card_fails_with_the_reason(router: EmulatorRouter) -> None:
    invoice = start(make_order())
    pay_by_card(router, invoice, KO)
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.FAILED
    assert invoice.failure_reason.startswith("REFUSED")
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.FAILED


@pytest.mark.parametrize(
    ("card", "choice", "status"),
    [
        ("4761739000091011", "authenticate", InvoiceStatus.PAID),
        ("5223798193659108", "authenticate", InvoiceStatus.PAID),
        ("5150796024238164", "authenticate", InvoiceStatus.FAILED),
        ("4761739000091011", "abandon", InvoiceStatus.EXPIRED),
    ],
)
def test_three_d_secure_step(router: EmulatorRouter, card: str, choice: str, status: str) -> None:
    invoice = start(make_order())
    response = pay_by_card(router, invoice, card)
    assert response.status_code == 302
    threeds = f"/sandbox/paylands/payment/threeds/{emulated(invoice)['token']}"
    assert response["Location"].endswith(
        threeds.rsplit("/", 2)[-2] + "/" + emulated(invoice)["token"]
    )
    assert router.client.get(threeds).status_code == 200
    assert router.client.post(threeds, {"result": choice}).status_code == 302
    assert reload(invoice).status == status


def test_customer_cancelling_on_the_page_cancels(router: EmulatorRouter) -> None:
    invoice = start(make_order())
    router.client.post(page(invoice), {"action": "cancel"})
    assert reload(invoice).status == InvoiceStatus.CANCELLED


# -- DEFERRED -------------------------------------------------------------------------------------


def held(router: EmulatorRouter, alias: str = "paylands-deferred") -> Invoice:
    invoice = start(make_order(), alias)
    pay_by_card(router, invoice)
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.AUTHORIZED
    assert emulated(invoice)["status"] == "PENDING_CONFIRMATION"
    return invoice


def test_deferred_full_confirmation(router: EmulatorRouter, signal_log: SignalLog) -> None:
    invoice = held(router)
    payments.capture(invoice)
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")
    assert emulated(invoice)["status"] == "SUCCESS"
    assert signal_log.count("order_paid") == 1
    [call] = router.requests_to(r"/payment/confirmation$", "POST")
    assert json.loads(call.body)["amount"] == 10000


def test_deferred_partial_confirmation_then_refunds_up_to_the_confirmed_part(
    router: EmulatorRouter,
) -> None:
    invoice = held(router)
    payments.capture(invoice, Decimal("60.00"))
    invoice = reload(invoice)
    assert emulated(invoice)["status"] == "PARTIALLY_CONFIRMED"
    assert (invoice.status, invoice.captured_amount) == (InvoiceStatus.PAID, Decimal("60.00"))
    with pytest.raises(RefundRefused):
        payments.refund(invoice, Decimal("60.01"))
    payments.refund(invoice)
    invoice = reload(invoice)
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.REFUNDED, Decimal("60.00"))
    assert emulated(invoice)["refunded"] == 6000


def test_deferred_cancellation_releases_the_hold(router: EmulatorRouter) -> None:
    invoice = held(router)
    payments.cancel(invoice)
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.CANCELLED
    assert emulated(invoice)["status"] == "CANCELLED"
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.CANCELLED
    assert len(router.requests_to(r"/payment/cancellation$", "POST")) == 1


def test_per_payment_deferred_on_an_authorization_alias(router: EmulatorRouter) -> None:
    invoice = start(make_order(), options={"operative": "DEFERRED"})
    pay_by_card(router, invoice)
    assert reload(invoice).status == InvoiceStatus.AUTHORIZED


def test_cancelling_an_order_that_holds_nothing_is_refused_by_paylands(
    router: EmulatorRouter,
) -> None:
    invoice = start(make_order())
    with pytest.raises(GatewayAPIError) as caught:
        payments.cancel(invoice)
    assert getattr(caught.value, "code", "") == "conflict"
    assert reload(invoice).status == InvoiceStatus.PENDING


# -- refunds --------------------------------------------------------------------------------------


def test_partial_then_full_refund(router: EmulatorRouter, signal_log: SignalLog) -> None:
    invoice = start(make_order())
    pay_by_card(router, invoice)
    invoice = reload(invoice)
    first = payments.refund(invoice, Decimal("30.00"), reason="one item back")
    assert first.status == RefundStatus.SUCCEEDED
    assert first.gateway_refund_id
    invoice = reload(invoice)
    assert (invoice.status, invoice.refunded_amount) == (
        InvoiceStatus.PARTIALLY_REFUNDED,
        Decimal("30.00"),
    )
    second = payments.refund(invoice)
    assert second.amount == Decimal("70.00")
    invoice = reload(invoice)
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.REFUNDED, Decimal("100.00"))
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.REFUNDED
    # Each refund's notification arrived before its answer: refund events, nothing doubled.
    assert [r for r in notifications(invoice)].count(NotificationResult.REJECTED) == 0
    assert [json.loads(c.body)["amount"] for c in router.requests_to(r"/payment/refund$")] == [
        3000,
        7000,
    ]
    with pytest.raises(RefundRefused):
        payments.refund(invoice, Decimal("0.01"))
    assert len(router.requests_to(r"/payment/refund$")) == 2


def test_list_refunds_reads_the_order(router: EmulatorRouter) -> None:
    invoice = start(make_order())
    pay_by_card(router, invoice)
    refund = payments.refund(reload(invoice), Decimal("10.00"))
    [listed] = get_gateway("paylands").list_refunds(invoice)
    assert (listed.gateway_refund_id, listed.amount, listed.status) == (
        refund.gateway_refund_id,
        Decimal("10.00"),
        RefundStatus.SUCCEEDED,
    )


# -- APMs and push payments -----------------------------------------------------------------------


def test_payshop_push_reference_flow(router: EmulatorRouter, signal_log: SignalLog) -> None:
    order = make_order()
    action = payments.start_payment(order, "paylands", options=PUSH_PAYSHOP)
    invoice = Invoice.objects.get(order=order)
    assert action.url == f"http://testserver/payments/return/{invoice.pk}/"
    assert invoice.status == InvoiceStatus.PENDING
    reference = get_gateway("paylands").payment_reference(invoice)
    assert reference is not None
    assert len(reference.reference) == 13
    # Three days from today in Lisbon, where the reference is paid; it lapses when the last
    # of them ends there (tests/gateways/test_paylands_expiry.py: whatever the TIME_ZONE).
    lisbon = ZoneInfo("Europe/Lisbon")
    assert reference.deadline == timezone.now().astimezone(lisbon).date() + timedelta(days=3)
    assert invoice.expires_at == datetime.combine(
        reference.deadline + timedelta(days=1), time(), lisbon
    )
    calls = len(router.calls)
    assert get_gateway("paylands").payment_reference(invoice) == reference
    assert len(router.calls) == calls  # read from the invoice, no call
    [create] = router.requests_to(r"/payment$")
    assert json.loads(create.body)["extra_data"]["payment"] == {"maxNbrPayments": "1"}
    # The customer pays at a Payshop agent days later.
    emulator.settle_apm(emulated(invoice), True)
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.PAID
    assert signal_log.count("order_paid") == 1


def test_multibanco_reference_on_the_apm_page(router: EmulatorRouter) -> None:
    invoice = start(make_order(), options={"apm": "MULTIBANCO"})
    assert invoice.redirect_url.endswith("?apm=MULTIBANCO")
    response = router.client.get(page(invoice))
    assert response.status_code == 200
    reference = get_gateway("paylands").payment_reference(invoice)
    assert reference is not None
    assert reference.entity == "81921"
    assert reference.reference.encode() in response.content
    router.client.post(page(invoice), {"outcome": "paid"})
    assert reload(invoice).status == InvoiceStatus.PAID


def test_mbway_push_needs_the_phone(router: EmulatorRouter) -> None:
    mbway = {"apm": "MBWAY", "push": True}
    order = make_order(customer_phone="")
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "paylands", options=mbway)
    assert list(caught.value.fields) == ["customer_phone"]
    # Refused before the order exists at Paylands: nothing was sent.
    assert router.calls == []
    ok = make_order(customer_phone="+351 912345678")
    invoice = start(ok, options=mbway)
    assert invoice.status == InvoiceStatus.PENDING
    assert get_gateway("paylands").payment_reference(invoice) is None


def test_expired_reference_notification_expires_the_invoice(router: EmulatorRouter) -> None:
    invoice = start(make_order(), options=PUSH_PAYSHOP)
    emulator.expire(emulated(invoice))
    invoice = reload(invoice)
    assert invoice.status == InvoiceStatus.EXPIRED
    assert invoice.failure_reason.startswith("EXPIRED")
    assert notifications(invoice) == [NotificationResult.PROCESSED]
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.FAILED


def test_unpaid_card_order_reads_as_expired_after_its_lifetime(router: EmulatorRouter) -> None:
    invoice = start(make_order())
    emulated(invoice)["_expires"] = timezone.now() - timedelta(seconds=1)
    payments.refresh(invoice)
    assert reload(invoice).status == InvoiceStatus.EXPIRED


# -- saved cards ----------------------------------------------------------------------------------


def test_saved_card_payment_goes_straight_back_to_the_shop(
    router: EmulatorRouter, card_customer: Any
) -> None:
    order = make_order(user=card_customer)
    card = emulator.register_card("paylands-api-key-one", f"user-{card_customer.pk}", OK)
    action = payments.start_payment(
        order, "paylands", options={"card_uuid": card, "customer_ip": "203.0.113.9"}
    )
    invoice = Invoice.objects.get(order=order)
    assert action.url == f"http://testserver/payments/return/{invoice.pk}/"
    assert Client().get(f"/payments/return/{invoice.pk}/").status_code == 302
    assert reload(invoice).status == InvoiceStatus.PAID


def test_saved_card_needing_three_d_secure_redirects_there(
    router: EmulatorRouter, card_customer: Any
) -> None:
    order = make_order(user=card_customer)
    card = emulator.register_card(
        "paylands-api-key-one", f"user-{card_customer.pk}", "5223798193659108"
    )
    action = payments.start_payment(order, "paylands", options={"card_uuid": card})
    invoice = Invoice.objects.get(order=order)
    assert "/payment/threeds/" in action.url
    assert invoice.status == InvoiceStatus.PENDING
    router.client.post(action.url.replace("http://testserver", ""), {"result": "authenticate"})
    assert reload(invoice).status == InvoiceStatus.PAID


def test_refused_saved_card_fails_the_attempt(router: EmulatorRouter, card_customer: Any) -> None:
    order = make_order(user=card_customer)
    card = emulator.register_card("paylands-api-key-one", f"user-{card_customer.pk}", KO)
    with pytest.raises(PaymentDeclined):
        payments.start_payment(order, "paylands", options={"card_uuid": card})
    assert Invoice.objects.get(order=order).status == InvoiceStatus.FAILED


def test_cards_saved_on_the_payment_page_are_reusable(router: EmulatorRouter) -> None:
    first = start(make_order(customer_email="same@example.com"), options={"save_card": True})
    pay_by_card(router, first)
    with emulator.store.table(emulator.CARDS) as cards:
        [(_card_uuid, card)] = cards.items()
    assert card["customer"] == "same@example.com"


# -- notifications: the read-back decides ---------------------------------------------------------


def test_read_back_overrides_a_lying_notification(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = start(make_order())
    signal_log.sent.clear()
    body = emulator.notification_for(emulated(invoice))
    body["order"]["status"] = "SUCCESS"
    body["order"]["paid"] = True
    # Correctly hashed (as by someone holding the signature): the read-back still says CREATED.
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    response = post_notification(body)
    assert response.status_code == 400
    assert reload(invoice).status == InvoiceStatus.PENDING
    stored = Notification.objects.get(invoice=invoice)
    assert (stored.result, stored.reason) == (
        NotificationResult.REJECTED,
        "notification says paid but the gateway says pending",
    )
    assert signal_log.count("invoice_status_changed") == 0


def test_notification_naming_another_amount_is_rejected(router: EmulatorRouter) -> None:
    invoice = start(make_order())
    pay_by_card(router, invoice, KO)
    body = emulator.notification_for(emulated(invoice))
    body["order"]["amount"] = 1
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    assert post_notification(body).status_code == 400
    assert (
        Notification.objects.filter(invoice=invoice)
        .latest("received_at")
        .reason.startswith("notification names another amount")
    )


def test_notification_with_another_paid_order_cannot_settle_this_invoice(
    router: EmulatorRouter,
) -> None:
    paid = start(make_order())
    pay_by_card(router, paid)
    victim = start(make_order())
    body = emulator.notification_for(emulated(paid))
    body["order"]["reference"] = str(victim.pk)
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    Invoice.objects.filter(pk=victim.pk).update(gateway_id="")
    response = post_notification(body)
    assert response.status_code == 400
    assert reload(victim).status == InvoiceStatus.PENDING


@pytest.mark.parametrize("mutation", ["altered", "missing"])
def test_bad_hash_is_rejected_before_any_read(router: EmulatorRouter, mutation: str) -> None:
    invoice = start(make_order())
    pay_by_card(router, invoice)
    body = emulator.notification_for(emulated(invoice))
    if mutation == "altered":
        body["order"]["amount"] += 1
    else:
        del body["validation_hash"]
    reads = len(router.requests_to(r"/order/", "GET"))
    response = post_notification(body)
    assert response.status_code == 400
    assert len(router.requests_to(r"/order/", "GET")) == reads
    stored = Notification.objects.filter(gateway="paylands").latest("received_at")
    assert stored.result == NotificationResult.REJECTED
    assert "validation_hash" in stored.reason


def test_hash_check_off_still_reads_back(router: EmulatorRouter, settings: Any) -> None:
    config = json.loads(json.dumps(settings.MULTIPAY))
    config["GATEWAYS"]["paylands"]["OPTIONS"]["validation_hash"] = "off"
    with override_settings(MULTIPAY=config):
        invoice = start(make_order())
        body = emulator.notification_for(emulated(invoice))
        body["validation_hash"] = "anything"
        body["order"]["status"] = "SUCCESS"
        assert post_notification(body).status_code == 400
        assert reload(invoice).status == InvoiceStatus.PENDING
        assert len(router.requests_to(rf"/order/{invoice.gateway_id}$", "GET")) == 1


def test_notification_for_an_unknown_order_is_rejected(router: EmulatorRouter) -> None:
    body = {
        "order": {"uuid": "NOPE", "status": "SUCCESS", "amount": 1, "currency": "978"},
        "client": {},
    }
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    assert post_notification(body).status_code == 404


def test_unreadable_currency_is_rejected(router: EmulatorRouter) -> None:
    body = {
        "order": {"uuid": "X", "status": "SUCCESS", "amount": 1, "currency": "000"},
        "client": {},
    }
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    assert post_notification(body).status_code == 400


def test_operative_must_be_documented(router: EmulatorRouter) -> None:
    with pytest.raises(InvalidRequest) as caught:
        get_gateway("paylands").check_payment_options({"operative": "TRANSFER"})
    assert set(caught.value.fields) == {"options.operative"}


def test_read_back_without_a_reference_must_be_our_order(router: EmulatorRouter) -> None:
    invoice = start(make_order())
    pay_by_card(router, invoice, KO)
    emulated(invoice)["reference"] = None
    body = emulator.notification_for(emulated(invoice))
    assert post_notification(body).status_code == 200
    other = start(make_order())
    Invoice.objects.filter(pk=other.pk).update(gateway_id="")
    body["order"]["reference"] = str(other.pk)
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    assert post_notification(body).status_code == 400
    assert reload(other).status == InvoiceStatus.PENDING
