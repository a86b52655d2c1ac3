"""Paylands notifications from listed networks only ("Whitelist IPS"), with or without the hash."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_multipay import payments, reconcile
from django_multipay.checks import check_settings
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways.paylands_hash import php_json, validation_hash
from django_multipay.models import Invoice, Notification, Order
from django_multipay.sandbox import paylands as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter

SIGNATURE = "paylands-signature-one"
PAYSHOP = ["203.0.113.0/24", "2001:db8::/32"]
INSIDE, OUTSIDE = "203.0.113.9", "198.51.100.7"
OK = "5590337536718399"


def with_options(settings: Any, **options: Any) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["paylands"]["OPTIONS"].update(options)
    settings.MULTIPAY = config


def make_order(**fields: Any) -> Order:
    order = OrderFactory(**fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def start() -> Invoice:
    order = make_order()
    payments.start_payment(order, "paylands")
    return Invoice.objects.get(order=order)


def emulated(invoice: Invoice) -> dict[str, Any]:
    order = emulator._load(invoice.gateway_id)
    assert order is not None
    return order


def pay_silently(invoice: Invoice) -> dict[str, Any]:
    """The order is paid at Paylands; its notification (hashed as Paylands does) is returned
    instead of being sent."""
    order = emulated(invoice)
    with store.table(emulator.ORDERS):
        order["status"] = "SUCCESS"
        order["paid"] = True
        order["transactions"].append(emulator._transaction("AUTHORIZATION", order["amount"]))
    return emulator.notification_for(order)


def notify(body: dict[str, Any], remote: str | None = INSIDE, **headers: str) -> Any:
    extra = {"REMOTE_ADDR": remote} if remote is not None else {}
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": "paylands"}),
        data=php_json(body).encode(),
        content_type="application/json",
        headers=headers,
        **extra,
    )


def last_notification() -> Notification:
    return Notification.objects.filter(gateway="paylands").latest("received_at")


def reads(router: EmulatorRouter, invoice: Invoice) -> int:
    return len(router.requests_to(rf"/order/{invoice.gateway_id}$", "GET"))


# -- the allowlist and the hash -------------------------------------------------------------------


def test_a_notification_from_a_listed_network_is_read_back_and_applied(
    router: EmulatorRouter, settings: Any, signal_log: SignalLog
) -> None:
    with_options(settings, notification_ips=PAYSHOP)
    invoice = start()
    response = notify(pay_silently(invoice))
    assert response.status_code == 200
    invoice.refresh_from_db()
    assert (invoice.status, invoice.captured_amount) == (InvoiceStatus.PAID, Decimal("100.00"))
    stored = last_notification()
    assert (stored.result, stored.remote_addr, stored.invoice_id) == (
        NotificationResult.PROCESSED,
        INSIDE,
        invoice.pk,
    )
    assert reads(router, invoice) == 1
    assert signal_log.count("order_paid") == 1


def test_a_correctly_hashed_notification_from_elsewhere_is_refused_and_changes_nothing(
    router: EmulatorRouter, settings: Any, signal_log: SignalLog
) -> None:
    with_options(settings, notification_ips=PAYSHOP)
    invoice = start()
    body = pay_silently(invoice)
    signal_log.sent.clear()
    response = notify(body, remote=OUTSIDE)
    assert response.status_code == 403
    assert response.content == b"source address 198.51.100.7 is not in notification_ips"
    stored = last_notification()
    assert (stored.result, stored.reason, stored.remote_addr, stored.invoice_id) == (
        NotificationResult.REJECTED,
        "source address 198.51.100.7 is not in notification_ips",
        OUTSIDE,
        None,
    )
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert reads(router, invoice) == 0  # refused before anything is asked of Paylands
    assert signal_log.count("invoice_status_changed") == 0
    # The very same body from Payshop's network settles the invoice.
    assert notify(body).status_code == 200
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_the_emulators_notifications_come_from_its_documented_networks(
    router: EmulatorRouter, settings: Any
) -> None:
    with_options(settings, notification_ips=list(emulator.SOURCE_NETWORKS))
    invoice = start()
    page = invoice.redirect_url.replace("http://testserver", "")
    router.client.get(page)
    router.client.post(page, {"action": "pay", "card_number": OK, "cvv": "123"})
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    stored = last_notification()
    assert (stored.result, stored.remote_addr) == (NotificationResult.PROCESSED, "127.0.0.1")


def test_the_emulators_notifications_are_refused_by_an_allowlist_without_them(
    router: EmulatorRouter, settings: Any
) -> None:
    with_options(settings, notification_ips=PAYSHOP)
    invoice = start()
    emulator._settle_card(emulated(invoice), OK, True)  # POSTs its notification at once
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    stored = last_notification()
    assert (stored.result, stored.reason) == (
        NotificationResult.REJECTED,
        "source address 127.0.0.1 is not in notification_ips",
    )


def test_with_both_configured_both_must_pass(router: EmulatorRouter, settings: Any) -> None:
    with_options(settings, notification_ips=PAYSHOP)  # validation_hash: "sha256", the default
    invoice = start()
    body = pay_silently(invoice)
    forged = copy.deepcopy(body)
    forged["validation_hash"] = validation_hash(forged, "not-the-signature")
    response = notify(forged)  # from Payshop's network, with a hash that is not ours
    assert response.status_code == 400
    assert last_notification().reason == "validation_hash does not match"
    assert notify(body, remote=OUTSIDE).status_code == 403  # our hash, from elsewhere
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert reads(router, invoice) == 0


def test_with_only_the_allowlist_the_read_back_still_decides(
    router: EmulatorRouter, settings: Any, signal_log: SignalLog
) -> None:
    with_options(settings, notification_ips=PAYSHOP, validation_hash="off")
    invoice = start()
    lie = emulator.notification_for(emulated(invoice))
    lie["order"]["status"] = "SUCCESS"
    lie["validation_hash"] = "anything"
    signal_log.sent.clear()
    response = notify(lie)
    assert response.status_code == 400
    assert reads(router, invoice) == 1
    assert last_notification().reason == "notification says paid but the gateway says pending"
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert signal_log.count("invoice_status_changed") == 0
    truth = pay_silently(invoice)
    truth["validation_hash"] = "anything"
    assert notify(truth).status_code == 200
    assert reads(router, invoice) == 2
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    assert notify(truth, remote=OUTSIDE).status_code == 403


# -- the client address ---------------------------------------------------------------------------


def test_x_forwarded_for_is_not_trusted_by_default(router: EmulatorRouter, settings: Any) -> None:
    with_options(settings, notification_ips=PAYSHOP)
    invoice = start()
    response = notify(pay_silently(invoice), remote=OUTSIDE, **{"X-Forwarded-For": INSIDE})
    assert response.status_code == 403
    assert last_notification().reason == "source address 198.51.100.7 is not in notification_ips"
    # The header is kept with the row, as every header is.
    assert last_notification().headers["X-Forwarded-For"] == INSIDE
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


@pytest.mark.parametrize(
    ("hops", "forwarded", "status", "reason"),
    [
        (1, INSIDE, 200, ""),
        # Whatever the sender wrote is further left; the proxy's own entry is the last.
        (1, f"{INSIDE}, {OUTSIDE}", 403, "source address 198.51.100.7 is not in notification_ips"),
        (1, f"{OUTSIDE}, {INSIDE}", 200, ""),
        (2, f"{OUTSIDE}, {INSIDE}, 192.0.2.50", 200, ""),
        (2, f"{INSIDE}, {OUTSIDE}, 192.0.2.50", 403, "source address 198.51.100.7"),
        (1, None, 403, "X-Forwarded-For names 0 address(es), fewer than the 1 proxy hop(s)"),
        (2, INSIDE, 403, "X-Forwarded-For names 1 address(es), fewer than the 2 proxy hop(s)"),
        (1, "unknown", 403, "the notification's source address cannot be read"),
        (1, f"{INSIDE}:4431", 403, "the notification's source address cannot be read"),
    ],
)
def test_behind_proxies_the_address_is_read_from_the_right_of_x_forwarded_for(
    router: EmulatorRouter,
    settings: Any,
    hops: int,
    forwarded: str | None,
    status: int,
    reason: str,
) -> None:
    with_options(settings, notification_ips=PAYSHOP, notification_proxy_hops=hops)
    invoice = start()
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    # REMOTE_ADDR is the shop's own proxy, never in the allowlist.
    response = notify(pay_silently(invoice), remote="10.0.0.2", **headers)
    assert response.status_code == status, response.content
    stored = last_notification()
    assert stored.remote_addr == "10.0.0.2"
    expected = InvoiceStatus.PAID if status == 200 else InvoiceStatus.PENDING
    assert Invoice.objects.get(pk=invoice.pk).status == expected
    if reason:
        assert stored.result == NotificationResult.REJECTED
        assert stored.reason.startswith(reason)
        assert reads(router, invoice) == 0


@pytest.mark.parametrize(
    ("remote", "status"),
    [
        ("2001:db8::5", 200),
        ("2001:db8:ffff::1", 200),
        ("::ffff:203.0.113.9", 200),  # a dual-stack server's IPv4 sender
        ("2001:db9::1", 403),
        ("::ffff:198.51.100.7", 403),
        ("203.0.114.1", 403),
    ],
)
def test_ipv6_networks_and_ipv4_mapped_senders(
    router: EmulatorRouter, settings: Any, remote: str, status: int
) -> None:
    with_options(settings, notification_ips=PAYSHOP)
    invoice = start()
    assert notify(pay_silently(invoice), remote=remote).status_code == status


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field", "says"),
    [
        ({"notification_ips": "203.0.113.0/24"}, "OPTIONS.notification_ips", "must be a list"),
        ({"notification_ips": []}, "OPTIONS.notification_ips", "lists no network"),
        ({"notification_ips": ["203.0.113.5/24"]}, "OPTIONS.notification_ips", "'203.0.113.5/24'"),
        ({"notification_ips": ["payshop.pt"]}, "OPTIONS.notification_ips", "'payshop.pt'"),
        ({"notification_ips": [PAYSHOP[0], "300.1.1.1"]}, "OPTIONS.notification_ips", "300.1.1.1"),
        ({"notification_ips": [3232235777]}, "OPTIONS.notification_ips", "3232235777"),
        ({"notification_ips": ["203.0.113.0/33"]}, "OPTIONS.notification_ips", "/33"),
        ({"notification_proxy_hops": -1}, "OPTIONS.notification_proxy_hops", "0 to 10"),
        ({"notification_proxy_hops": "1"}, "OPTIONS.notification_proxy_hops", "0 to 10"),
        ({"notification_proxy_hops": True}, "OPTIONS.notification_proxy_hops", "0 to 10"),
        ({"notification_proxy_hops": 11}, "OPTIONS.notification_proxy_hops", "0 to 10"),
        ({"validation_hash": "md5"}, "OPTIONS.validation_hash", "sha256, hmac-sha256, off"),
    ],
)
def test_the_system_check_refuses_what_notifications_could_not_be_checked_with(
    db: None, settings: Any, options: dict[str, Any], field: str, says: str
) -> None:
    with_options(settings, **options)
    [message] = [m for m in check_settings() if m.id == "multipay.E013"]
    assert "'paylands'" in message.msg
    assert field in message.msg
    assert says in message.msg
    # Every payment at the alias is refused, before any invoice exists.
    order = make_order()
    with pytest.raises(GatewayConfigurationError, match=field):
        payments.start_payment(order, "paylands")
    assert not Invoice.objects.filter(order=order).exists()


@pytest.mark.parametrize(
    "options",
    [
        {"notification_ips": PAYSHOP},
        {"notification_ips": ["198.51.100.7", "::1"], "notification_proxy_hops": 2},
        {"notification_ips": ("203.0.113.0/24",), "notification_proxy_hops": 0},
        {"validation_hash": "HMAC-SHA256"},
    ],
)
def test_the_system_check_passes_a_readable_allowlist(
    settings: Any, options: dict[str, Any]
) -> None:
    with_options(settings, **options)
    assert [m for m in check_settings() if m.id == "multipay.E013"] == []


@pytest.mark.parametrize(
    "wrong",
    [
        {"notification_ips": ["203.0.113.0/33"]},
        {"notification_ips": PAYSHOP, "notification_proxy_hops": -1},
        {"validation_hash": "md5"},
    ],
)
def test_an_unreadable_notification_setting_keeps_the_notification_for_a_retry(
    router: EmulatorRouter, settings: Any, wrong: dict[str, Any]
) -> None:
    invoice = start()
    body = pay_silently(invoice)
    with_options(settings, **wrong)
    response = notify(body)
    # Our configuration's fault, not the sender's: answered 503, kept failed, nothing read.
    assert response.status_code == 503
    stored = last_notification()
    assert stored.result == NotificationResult.FAILED
    assert reads(router, invoice) == 0
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    # Once corrected, reconciliation runs the stored row (its stored source address) again.
    with_options(
        settings, notification_ips=PAYSHOP, notification_proxy_hops=0, validation_hash="sha256"
    )
    assert reconcile.process_stored(stored) == NotificationResult.PROCESSED
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_a_stored_notification_from_elsewhere_stays_refused_when_run_again(
    router: EmulatorRouter, settings: Any
) -> None:
    invoice = start()
    body = pay_silently(invoice)
    with_options(settings, notification_ips=["203.0.113.0/33"])
    assert notify(body, remote=OUTSIDE).status_code == 503
    stored = last_notification()
    with_options(settings, notification_ips=PAYSHOP)
    assert reconcile.process_stored(stored) == NotificationResult.REJECTED
    stored.refresh_from_db()
    assert stored.reason == "source address 198.51.100.7 is not in notification_ips"
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_the_alias_without_an_allowlist_takes_notifications_from_anywhere(
    router: EmulatorRouter,
) -> None:
    invoice = start()
    assert notify(pay_silently(invoice), remote=OUTSIDE).status_code == 200
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
