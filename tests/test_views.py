"""Pay, return and notify views, driven through the Django test client and the dummy emulator."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.conf import settings
from django.test import Client, override_settings

from django_multipay import registry
from django_multipay.gateways.base import Capabilities
from django_multipay.gateways.dummy import SIGNATURE_HEADER, DummyGateway, sign
from django_multipay.models import Invoice, Notification, Order
from django_multipay.redaction import MASK
from django_multipay.sandbox import dummy as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter

WEBHOOK_SECRET = "dummy-webhook-secret-one"
API_KEY = "dummy-api-key-one"
NOTIFY_URL = "/payments/notify/dummy/"


class BdtOnlyGateway(DummyGateway):
    """The dummy gateway, but taking BDT only."""

    display_name = "BDT only"
    capabilities = Capabilities(fetch_status=True, currencies=frozenset({"BDT"}))


def with_alias(alias: str, backend: str, **extra: Any) -> dict[str, Any]:
    config = dict(settings.MULTIPAY)
    gateways = dict(config["GATEWAYS"])
    gateways[alias] = {"BACKEND": backend, "OPTIONS": dict(gateways["dummy"]["OPTIONS"])}
    return {**config, "GATEWAYS": gateways, **extra}


@pytest.fixture
def client() -> Client:
    return Client()


def start(client: Client, order: Order, alias: str = "dummy") -> Invoice:
    response = client.post(f"/payments/pay/{order.public_id}/", {"gateway": alias})
    assert response.status_code == 302, response.content
    return Invoice.objects.get(order=order)


def set_emulator_status(invoice: Invoice, status: str) -> None:
    with store.table("dummy.payments") as payments:
        payment = payments[invoice.gateway_id]
        payment["status"] = status
        if status == "paid":
            payment["captured_amount"] = payment["amount"]


def signed(invoice: Invoice, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> Any:
    with store.table("dummy.payments") as payments:
        payment = payments[invoice.gateway_id]
    body = json.dumps(emulator.notification_for(payment)).encode()
    header = sign(secret, int(time.time()) if at is None else at, body)
    return body, {SIGNATURE_HEADER: header}


def notify(client: Client, body: bytes, headers: dict[str, str], path: str = NOTIFY_URL) -> Any:
    return client.post(path, data=body, content_type="application/json", headers=headers)


# -- pay -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pay_page_lists_aliases(client: Client) -> None:
    order = OrderFactory()
    response = client.get(f"/payments/pay/{order.public_id}/")
    assert response.status_code == 200
    listed = [a["alias"] for a in response.context["aliases"]]
    # Every configured alias that takes the order's currency, dummy ones first.
    assert listed[:2] == ["dummy", "dummy-manual"]
    assert listed == [
        alias
        for alias in registry.gateway_aliases()
        if registry.get_gateway(alias).accepts_currency(order.currency)
    ]
    assert b'value="dummy"' in response.content
    assert b'value="dummy-manual"' in response.content
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_pay_page_get_with_alias_starts_nothing(client: Client) -> None:
    order = OrderFactory()
    response = client.get(f"/payments/pay/{order.public_id}/dummy/")
    assert response.status_code == 200
    assert response.context["chosen"] == "dummy"
    assert not Invoice.objects.exists()


def test_pay_post_starts_payment_and_redirects(
    client: Client, router: EmulatorRouter, signal_log: SignalLog
) -> None:
    order = OrderFactory()
    response = client.post(f"/payments/pay/{order.public_id}/", {"gateway": "dummy"})
    invoice = Invoice.objects.get(order=order)
    assert response.status_code == 302
    assert response["Location"] == invoice.redirect_url
    assert response["Location"].startswith("http://testserver/sandbox/dummy/pay/pay_")
    assert invoice.status == InvoiceStatus.PENDING
    assert (invoice.amount, invoice.currency) == (order.amount, order.currency)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING

    [call] = router.requests_to(r"/sandbox/dummy/api/payments$", "POST")
    assert call.headers["Authorization"] == f"Bearer {API_KEY}"
    assert call.headers["Idempotency-Key"] == str(invoice.pk)
    sent = json.loads(call.body or b"{}")
    assert sent["amount"] == "100.00"
    assert sent["currency"] == "EUR"
    assert sent["reference"] == str(invoice.pk)
    assert sent["return_url"] == f"http://testserver/payments/return/{invoice.pk}/"
    assert sent["notify_url"] == "http://testserver/payments/notify/dummy/"
    assert signal_log.count("invoice_status_changed") == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", [OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.REFUNDED])
def test_pay_settled_order_refused(client: Client, status: str) -> None:
    order = OrderFactory(status=status)
    response = client.post(f"/payments/pay/{order.public_id}/", {"gateway": "dummy"})
    assert response.status_code == 400
    assert f"is {status} and cannot be paid" in response.content.decode()
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_pay_unknown_alias_refused(client: Client) -> None:
    order = OrderFactory()
    response = client.post(f"/payments/pay/{order.public_id}/", {"gateway": "nope"})
    assert response.status_code == 400
    assert "Unknown payment method" in response.content.decode()
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_pay_unknown_order_404(client: Client) -> None:
    response = client.post(f"/payments/pay/{uuid.uuid4()}/", {"gateway": "dummy"})
    assert response.status_code == 404


@pytest.mark.django_db
def test_pay_currency_not_accepted(client: Client) -> None:
    multipay = with_alias("bdt-only", f"{__name__}.BdtOnlyGateway")
    order = OrderFactory(currency="EUR")
    with override_settings(MULTIPAY=multipay):
        page = client.get(f"/payments/pay/{order.public_id}/")
        assert "bdt-only" not in [a["alias"] for a in page.context["aliases"]]
        response = client.post(f"/payments/pay/{order.public_id}/", {"gateway": "bdt-only"})
        assert response.status_code == 400
        assert "BDT only does not take EUR" in response.content.decode()
        bdt = OrderFactory(currency="BDT")
        page = client.get(f"/payments/pay/{bdt.public_id}/")
        assert "bdt-only" in [a["alias"] for a in page.context["aliases"]]
    assert not Invoice.objects.exists()


def test_pay_gateway_down_answers_502(client: Client, transactional_db: Any) -> None:
    order = OrderFactory()
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "http://testserver/sandbox/dummy/api/payments", status=503)
        response = client.post(f"/payments/pay/{order.public_id}/", {"gateway": "dummy"})
    assert response.status_code == 502
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.FAILED
    assert API_KEY not in response.content.decode()


# -- return ----------------------------------------------------------------------------------


def test_return_verifies_and_redirects_to_success(
    client: Client, router: EmulatorRouter, signal_log: SignalLog
) -> None:
    order = OrderFactory(reference="REF-1")
    invoice = start(client, order)
    set_emulator_status(invoice, "paid")
    before = len(router.requests_to(rf"/api/payments/{invoice.gateway_id}$", "GET"))
    response = client.get(f"/payments/return/{invoice.pk}/")
    assert response.status_code == 302
    assert response["Location"] == "/shop/thanks/REF-1/"
    reads = router.requests_to(rf"/api/payments/{invoice.gateway_id}$", "GET")
    assert len(reads) == before + 1
    assert reads[-1].headers["Authorization"] == f"Bearer {API_KEY}"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert signal_log.count("order_paid") == 1


def test_return_declined_goes_to_failure(client: Client, router: EmulatorRouter) -> None:
    order = OrderFactory(reference="REF-2")
    invoice = start(client, order)
    set_emulator_status(invoice, "declined")
    response = client.get(f"/payments/return/{invoice.pk}/")
    assert response["Location"] == "/shop/failed/REF-2/"
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.FAILED


def test_return_ignores_forged_query_string(
    client: Client, router: EmulatorRouter, signal_log: SignalLog
) -> None:
    order = OrderFactory(reference="REF-3")
    invoice = start(client, order)
    set_emulator_status(invoice, "declined")
    signal_log.sent.clear()
    response = client.get(f"/payments/return/{invoice.pk}/?status=paid&amount=100.00")
    assert response["Location"] == "/shop/failed/REF-3/"
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.FAILED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FAILED
    assert signal_log.count("order_paid") == 0


def test_return_forged_query_while_pending_changes_nothing(
    client: Client, router: EmulatorRouter
) -> None:
    order = OrderFactory(reference="REF-4")
    invoice = start(client, order)
    response = client.post(f"/payments/return/{invoice.pk}/", {"status": "paid"})
    # Still pending at the gateway: the customer is told it is being confirmed.
    assert response["Location"] == "/shop/thanks/REF-4/"
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING


def test_return_uses_order_success_url(client: Client, router: EmulatorRouter) -> None:
    order = OrderFactory(reference="REF-5", success_url="/orders/{reference}/paid/")
    invoice = start(client, order)
    set_emulator_status(invoice, "paid")
    response = client.get(f"/payments/return/{invoice.pk}/")
    assert response["Location"] == "/orders/REF-5/paid/"


def test_return_refuses_offsite_destination(client: Client, router: EmulatorRouter) -> None:
    order = OrderFactory(failure_url="https://evil.example/{reference}")
    invoice = start(client, order)
    set_emulator_status(invoice, "declined")
    response = client.get(f"/payments/return/{invoice.pk}/")
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_return_unknown_invoice_404(client: Client) -> None:
    assert client.get(f"/payments/return/{uuid.uuid4()}/").status_code == 404


# -- notify ----------------------------------------------------------------------------------


def test_valid_notification_is_verified_and_applied(
    client: Client, router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = start(client, OrderFactory())
    set_emulator_status(invoice, "paid")
    body, headers = signed(invoice)
    signal_log.sent.clear()
    reads_before = len(router.requests_to(rf"/api/payments/{invoice.gateway_id}$", "GET"))
    response = notify(client, body, headers)
    assert response.status_code == 200
    assert response.content == b"OK"
    assert len(router.requests_to(rf"/api/payments/{invoice.gateway_id}$", "GET")) == (
        reads_before + 1
    )
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.PROCESSED
    assert stored.verified
    assert stored.invoice_id == invoice.pk
    assert stored.dedup_key == f"evt_{invoice.gateway_id}_paid"
    assert stored.attempts == 1
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    assert signal_log.count("notification_received") == 1
    assert signal_log.count("order_paid") == 1

    again = notify(client, body, headers)
    assert again.status_code == 200
    assert Notification.objects.latest("id").result == NotificationResult.DUPLICATE
    assert signal_log.count("order_paid") == 1


def test_every_request_is_stored_raw(client: Client, router: EmulatorRouter) -> None:
    response = client.post(
        NOTIFY_URL + "?x=1",
        data=b'{"hello": "world"}',
        content_type="application/json",
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 400
    stored = Notification.objects.get()
    assert stored.gateway == "dummy"
    assert stored.method == "POST"
    assert stored.path == NOTIFY_URL
    assert stored.query_string == "x=1"
    assert stored.body == '{"hello": "world"}'
    assert stored.remote_addr == "203.0.113.7"
    assert stored.headers["Content-Type"] == "application/json"
    assert stored.received_at is not None


def test_unknown_alias_404_and_stored(client: Client, router: EmulatorRouter) -> None:
    response = notify(client, b"{}", {}, path="/payments/notify/nope/")
    assert response.status_code == 404
    stored = Notification.objects.get()
    assert (stored.gateway, stored.result) == ("nope", NotificationResult.REJECTED)
    assert "unknown gateway alias" in stored.reason


def test_body_too_large_413_and_stored(client: Client, router: EmulatorRouter) -> None:
    multipay = {**settings.MULTIPAY, "MAX_NOTIFICATION_BYTES": 64}
    with override_settings(MULTIPAY=multipay):
        response = notify(client, b'{"pad": "' + b"x" * 100 + b'"}', {})
    assert response.status_code == 413
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.REJECTED
    assert stored.reason == "body too large"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("bad_signature", "signature does not match"),
        ("stale_timestamp", "signature timestamp outside tolerance"),
        ("future_timestamp", "signature timestamp outside tolerance"),
        ("missing_header", "missing signature header"),
        ("malformed_header", "missing or malformed signature timestamp"),
        ("not_json", "malformed notification body"),
        ("unknown_invoice", "unknown invoice"),
        ("tampered_body", "signature does not match"),
    ],
)
def test_bad_notifications_rejected(
    client: Client, router: EmulatorRouter, signal_log: SignalLog, case: str, reason: str
) -> None:
    invoice = start(client, OrderFactory())
    set_emulator_status(invoice, "paid")
    body, headers = signed(invoice)
    now = int(time.time())
    if case == "bad_signature":
        body, headers = signed(invoice, secret="not-the-secret")
    elif case == "stale_timestamp":
        body, headers = signed(invoice, at=now - 301)
    elif case == "future_timestamp":
        body, headers = signed(invoice, at=now + 301)
    elif case == "missing_header":
        headers = {}
    elif case == "malformed_header":
        headers = {SIGNATURE_HEADER: "v1=abc"}
    elif case == "not_json":
        body = b"status=paid"
        headers = {SIGNATURE_HEADER: sign(WEBHOOK_SECRET, now, body)}
    elif case == "unknown_invoice":
        payload = json.loads(body)
        payload["data"]["reference"] = str(uuid.uuid4())
        payload["data"]["payment_id"] = "pay_unknown"
        body = json.dumps(payload).encode()
        headers = {SIGNATURE_HEADER: sign(WEBHOOK_SECRET, now, body)}
    elif case == "tampered_body":
        body = body.replace(b"100.00", b"1.00")
    signal_log.sent.clear()
    reads_before = len(router.calls)

    response = notify(client, body, headers)

    assert 400 <= response.status_code < 500
    assert reason.lower() in response.content.decode().lower()
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.REJECTED
    assert stored.reason == reason
    # Only a notification whose signature checked out counts as authenticated.
    assert stored.verified is (case == "unknown_invoice")
    assert stored.dedup_key == ""
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.PENDING
    assert len(router.calls) == reads_before  # nothing was read from the gateway
    assert signal_log.count("invoice_status_changed") == 0
    assert signal_log.count("notification_received") == 1


def test_amount_mismatch_at_gateway_rejected(client: Client, router: EmulatorRouter) -> None:
    invoice = start(client, OrderFactory())
    with store.table("dummy.payments") as payments:
        payments[invoice.gateway_id].update(status="paid", amount="1.00", captured_amount="1.00")
    body, headers = signed(invoice)
    response = notify(client, body, headers)
    assert response.status_code == 400
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.REJECTED
    assert "amount" in stored.reason
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_secrets_never_stored(client: Client, router: EmulatorRouter) -> None:
    body = json.dumps({"api_key": API_KEY, "secret": WEBHOOK_SECRET}).encode()
    response = client.post(
        NOTIFY_URL + f"?key={API_KEY}",
        data=body,
        content_type="application/json",
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "X-Api-Key": "another-credential",
            "Cookie": "sessionid=abcdef123",
            "X-Echo": f"token {WEBHOOK_SECRET}",
            SIGNATURE_HEADER: "t=1,v1=00",
        },
    )
    assert response.status_code == 400
    stored = Notification.objects.get()
    assert stored.headers["Authorization"] == MASK
    assert stored.headers["X-Api-Key"] == MASK
    assert stored.headers["Cookie"] == MASK
    assert WEBHOOK_SECRET not in stored.headers["X-Echo"]
    everything = json.dumps(stored.headers) + stored.body + stored.query_string + stored.reason
    for secret in (API_KEY, WEBHOOK_SECRET, "another-credential", "abcdef123"):
        assert secret not in everything
    assert stored.body == json.dumps({"api_key": MASK, "secret": MASK})


def test_non_payment_event_ignored(client: Client, router: EmulatorRouter) -> None:
    body = json.dumps(
        {"id": "evt_x", "type": "account.updated", "data": {"reference": "", "payment_id": ""}}
    ).encode()
    headers = {SIGNATURE_HEADER: sign(WEBHOOK_SECRET, int(time.time()), body)}
    response = notify(client, body, headers)
    assert response.status_code == 200
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.IGNORED
    assert stored.reason == "account.updated event"


def test_gateway_unreachable_keeps_notification_failed(
    client: Client, router: EmulatorRouter
) -> None:
    invoice = start(client, OrderFactory(amount=Decimal("10.00")))
    body, headers = signed(invoice)
    with store.table("dummy.payments") as payments:
        del payments[invoice.gateway_id]  # the read will now answer 404
    response = notify(client, body, headers)
    assert response.status_code == 503
    stored = Notification.objects.get()
    assert stored.result == NotificationResult.FAILED
    assert stored.invoice_id == invoice.pk
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
