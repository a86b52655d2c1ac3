"""The Paylands gateway: the shared contract and its suites, and end to end through the public
API against the emulator: card, deferred, refunds, APMs, references expiring in Lisbon time,
and the example shop."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import pytest
import requests
from django.test import Client
from django.utils import timezone

from django_multipay import payments, reconcile
from django_multipay.exceptions import (
    GatewayAPIError,
    InvalidRequest,
    PaymentDeclined,
    RefundRefused,
)
from django_multipay.gateways import paylands
from django_multipay.gateways.paylands_hash import php_json
from django_multipay.models import Invoice, Notification, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import paylands as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.contracts.attacks import JSON, AttackContract
from tests.contracts.faults import FaultContract, path_of
from tests.shop_server import Shop, csrf

CARDS = {"paid": "5590337536718399", "declined": "5485009949201879"}


def emulated_order(invoice: Invoice) -> dict:
    with store.table(emulator.ORDERS) as orders:
        return orders[invoice.gateway_id]


class TestPaylandsContract(GatewayContract):
    alias = "paylands"
    sandbox_path = "/sandbox/paylands/"

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        page = invoice.redirect_url.replace("http://testserver", "")
        if outcome == "cancelled":
            response = router.client.post(page, {"action": "cancel"})
        else:
            response = router.client.post(page, {"action": "pay", "card_number": CARDS[outcome]})
        assert response.status_code == 302, response.content

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # The payment page would notify the shop at once; change the order silently instead.
        status = {"paid": "SUCCESS", "declined": "REFUSED", "cancelled": "USER_CANCELLED"}
        order = emulated_order(invoice)
        with store.table(emulator.ORDERS):
            order["status"] = status[outcome]
            if outcome == "paid":
                order["transactions"].append(
                    emulator._transaction("AUTHORIZATION", order["amount"])
                )

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        body = emulator.notification_for(emulated_order(invoice))
        return php_json(body).encode(), {"Content-Type": "application/json"}

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        # Claim a payment without the signature credential: the hash no longer matches.
        payload = json.loads(body)
        payload["order"]["status"] = "SUCCESS"
        payload["order"]["paid"] = True
        return json.dumps(payload).encode(), headers


class PaylandsDeferred(TestPaylandsContract):
    alias = "paylands-deferred"


class PaylandsSuites(AttackContract, FaultContract):
    """The attack and fault suites' hooks for Paylands' aliases (tests/contracts/)."""

    signed = "body"
    signature_field = "validation_hash"
    amount_forms = ("minor",)

    def genuine(self, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        payload = emulator.notification_for(emulated_order(invoice))
        return php_json(payload).encode(), {"Content-Type": JSON}

    def is_refund_call(self, request: requests.PreparedRequest) -> bool:
        return request.method == "POST" and path_of(request).endswith("/payment/refund")


class TestPaylandsSuites(PaylandsSuites):
    contract = TestPaylandsContract


class TestPaylandsDeferredSuites(PaylandsSuites):
    contract = PaylandsDeferred
    holds = True


# ------------------------------------------------------------------------------------------------
# Paylands end to end against its emulator: card, deferred, refunds, APMs, expiry, lies.


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
    # of them ends there (below: whatever the TIME_ZONE).
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


def test_operative_must_be_documented(router: EmulatorRouter) -> None:
    with pytest.raises(InvalidRequest) as caught:
        get_gateway("paylands").check_payment_options({"operative": "TRANSFER"})
    assert set(caught.value.fields) == {"options.operative"}


# ------------------------------------------------------------------------------------------------
# The example shop pays through Paylands for real: card page and Payshop reference.


def checkout(shop: Shop, alias: str) -> tuple[str, requests.Session, requests.Response]:
    """Buy two bags of espresso beans (EUR) and choose ``alias``; the gateway's first page."""
    customer = requests.Session()
    home = customer.get(shop.url + "/", timeout=10)
    customer.post(
        shop.url + "/cart/add/espresso-beans/",
        data={"csrfmiddlewaretoken": csrf(home.text), "quantity": "2"},
        timeout=10,
    )
    form = customer.get(shop.url + "/checkout/", timeout=10)
    pay_page = customer.post(
        shop.url + "/checkout/",
        data={
            "csrfmiddlewaretoken": csrf(form.text),
            "name": "Ana Sousa",
            "email": "ana@example.pt",
            "phone": "+351 912345678",
            "billing_line1": "Rua Augusta 1",
            "billing_city": "Lisboa",
            "billing_postal_code": "1100-053",
            "billing_country": "pt",
            "shipping_same": "on",
        },
        timeout=10,
    )
    assert f'value="{alias}"' in pay_page.text
    found = re.search(r"Pay order (SO-[0-9A-Z-]+)", pay_page.text)
    assert found is not None
    started = customer.post(
        pay_page.url,
        data={"csrfmiddlewaretoken": csrf(pay_page.text), "gateway": alias},
        allow_redirects=False,
        timeout=20,
    )
    assert started.status_code == 302, started.text
    page = customer.get(urljoin(pay_page.url, started.headers["Location"]), timeout=10)
    assert page.status_code == 200
    return found.group(1), customer, page


