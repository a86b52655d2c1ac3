"""Postpay webhooks: signatures (also over non-ASCII bytes), payloads as hints, hooks API and
the hooks command."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from django_multipay import payments, processing
from django_multipay.exceptions import InvalidRequest, NotificationRejected
from django_multipay.gateways.postpay import (
    SIGNATURE_HEADER,
    signature,
    verify_signature,
)
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.sandbox import postpay as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.test_postpay import ALIAS, HOOK_SECRET, MERCHANT
from tests.gateways.test_postpay_wire import gateway, order_for

SECRET = "postpay-hook-secret-one"
NOTIFY_URL = "http://testserver/payments/notify/postpay/"


def emulated(invoice: Invoice) -> dict[str, Any]:
    with store.table("postpay.orders") as table:
        found: dict[str, Any] = table[MERCHANT][str(invoice.pk)]
        return found


def started(transactional_db: Any = None) -> Invoice:
    order = OrderFactory(amount=Decimal("100.00"), currency="AED")
    payments.start_payment(order, ALIAS)
    return Invoice.objects.get(order=order)


def send(body: bytes, headers: dict[str, str]) -> Any:
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": ALIAS}),
        data=body,
        content_type="application/json",
        headers=headers,
    )


def event(invoice: Invoice) -> bytes:
    return json.dumps(emulator.order_event(emulated(invoice))).encode()


# -- the signature ---------------------------------------------------------------------------


def test_signature_is_hmac_over_timestamp_colon_body() -> None:
    body = b'{"id":"evt_1"}'
    expected = hmac.new(SECRET.encode(), b"1588900000:" + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1588900000, body) == f"1588900000:{expected}"
    verify_signature(SECRET, f"1588900000:{expected}", body, now=1588900000 + 299)


@pytest.mark.parametrize(
    ("header", "body", "now", "code"),
    [
        ("", b"{}", 1000, "signature"),
        ("1000", b"{}", 1000, "signature"),
        ("abc:def", b"{}", 1000, "signature"),
        (signature("other-secret", 1000, b"{}"), b"{}", 1000, "signature"),
        (signature(SECRET, 1000, b"{}"), b"{} ", 1000, "signature"),
        (signature(SECRET, 1000, b"{}"), b"{}", 1000 + 301, "replay"),
        (signature(SECRET, 1000, b"{}"), b"{}", 1000 - 301, "replay"),
        # The timestamp is signed: a fresh timestamp on an old digest does not match.
        ("1301:" + signature(SECRET, 1000, b"{}").partition(":")[2], b"{}", 1301, "signature"),
    ],
)
def test_bad_signatures(header, body, now, code) -> None:
    with pytest.raises(NotificationRejected) as caught:
        verify_signature(SECRET, header, body, tolerance=300, now=now)
    assert caught.value.code == code


def test_good_webhook_reads_the_order_back(router, signal_log) -> None:
    invoice = started()
    with store.table("postpay.lock"):
        emulated(invoice)["status"] = "captured"
    body = event(invoice)
    calls = len(router.calls)
    response = send(body, {SIGNATURE_HEADER: signature(SECRET, int(time.time()), body)})
    assert response.status_code == 200
    assert [c.method for c in router.calls[calls:]] == ["GET"]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    stored = Notification.objects.get(gateway=ALIAS)
    assert stored.verified
    assert stored.result == NotificationResult.PROCESSED
    assert stored.dedup_key == json.loads(body)["id"]
    assert signal_log.count("order_paid") == 1


def test_approved_webhook_captures(router) -> None:
    invoice = started()
    with store.table("postpay.lock"):
        emulated(invoice)["status"] = "approved"
        emulated(invoice)["_capture_by"] = emulated(invoice)["_expires"]
    body = event(invoice)
    send(body, {SIGNATURE_HEADER: signature(SECRET, int(time.time()), body)})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert len(router.requests_to("capture$", "POST")) == 1


def test_approved_webhook_without_capture_option_authorizes(router, settings) -> None:
    config = json.loads(json.dumps(settings.MULTIPAY))
    config["GATEWAYS"][ALIAS]["OPTIONS"]["capture_on_notification"] = False
    settings.MULTIPAY = config
    invoice = started()
    with store.table("postpay.lock"):
        emulated(invoice)["status"] = "approved"
    body = event(invoice)
    send(body, {SIGNATURE_HEADER: signature(SECRET, int(time.time()), body)})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AUTHORIZED
    assert not router.requests_to("capture$")


@pytest.mark.parametrize(
    "tamper",
    [
        "missing header",
        "wrong secret",
        "old timestamp",
        "future timestamp",
        "body altered",
        "malformed header",
    ],
)
def test_rejected_webhooks_change_nothing(router, signal_log, tamper) -> None:
    invoice = started()
    with store.table("postpay.lock"):
        emulated(invoice)["status"] = "captured"
    body = event(invoice)
    now = int(time.time())
    headers = {SIGNATURE_HEADER: signature(SECRET, now, body)}
    if tamper == "missing header":
        headers = {}
    elif tamper == "wrong secret":
        headers = {SIGNATURE_HEADER: signature("not-the-secret", now, body)}
    elif tamper == "old timestamp":
        headers = {SIGNATURE_HEADER: signature(SECRET, now - 301, body)}
    elif tamper == "future timestamp":
        headers = {SIGNATURE_HEADER: signature(SECRET, now + 301, body)}
    elif tamper == "body altered":
        body = body.replace(b'"total_amount": 10000', b'"total_amount": 100')
    else:
        headers = {SIGNATURE_HEADER: "sha256=" + signature(SECRET, now, body)}
    calls = len(router.calls)
    signal_log.sent.clear()
    response = send(body, headers)
    assert response.status_code == 400
    assert len(router.calls) == calls  # nothing was read: refused before any call
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    stored = Notification.objects.get(gateway=ALIAS)
    assert stored.result == NotificationResult.REJECTED
    assert stored.reason
    assert not stored.verified
    assert signal_log.count("invoice_status_changed") == 0


# -- the header quoted (gateway notes: ``X-Postpay-Signature: "<unix_ts>:<hex>"``) -------------


def test_genuine_webhook_with_a_quoted_header_is_applied(router, signal_log) -> None:
    """A reported defect: postpay-php's own test shows the header value in double quotes,
    and a genuine webhook signed that way was refused as malformed."""
    invoice = started()
    with store.table("postpay.lock"):
        emulated(invoice)["status"] = "captured"
    body = event(invoice)
    quoted = '"' + signature(SECRET, int(time.time()), body) + '"'
    response = send(body, {SIGNATURE_HEADER: quoted})
    assert response.status_code == 200, response.content
    assert [c.method for c in router.calls if "notify" not in (c.url or "")][-1] == "GET"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    stored = Notification.objects.get(gateway=ALIAS)
    assert (stored.verified, stored.result) == (True, NotificationResult.PROCESSED)
    assert signal_log.count("order_paid") == 1


def test_quoted_and_bare_headers_verify_alike() -> None:
    body = '{"id":"evt_1","data":{"name":"José"}}'.encode()
    bare = signature(SECRET, 1588900000, body)
    verify_signature(SECRET, bare, body, now=1588900000)
    verify_signature(SECRET, f'"{bare}"', body, now=1588900000)
    verify_signature(SECRET, f' "{bare}" ', body, now=1588900000)


@pytest.mark.parametrize(
    "shape",
    [
        '""{sig}""',  # two pairs: only one is stripped
        '"{sig}',  # opening quote only
        '{sig}"',  # closing quote only
        "'{sig}'",  # single quotes are not Postpay's
        '"{stamp}":{digest}',  # quotes around the timestamp alone
        '{stamp}:"{digest}"',  # quotes around the digest alone
        '"{stamp}:"{digest}',
        '""',
        '"',
    ],
)
def test_other_quoting_is_still_malformed(shape: str) -> None:
    body = b"{}"
    sig = signature(SECRET, 1000, body)
    stamp, _, digest = sig.partition(":")
    header = shape.format(sig=sig, stamp=stamp, digest=digest)
    with pytest.raises(NotificationRejected) as caught:
        verify_signature(SECRET, header, body, now=1000)
    assert caught.value.code == "signature"
    assert str(caught.value) == "malformed X-Postpay-Signature header"


def test_timestamp_and_digest_are_ascii_only() -> None:
    """Unicode digits (Bangla ১০০০ is 1000 to ``int``) are not a Unix timestamp here."""
    body = b"{}"
    digest = signature(SECRET, 1000, body).partition(":")[2]
    for header in (f"১০০০:{digest}", f'"১০০০:{digest}"', "1000:" + "\u0660" * 64):
        with pytest.raises(NotificationRejected) as caught:
            verify_signature(SECRET, header, body, now=1000)
        assert str(caught.value) == "malformed X-Postpay-Signature header"


def test_quoted_header_with_a_wrong_digest_is_refused_as_not_matching() -> None:
    body = b"{}"
    forged = '"' + signature("not-the-secret", 1000, body) + '"'
    with pytest.raises(NotificationRejected) as caught:
        verify_signature(SECRET, forged, body, now=1000)
    assert (caught.value.code, str(caught.value)) == ("signature", "signature does not match")
    stale = '"' + signature(SECRET, 1000, body) + '"'
    with pytest.raises(NotificationRejected) as caught:
        verify_signature(SECRET, stale, body, now=1000 + 301)
    assert caught.value.code == "replay"


@pytest.mark.parametrize("shape", ['""{sig}""', "'{sig}'", '"{sig}'])
def test_badly_quoted_webhook_is_rejected_and_changes_nothing(router, shape) -> None:
    invoice = started()
    with store.table("postpay.lock"):
        emulated(invoice)["status"] = "captured"
    body = event(invoice)
    calls = len(router.calls)
    header = shape.format(sig=signature(SECRET, int(time.time()), body))
    response = send(body, {SIGNATURE_HEADER: header})
    assert response.status_code == 400
    assert len(router.calls) == calls
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    stored = Notification.objects.get(gateway=ALIAS)
    assert stored.result == NotificationResult.REJECTED
    assert stored.reason == "malformed X-Postpay-Signature header"


def test_without_a_webhook_secret_every_webhook_is_refused(router, settings) -> None:
    config = json.loads(json.dumps(settings.MULTIPAY))
    del config["GATEWAYS"][ALIAS]["OPTIONS"]["webhook_secret"]
    settings.MULTIPAY = config
    invoice = started()
    body = event(invoice)
    response = send(body, {SIGNATURE_HEADER: signature("", int(time.time()), body)})
    assert response.status_code == 400
    assert Notification.objects.get(gateway=ALIAS).reason == "no webhook_secret configured"


def test_signed_claim_the_order_does_not_confirm_is_rejected(router) -> None:
    invoice = started()
    claim = emulator.order_event({**emulated(invoice), "status": "captured"})
    body = json.dumps(claim).encode()
    response = send(body, {SIGNATURE_HEADER: signature(SECRET, int(time.time()), body)})
    assert response.status_code == 400
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    stored = Notification.objects.get(gateway=ALIAS)
    assert stored.result == NotificationResult.REJECTED


def test_refund_transaction_webhook_settles_a_refund_whose_answer_was_lost(router) -> None:
    invoice = started()
    response = router.client.post(invoice.redirect_url, {"outcome": "approve"})
    router.client.get(response["Location"])
    invoice.refresh_from_db()
    refund, _ = processing.reserve_refund(invoice.pk, Decimal("40.00"))
    # Postpay made the refund, but we never saw its answer.
    gateway().create_refund(invoice, refund.idempotency_key, Decimal("40.00"))
    with store.table("postpay.transactions") as table:
        transaction = table[MERCHANT][-1]
    body = json.dumps(emulator.event_for("transaction", transaction)).encode()
    answer = send(body, {SIGNATURE_HEADER: signature(SECRET, int(time.time()), body)})
    assert answer.status_code == 200
    refund = Refund.objects.get(pk=refund.pk)
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_refund_id == refund.idempotency_key
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED


def test_emulator_signs_what_it_sends(router) -> None:
    gateway().create_hook(url=NOTIFY_URL, secret=SECRET, events=["order"])
    invoice = started()
    router.client.post(invoice.redirect_url, {"outcome": "deny"})
    [delivery] = router.requests_to("notify/postpay/$", "POST")
    header = delivery.headers[SIGNATURE_HEADER]
    verify_signature(SECRET, header, delivery.body)
    sent = json.loads(delivery.body)
    assert sent["type"] == "order"
    assert sent["data"]["order_id"] == str(invoice.pk)
    assert sent["data"]["status"] == "denied"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FAILED
    [hook] = gateway().list_hooks().results
    assert (hook.last_response_code, hook.last_response_status) == (200, "success")


@pytest.mark.parametrize("how", ["setting", "per delivery"])
def test_emulator_can_send_the_signature_quoted_end_to_end(router, how) -> None:
    gateway().create_hook(url=NOTIFY_URL, secret=SECRET, events=["order"])
    invoice = started()
    if how == "setting":
        emulator.set_signature_quoting(True)
        router.client.post(invoice.redirect_url, {"outcome": "deny"})
        [delivery] = router.requests_to("notify/postpay/$", "POST")
    else:
        with store.table("postpay.lock"):
            emulated(invoice)["status"] = "denied"
        with store.table("postpay.hooks") as table:
            [hook] = table[MERCHANT]
        assert emulator.deliver(hook, emulator.order_event(emulated(invoice)), quoted=True)
        [delivery] = router.requests_to("notify/postpay/$", "POST")
    header = delivery.headers[SIGNATURE_HEADER]
    assert re.fullmatch(r'"[0-9]+:[0-9a-f]{64}"', header)
    stamp, _, digest = header.strip('"').partition(":")
    expected = hmac.new(SECRET.encode(), f"{stamp}:".encode() + delivery.body, hashlib.sha256)
    assert digest == expected.hexdigest()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FAILED
    stored = Notification.objects.get(gateway=ALIAS)
    assert (stored.verified, stored.result) == (True, NotificationResult.PROCESSED)
    [hook_seen] = gateway().list_hooks().results
    assert (hook_seen.last_response_code, hook_seen.last_response_status) == (200, "success")


def test_emulator_sends_the_signature_bare_by_default(router) -> None:
    gateway().create_hook(url=NOTIFY_URL, secret=SECRET, events=["order"])
    invoice = started()
    router.client.post(invoice.redirect_url, {"outcome": "deny"})
    [delivery] = router.requests_to("notify/postpay/$", "POST")
    assert re.fullmatch(r"[0-9]+:[0-9a-f]{64}", delivery.headers[SIGNATURE_HEADER])


# -- hooks API and command -------------------------------------------------------------------


def test_hooks_api_on_the_wire(router) -> None:
    created = gateway().create_hook(url="https://shop.example/hook", secret="dolphins")
    sent = json.loads(router.calls[-1].body)
    assert sent == {
        "active": True,
        "events": ["order", "transaction"],
        "url": "https://shop.example/hook",
        "secret": "dolphins",
    }
    assert created.last_response_status == "unused"
    assert "dolphins" not in json.dumps(created.raw)
    assert gateway().get_hook(created.id).url == "https://shop.example/hook"
    edited = gateway().update_hook(created.id, active=False, events=["transaction"])
    assert json.loads(router.calls[-1].body) == {"active": False, "events": ["transaction"]}
    assert router.calls[-1].method == "PATCH"
    assert (edited.active, edited.events) == (False, ["transaction"])
    assert gateway().list_hooks(active=False, events__contains="transaction").count == 1
    assert gateway().list_hooks(url__startswith="http:").count == 0
    gateway().delete_hook(created.id)
    assert router.calls[-1].method == "DELETE"
    assert gateway().list_hooks().count == 0
    with pytest.raises(InvalidRequest):
        gateway().create_hook(url="https://x", secret="s", events=["refund"])


def hooks_command(*args: str) -> str:
    out = StringIO()
    call_command("multipay_postpay_hooks", *args, stdout=out)
    return out.getvalue()


def test_hooks_command_from_settings(router) -> None:
    assert hooks_command("list") == "No hooks.\n"
    created = hooks_command("create")
    assert NOTIFY_URL in created
    assert SECRET not in created
    [hook] = gateway().list_hooks().results
    assert (hook.url, hook.events, hook.active) == (NOTIFY_URL, ["order", "transaction"], True)
    with store.table("postpay.hooks") as table:
        assert table[MERCHANT][0]["_secret"] == SECRET
    with pytest.raises(CommandError, match="update"):
        hooks_command("create")
    hooks_command("update", "--inactive", "--events", "order")
    [hook] = gateway().list_hooks().results
    assert (hook.active, hook.events) == (False, ["order"])
    assert hook.id in hooks_command("list")
    assert "Deleted" in hooks_command("delete")
    assert gateway().list_hooks().count == 0
    with pytest.raises(CommandError):
        hooks_command("delete")


def test_hooks_command_refuses_unknown_alias(router) -> None:
    with pytest.raises(CommandError):
        hooks_command("list", "--alias", "dummy")


def test_webhook_for_unknown_order_is_rejected(router, transactional_db) -> None:
    order: dict[str, Any] = {
        "order_id": "00000000-0000-0000-0000-000000000000",
        "status": "captured",
        "status_changed": "2020-05-08T10:58:04Z",
        "total_amount": 100,
        "tax_amount": 0,
        "currency": "AED",
        "created": "2020-05-08T10:53:57Z",
    }
    body = json.dumps(emulator.event_for("order", order)).encode()
    response = send(body, {SIGNATURE_HEADER: signature(SECRET, int(time.time()), body)})
    assert response.status_code == 404
    assert not Order.objects.exists()


# ------------------------------------------------------------------------------------------------
# Postpay with customers' names in any script: the JSON on the wire, and webhooks signed over
# non-ASCII bytes.


def sign(body: bytes, stamp: int) -> str:
    """The signature computed here, over the body's bytes (not the backend's code)."""
    digest = hmac.new(HOOK_SECRET.encode(), f"{stamp}:".encode() + body, hashlib.sha256)
    return f"{stamp}:{digest.hexdigest()}"


def send_with_signature(body: bytes, header: str) -> Any:
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": ALIAS}),
        data=body,
        content_type="application/json",
        headers={SIGNATURE_HEADER: header},
    )


def test_signature_over_a_non_ascii_body_is_over_its_utf8_bytes() -> None:
    text = {"id": "evt_1", "data": {"description": "Devolución — রহিম / محمد"}}
    raw = json.dumps(text, ensure_ascii=False).encode("utf-8")
    escaped = json.dumps(text).encode("ascii")
    assert raw != escaped
    assert json.loads(raw) == json.loads(escaped)
    header = sign(raw, 1588900000)
    verify_signature(HOOK_SECRET, header, raw, now=1588900000)
    verify_signature(HOOK_SECRET, f'"{header}"', raw, now=1588900000)
    # The same JSON written with escapes is other bytes: the signature does not cover it.
    with pytest.raises(Exception, match="signature does not match"):
        verify_signature(HOOK_SECRET, header, escaped, now=1588900000)


def paid(router: EmulatorRouter, name: str) -> Invoice:
    order = order_for(name)
    payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    back = router.client.post(invoice.redirect_url, {"outcome": "approve"})
    router.client.get(back["Location"])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice


@pytest.mark.parametrize("quoted", [False, True])
def test_webhook_with_non_ascii_bytes_verifies_end_to_end(
    router: EmulatorRouter, quoted: bool
) -> None:
    """A refund's description reaches the refund transaction's webhook as UTF-8 bytes; the
    emulator signs those bytes and the shop verifies them and settles the refund."""
    invoice = paid(router, "José Núñez")
    gateway().create_hook(url=NOTIFY_URL, secret=HOOK_SECRET, events=["transaction"])
    emulator.set_signature_quoting(quoted)
    reason = "Devolución: রহিম উদ্দিন / محمد علي"
    refund, _ = processing.reserve_refund(invoice.pk, Decimal("40.00"), reason=reason)
    result = gateway().refund(refund)
    assert result.status == RefundStatus.SUCCEEDED
    [create] = router.requests_to(rf"orders/{invoice.pk}/refunds$", "POST")
    assert json.loads(create.body)["description"] == reason
    [delivery] = router.requests_to("notify/postpay/$", "POST")
    body = delivery.body
    assert isinstance(body, bytes)
    assert reason.encode("utf-8") in body  # raw UTF-8, not \u escapes
    header = delivery.headers[SIGNATURE_HEADER]
    assert header.startswith('"') is quoted
    stamp = int(header.strip('"').partition(":")[0])
    assert header.strip('"') == sign(body, stamp)
    stored = Notification.objects.get(gateway=ALIAS)
    assert (stored.verified, stored.result) == (True, NotificationResult.PROCESSED)
    assert reason in stored.body
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.SUCCEEDED
    with store.table("postpay.transactions") as table:
        assert table[MERCHANT][-1]["description"] == reason


def test_non_ascii_webhook_altered_in_transit_is_rejected(router: EmulatorRouter) -> None:
    invoice = paid(router, "محمد علي")
    with store.table("postpay.transactions") as table:
        transaction = dict(table[MERCHANT][-1])
    event = emulator.event_for("transaction", {**transaction, "description": "José"})
    body = emulator.webhook_body(event)
    assert "José".encode() in body
    now = int(time.time())
    # Re-encoded with escapes: the same JSON, other bytes.
    escaped = json.dumps(json.loads(body)).encode()
    response = send_with_signature(escaped, sign(body, now))
    assert response.status_code == 400
    assert Notification.objects.get(gateway=ALIAS).reason == "signature does not match"
    accepted = send_with_signature(body, sign(body, now))
    assert accepted.status_code == 200, accepted.content
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
