"""Paylands notifications: from listed networks only ("Whitelist IPS"), with or without the
hash; the validation hash over any script; read-backs that overrule a lying notification."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from django_multipay import payments, reconcile
from django_multipay.checks import check_settings
from django_multipay.exceptions import (
    GatewayConfigurationError,
)
from django_multipay.gateways.paylands_hash import hash_matches, php_json, validation_hash
from django_multipay.models import Invoice, Notification, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import paylands as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.test_paylands import emulated, make_order, pay_by_card, reload
from tests.gateways.test_paylands_wire import (
    NAMES,
    NOTIFICATION,
    SIGNATURE,
    php_encode,
    signed,
    start_named,
    with_options,
)

PAYSHOP = ["203.0.113.0/24", "2001:db8::/32"]
INSIDE, OUTSIDE = "203.0.113.9", "198.51.100.7"
OK = "5590337536718399"


def start() -> Invoice:
    order = make_order()
    payments.start_payment(order, "paylands")
    return Invoice.objects.get(order=order)


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


# ------------------------------------------------------------------------------------------------
# Paylands end to end against its emulator: card, deferred, refunds, APMs, expiry, lies.


KO = "5485009949201879"


def start_order(
    order: Order, alias: str = "paylands", options: dict[str, Any] | None = None
) -> Invoice:
    payments.start_payment(order, alias, options=options)
    return Invoice.objects.filter(order=order).latest("created_at")


def post_notification(body: dict[str, Any]) -> Any:
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": "paylands"}),
        data=php_json(body).encode(),
        content_type="application/json",
    )


# -- notifications: the read-back decides ---------------------------------------------------------


def test_read_back_overrides_a_lying_notification(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = start_order(make_order())
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
    invoice = start_order(make_order())
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
    paid = start_order(make_order())
    pay_by_card(router, paid)
    victim = start_order(make_order())
    body = emulator.notification_for(emulated(paid))
    body["order"]["reference"] = str(victim.pk)
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    Invoice.objects.filter(pk=victim.pk).update(gateway_id="")
    response = post_notification(body)
    assert response.status_code == 400
    assert reload(victim).status == InvoiceStatus.PENDING


@pytest.mark.parametrize("mutation", ["altered", "missing"])
def test_bad_hash_is_rejected_before_any_read(router: EmulatorRouter, mutation: str) -> None:
    invoice = start_order(make_order())
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
        invoice = start_order(make_order())
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


def test_an_amount_too_large_for_any_ledger_is_refused_and_stored_rejected(
    router: EmulatorRouter,
) -> None:
    """Reported defect: 10**30 minor units made reading the claim raise InvalidOperation, so a
    signed notification was answered 503 and kept to be retried instead of refused."""
    body = {
        "order": {"uuid": "X", "status": "SUCCESS", "amount": 10**30, "currency": "978"},
        "client": {},
    }
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    response = post_notification(body)
    assert response.status_code == 400
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.REJECTED
    assert "amount" in stored.reason


def test_read_back_without_a_reference_must_be_our_order(router: EmulatorRouter) -> None:
    invoice = start_order(make_order())
    pay_by_card(router, invoice, KO)
    emulated(invoice)["reference"] = None
    body = emulator.notification_for(emulated(invoice))
    assert post_notification(body).status_code == 200
    other = start_order(make_order())
    Invoice.objects.filter(pk=other.pk).update(gateway_id="")
    body["order"]["reference"] = str(other.pk)
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    assert post_notification(body).status_code == 400
    assert reload(other).status == InvoiceStatus.PENDING


# ------------------------------------------------------------------------------------------------
# Paylands with customers' names in any script: the wire, PHP's JSON and the validation hash.


def notify_raw(raw: bytes) -> Any:
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": "paylands"}),
        data=raw,
        content_type="application/json",
    )


def hashed_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("order", "client", "extra_data") if k in body}


@pytest.mark.parametrize(("name", "first", "last"), NAMES)
def test_the_emulators_hash_over_such_names_is_the_one_we_compute(
    router: EmulatorRouter, name: str, first: str, last: str
) -> None:
    invoice = start_named(name)
    body = emulator.notification_for(emulated(invoice))
    text = php_encode(hashed_fields(body))
    assert f'"first_name":{php_encode(first)}' in text
    expected = hashlib.sha256((text + SIGNATURE).encode("ascii")).hexdigest()
    assert body["validation_hash"] == expected
    assert validation_hash(body, SIGNATURE) == expected


@pytest.mark.parametrize(("name", "first", "last"), NAMES)
def test_a_paid_order_with_such_a_name_settles_through_its_notification(
    router: EmulatorRouter, name: str, first: str, last: str
) -> None:
    invoice = start_named(name)
    page = invoice.redirect_url.replace("http://testserver", "")
    router.client.get(page)
    router.client.post(page, {"action": "pay", "card_number": OK, "cvv": "123"})
    [sent] = router.requests_to(r"/payments/notify/paylands/$", "POST")
    raw = sent.body if isinstance(sent.body, bytes) else str(sent.body).encode()
    # The emulator sends what PHP sends: every character escaped to ASCII, "/" as "\/".
    assert raw.isascii()
    assert php_encode(first).encode() in raw
    assert b"/" not in raw.replace(b"\\/", b"")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    stored = Notification.objects.get(invoice=invoice)
    assert stored.result == NotificationResult.PROCESSED
    assert json.loads(stored.body)["extra_data"]["profile"]["first_name"] == first


@pytest.mark.parametrize(("name", "first", "last"), NAMES)
@pytest.mark.parametrize("algorithm", ["sha256", "hmac-sha256"])
def test_our_hash_is_checked_whatever_escaping_the_body_itself_uses(
    router: EmulatorRouter, settings: Any, algorithm: str, name: str, first: str, last: str
) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["paylands"]["OPTIONS"]["validation_hash"] = algorithm
    settings.MULTIPAY = config
    invoice = start_named(name)
    order = emulated(invoice)
    body = emulator.notification_for(order)
    text = php_encode(hashed_fields(body)).encode("ascii")
    if algorithm == "sha256":
        expected = hashlib.sha256(text + SIGNATURE.encode()).hexdigest()
    else:
        expected = hmac.new(SIGNATURE.encode(), text, hashlib.sha256).hexdigest()
    # Our signing gives the same hash as the emulator's, computed here from PHP's rules.
    assert validation_hash(body, SIGNATURE, algorithm) == expected == body["validation_hash"]
    gateway = get_gateway("paylands")
    # The hash covers the re-encoded fields, so a body sent as raw UTF-8 with bare "/"
    # (JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES) verifies as well as PHP's default.
    utf8 = json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert b"\\/" not in utf8
    assert b"\\u" not in utf8
    for raw in (php_json(body).encode(), utf8):
        gateway.check_validation_hash(json.loads(raw))
        assert notify_raw(raw).status_code == 200  # read back: the order is still being paid
    # One letter of the name changed: refused before the order is read.
    forged = copy.deepcopy(body)
    forged["extra_data"]["profile"]["first_name"] = first[:-1] + "x"
    reads = len(router.requests_to(r"/order/", "GET"))
    assert notify_raw(php_json(forged).encode()).status_code == 400
    assert len(router.requests_to(r"/order/", "GET")) == reads
    latest = Notification.objects.filter(gateway="paylands").latest("received_at")
    assert (latest.result, latest.reason) == (
        NotificationResult.REJECTED,
        "validation_hash does not match",
    )


# ------------------------------------------------------------------------------------------------
# Paylands wire format: every call's method, path, headers and body; errors; status maps;
# customer data (alpha-3 countries, split phones, names in any script, PHP's JSON).


# -- validation_hash ------------------------------------------------------------------------------


def test_good_hash_matches() -> None:
    assert hash_matches(signed(), SIGNATURE)


def test_hash_covers_order_client_and_extra_data_as_php_encodes_them() -> None:
    text = php_json({k: NOTIFICATION[k] for k in ("order", "client", "extra_data")})
    assert '"first_name":"Jos\\u00e9"' in text
    assert " " not in text
    assert php_json({"ua": "Mozilla/5.0"}) == '{"ua":"Mozilla\\/5.0"}'
    assert (
        validation_hash(NOTIFICATION, SIGNATURE)
        == hashlib.sha256((text + SIGNATURE).encode()).hexdigest()
    )


def test_missing_hash_fails() -> None:
    body = signed()
    del body["validation_hash"]
    assert not hash_matches(body, SIGNATURE)
    body["validation_hash"] = ""
    assert not hash_matches(body, SIGNATURE)


def test_hash_without_extra_data_covers_order_and_client_only() -> None:
    body = {k: v for k, v in NOTIFICATION.items() if k != "extra_data"}
    text = php_json({"order": body["order"], "client": body["client"]})
    assert (
        validation_hash(body, SIGNATURE) == hashlib.sha256((text + SIGNATURE).encode()).hexdigest()
    )