def test_card_payment_in_the_example_shop(shop: Shop) -> None:
    reference, customer, page = checkout(shop, "paylands")
    assert page.url.startswith(shop.url + "/sandbox/paylands/payment/process/")
    assert "49.80 EUR" in page.text
    final = customer.post(page.url, data={"action": "pay", "card_number": "5590337536718399"})
    assert final.url == f"{shop.url}/orders/{reference}/"
    assert shop.db_state(reference) == {
        "fulfilment": "paid",
        "order": "paid",
        "invoices": ["paid"],
        "notifications": [[True, "processed"]],
    }


def test_payshop_reference_in_the_example_shop(shop: Shop) -> None:
    reference, customer, page = checkout(shop, "paylands-payshop")
    assert page.url.endswith("?apm=PAYSHOP")
    payshop = re.search(r"Reference: <code>(\d{13})</code>", page.text)
    assert payshop is not None
    later = customer.post(page.url, data={"outcome": "later"})
    assert later.url == f"{shop.url}/orders/{reference}/"
    assert shop.db_state(reference)["invoices"] == ["pending"]
    # The customer pays the reference at an agent: Paylands notifies the shop.
    customer.post(page.url, data={"outcome": "paid"})
    assert shop.db_state(reference)["invoices"] == ["paid"]


# ------------------------------------------------------------------------------------------------
# Payshop and Multibanco reference expiry in Lisbon time, whatever the shop's TIME_ZONE.


LISBON = ZoneInfo("Europe/Lisbon")
UTC = ZoneInfo("UTC")  # datetime.UTC is Python 3.11+

#: (the shop's TIME_ZONE, the moment, the date in Lisbon then, the date in the shop then).
#: Lisbon moves to summer time on 29 March 2026 at 01:00 UTC and back on 25 October at 01:00
#: UTC; Auckland moves back on 5 April, Los Angeles on 1 November.
MOMENTS = [
    pytest.param(
        "Pacific/Auckland",
        datetime(2026, 3, 28, 23, 30, tzinfo=UTC),
        date(2026, 3, 28),
        date(2026, 3, 29),
        id="auckland-next-day-lisbon-before-summer-time",
    ),
    pytest.param(
        "Pacific/Auckland",
        datetime(2026, 7, 15, 22, 59, tzinfo=UTC),
        date(2026, 7, 15),
        date(2026, 7, 16),
        id="auckland-next-day-a-minute-before-lisbon-midnight",
    ),
    pytest.param(
        "America/Los_Angeles",
        datetime(2026, 7, 15, 23, 30, tzinfo=UTC),
        date(2026, 7, 16),
        date(2026, 7, 15),
        id="los-angeles-day-before-half-an-hour-after-lisbon-midnight",
    ),
    pytest.param(
        "America/Los_Angeles",
        datetime(2026, 10, 25, 6, 30, tzinfo=UTC),
        date(2026, 10, 25),
        date(2026, 10, 24),
        id="los-angeles-day-before-on-lisbon-winter-time-day",
    ),
    pytest.param(
        "Pacific/Auckland",
        datetime(2026, 3, 29, 12, 0, tzinfo=UTC),
        date(2026, 3, 29),
        date(2026, 3, 30),
        id="auckland-next-day-on-lisbon-summer-time-day",
    ),
]


def lisbon_midnight(day: date) -> datetime:
    """00:00 of ``day`` in Lisbon, written out by hand: WET (UTC) in winter, WEST (UTC+1)
    from the last Sunday of March to the last Sunday of October."""
    summer = date(2026, 3, 29) < day <= date(2026, 10, 25)
    return datetime.combine(day, time(), UTC) - timedelta(hours=1 if summer else 0)


def at(clock: list[datetime], settings: Any, shop_zone: str, moment: datetime) -> None:
    settings.TIME_ZONE = shop_zone
    clock[0] = moment
    assert timezone.localdate().isoformat() != moment.astimezone(LISBON).date().isoformat()


def sent_payment(router: EmulatorRouter) -> dict[str, Any]:
    body = json.loads(router.requests_to(r"/payment$", "POST")[-1].body)
    payment = body["extra_data"]["payment"]
    assert isinstance(payment, dict)
    return payment


