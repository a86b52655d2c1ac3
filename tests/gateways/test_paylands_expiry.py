"""Payshop and Multibanco reference expiry in Lisbon time, whatever the shop's TIME_ZONE."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from django_multipay import payments, reconcile
from django_multipay.gateways import paylands
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import paylands as emulator
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

LISBON = ZoneInfo("Europe/Lisbon")
UTC = ZoneInfo("UTC")  # datetime.UTC is Python 3.11+
SIGNATURE = "paylands-signature-one"
SERVICE = "B1F13B01-BA97-491C-BBDE-1C18988BD229"

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


def make_order(**fields: Any) -> Order:
    order = OrderFactory(**fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def lisbon_midnight(day: date) -> datetime:
    """00:00 of ``day`` in Lisbon, written out by hand: WET (UTC) in winter, WEST (UTC+1)
    from the last Sunday of March to the last Sunday of October."""
    summer = date(2026, 3, 29) < day <= date(2026, 10, 25)
    return datetime.combine(day, time(), UTC) - timedelta(hours=1 if summer else 0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """``timezone.now()`` stands at ``clock[0]`` (backend and emulator read the same clock)."""
    moment = [timezone.now()]
    monkeypatch.setattr(timezone, "now", lambda: moment[0])
    return moment


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


@pytest.mark.parametrize(("shop_zone", "moment", "lisbon", "shop"), MOMENTS)
def test_emulators_default_payshop_deadline_is_three_lisbon_days(
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
    payments.start_payment(order, "paylands", options={"apm": "PAYSHOP", "push": True})
    invoice = Invoice.objects.get(order=order)
    # "By default, the expiration date is set within 3 days from the moment the payment is
    # triggered": no date was sent, the emulator counts three days from Lisbon's today.
    assert sent_payment(router) == {"maxNbrPayments": "1"}
    reference = get_gateway("paylands").payment_reference(invoice)
    assert reference is not None
    assert reference.deadline == lisbon + timedelta(days=3)
    assert invoice.expires_at == lisbon_midnight(lisbon + timedelta(days=4))
    stored = emulator._load(invoice.gateway_id)
    assert stored is not None
    assert stored["_expires"] == invoice.expires_at


def create_body(payment: dict[str, Any]) -> dict[str, Any]:
    return {
        "amount": 100,
        "operative": "AUTHORIZATION",
        "service": SERVICE,
        "customer_ext_id": "c",
        "description": "d",
        "url_ok": "http://x/",
        "url_ko": "http://x/",
        "url_post": "http://x/n",
        "signature": SIGNATURE,
        "extra_data": {"payment": payment},
    }


@pytest.mark.parametrize(
    ("payment", "status"),
    [
        ({"maxNbrPayments": "1", "expiration_date": "20261024"}, 400),
        ({"maxNbrPayments": "1", "expiration_date": "20261025"}, 200),
        ({"maxNbrPayments": "1", "expiration_date": "2026-10-26"}, 400),
        ({"maxNbrPayments": "1", "expiration_date": "20261326"}, 400),
        ({"deadline": "2026-10-24"}, 200),  # the document sets Multibanco no floor
        ({"deadline": "2026-10-25"}, 200),
        ({"deadline": "20261026"}, 400),
    ],
)
def test_emulator_refuses_a_deadline_before_lisbons_today_or_in_another_format(
    router: EmulatorRouter,
    clock: list[datetime],
    settings: Any,
    payment: dict[str, Any],
    status: int,
) -> None:
    # 24 October 23:30 in Los Angeles is already 25 October in Lisbon.
    settings.TIME_ZONE = "America/Los_Angeles"
    clock[0] = datetime(2026, 10, 25, 6, 30, tzinfo=UTC)
    response = router.client.post(
        "/sandbox/paylands/payment",
        create_body(payment),
        content_type="application/json",
        headers={"Authorization": "Bearer paylands-api-key-one"},
    )
    assert response.status_code == status, response.content