def test_lisbon_end_of_a_day_across_its_summer_time_changes() -> None:
    end = paylands._lisbon_end_of
    assert end(date(2026, 3, 28)) == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    # 29 March has 23 hours in Lisbon: it ends at 00:00 WEST, 23:00 UTC.
    assert end(date(2026, 3, 29)) == datetime(2026, 3, 29, 23, 0, tzinfo=UTC)
    assert end(date(2026, 7, 15)) == datetime(2026, 7, 15, 23, 0, tzinfo=UTC)
    # 25 October has 25 hours: it ends at 00:00 WET, 00:00 UTC.
    assert end(date(2026, 10, 24)) == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    assert end(date(2026, 10, 25)) == datetime(2026, 10, 26, 0, 0, tzinfo=UTC)
    for day in (date(2026, 3, 29), date(2026, 7, 15), date(2026, 10, 25), date(2026, 12, 3)):
        assert end(day) == lisbon_midnight(day + timedelta(days=1))


@pytest.mark.parametrize(("shop_zone", "moment", "lisbon", "shop"), MOMENTS)
def test_payshop_expiration_date_sent_and_stored_is_lisbons(
    router: EmulatorRouter,
    clock: list[datetime],
    settings: Any,
    shop_zone: str,
    moment: datetime,
    lisbon: date,
    shop: date,
) -> None:
    at(clock, settings, shop_zone, moment)
    order = make_order()
    payments.start_payment(order, "paylands", options={"apm": "PAYSHOP", "reference_valid_days": 2})
    invoice = Invoice.objects.get(order=order)
    last_day = lisbon + timedelta(days=2)
    # "Custom fields": the Payshop reference's expiration date, Ymd, counted from Lisbon's today.
    assert sent_payment(router) == {
        "maxNbrPayments": "1",
        "expiration_date": last_day.strftime("%Y%m%d"),
    }
    assert sent_payment(router)["expiration_date"] != (shop + timedelta(days=2)).strftime("%Y%m%d")
    # The invoice lapses when that day ends in Lisbon, not in the shop's time zone.
    assert invoice.expires_at == lisbon_midnight(last_day + timedelta(days=1))
    # The customer's page shows the reference with that deadline.
    response = router.client.get(invoice.redirect_url.replace("http://testserver", ""))
    assert response.status_code == 200
    reference = get_gateway("paylands").payment_reference(invoice)
    assert reference is not None
    assert reference.deadline == last_day


@pytest.mark.parametrize(("shop_zone", "moment", "lisbon", "shop"), MOMENTS)
def test_multibanco_deadline_sent_is_lisbons(
    router: EmulatorRouter,
    clock: list[datetime],
    settings: Any,
    shop_zone: str,
    moment: datetime,
    lisbon: date,
    shop: date,
) -> None:
    at(clock, settings, shop_zone, moment)
    order = make_order()
    payments.start_payment(
        order, "paylands", options={"apm": "MULTIBANCO", "reference_valid_days": 1}
    )
    last_day = lisbon + timedelta(days=1)
    assert sent_payment(router) == {"deadline": last_day.isoformat()}
    invoice = Invoice.objects.get(order=order)
    assert invoice.expires_at == lisbon_midnight(last_day + timedelta(days=1))


@pytest.mark.parametrize(("shop_zone", "moment", "lisbon", "shop"), MOMENTS)
def test_pushed_payshop_reference_lapses_at_lisbons_end_of_its_deadline(
    router: EmulatorRouter,
    clock: list[datetime],
    settings: Any,
    shop_zone: str,
    moment: datetime,
    lisbon: date,
    shop: date,
) -> None:
    at(clock, settings, shop_zone, moment)
    order = make_order()
    payments.start_payment(
        order, "paylands", options={"apm": "PAYSHOP", "push": True, "reference_valid_days": 3}
    )
    invoice = Invoice.objects.get(order=order)
    last_day = lisbon + timedelta(days=3)
    assert sent_payment(router)["expiration_date"] == last_day.strftime("%Y%m%d")
    [pushed] = router.requests_to(r"/payment/push$", "POST")
    assert json.loads(pushed.body)["apm"] == "PAYSHOP"
    reference = get_gateway("paylands").payment_reference(invoice)
    assert reference is not None
    assert reference.deadline == last_day
    assert invoice.expires_at == lisbon_midnight(last_day + timedelta(days=1))
    # Reconciliation leaves it alone until Lisbon's day is over.
    ends = lisbon_midnight(last_day + timedelta(days=1))
    assert not reconcile.expired_invoices(now=ends - timedelta(seconds=1)).filter(pk=invoice.pk)
    assert reconcile.expired_invoices(now=ends + timedelta(seconds=1)).filter(pk=invoice.pk)
