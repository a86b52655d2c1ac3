"""Holds (authorized payments) live by their own lifetime, not the payment page's.

A hold ends only on the gateway's word: reconciliation never expires one because its payment
page expired, asks the gateway when the hold's own lifetime ends, and captures the holds of
aliases that capture automatically (Postpay), once. A PortOne PREAUTH that reads "Success"
is held until our capture succeeds, and can be captured from Python, the REST API and the
admin. The admin and the REST API show when each hold lapses.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_multipay import payments, processing, reconcile
from django_multipay.exceptions import GatewayAPIError, GatewayError
from django_multipay.gateways.postpay import PostpayGateway
from django_multipay.gateways.results import StatusResult
from django_multipay.models import Invoice, Notification
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as portone_emulator
from django_multipay.sandbox import postpay as postpay_emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, OrderStatus
from django_multipay.testing.concurrency import http_server, race
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.gateways import test_portone as portone_flow
from tests.gateways import test_postpay as postpay_flow

pytestmark = pytest.mark.django_db(transaction=True)

PREAUTH = "portone-preauth"
POSTPAY = "postpay"
SEVEN_DAYS = timedelta(days=7)
POSTGRES_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: row locks across real concurrent connections "
    "(set DATABASE_URL=postgres://...)",
)


def status_of(invoice: Invoice) -> str:
    return str(Invoice.objects.values_list("status", flat=True).get(pk=invoice.pk))


def age(invoice: Invoice, **fields: Any) -> Invoice:
    """Make the invoice old enough to be reconciled (and set other bookkeeping fields)."""
    fields.setdefault("created_at", timezone.now() - timedelta(hours=2))
    Invoice.objects.filter(pk=invoice.pk).update(**fields)
    invoice.refresh_from_db()
    return invoice


def due(invoice: Invoice) -> None:
    """Let the next reconciliation ask about the invoice at once (its back-off is over)."""
    Invoice.objects.filter(pk=invoice.pk).update(next_check_at=timezone.now())


# -- PortOne PREAUTH -------------------------------------------------------------------------


def portone_txn(invoice: Invoice) -> dict[str, Any]:
    return portone_flow.transaction(invoice)


def preauth_hold(router: EmulatorRouter) -> Invoice:
    """A PREAUTH payment the customer completed: PortOne's status reads ``Success``."""
    invoice = portone_flow.start(OrderFactory(amount=Decimal("100.00"), currency="EUR"), PREAUTH)
    portone_flow.come_back(portone_flow.pay(router, invoice, "paid"))
    invoice.refresh_from_db()
    return invoice


def test_preauth_reads_success_as_documented(router: EmulatorRouter) -> None:
    """The OpenAPI's status read answers Success, Failed or Pending; it names no held status,
    so the emulator holds a PREAUTH as "Success" (not an invented "Authorized")."""
    invoice = preauth_hold(router)
    assert router.requests_to(rf"/api/transaction/{invoice.pk}/status$", "GET")
    assert portone_txn(invoice)["status"] == "Success"
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED


def test_preauth_success_is_authorized_with_a_hold_lifetime(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = preauth_hold(router)
    # Even if a strict PortOne answers "Success" for the held payment, it is only held.
    with store.table(portone_emulator.TRANSACTIONS):
        portone_txn(invoice)["status"] = "Success"
    payments.refresh(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AUTHORIZED
    assert invoice.captured_amount == Decimal(0)
    assert signal_log.count("order_paid") == 0
    assert invoice.order.status == OrderStatus.PENDING
    # The payment page's lifetime (expiry_in_minutes) and the hold's own are two things.
    assert invoice.expires_at is not None
    assert invoice.expires_at < invoice.created_at + timedelta(hours=1)
    assert invoice.hold_expires_at == invoice.created_at + SEVEN_DAYS


def test_preauth_hold_survives_its_payment_page_expiry(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = preauth_hold(router)
    assert invoice.status == InvoiceStatus.AUTHORIZED
    age(invoice, expires_at=timezone.now() - timedelta(minutes=1))
    changes = signal_log.count("invoice_status_changed")

    for _ in range(3):
        summary = reconcile.run()
        due(invoice)

    assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    assert summary.invoices_expired == 0
    assert signal_log.count("invoice_status_changed") == changes
    assert not reconcile.expired_invoices().filter(pk=invoice.pk).exists()
    # Nothing was sent to PortOne but status reads: no capture, no cancel.
    assert not [r for r in router.calls if r.method != "GET" and "/capture" in (r.url or "")]
    assert portone_txn(invoice)["status"] == "Success"


def test_expire_step_never_expires_a_hold_even_when_asked_directly(router: EmulatorRouter) -> None:
    invoice = age(preauth_hold(router), expires_at=timezone.now() - timedelta(minutes=1))
    summary = reconcile.expire_invoice(invoice)
    assert summary.invoices_expired == 0
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED


def assert_capture_sent(router: EmulatorRouter, invoice: Invoice) -> None:
    """Exactly one capture, as the OpenAPI's "Capture Transaction" wants it."""
    (capture,) = router.requests_to(rf"/api/transaction/{invoice.gateway_id}/capture$", "POST")
    assert capture.headers["X-Portone-Client-Key"] == "portone-client-key-two"
    assert capture.headers["Authorization"].startswith("Bearer ")
    assert not capture.body  # the call takes no body: PortOne captures what it holds
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")
    assert invoice.order.status == OrderStatus.PAID


def test_preauth_captured_through_the_python_api(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = preauth_hold(router)
    outcome = payments.capture(invoice)
    assert (outcome.previous, outcome.current) == (InvoiceStatus.AUTHORIZED, InvoiceStatus.PAID)
    assert_capture_sent(router, invoice)
    assert signal_log.count("order_paid") == 1
    # PortOne still reads "Success": now it is the captured payment, and stays paid.
    payments.refresh(invoice)
    assert status_of(invoice) == InvoiceStatus.PAID
    assert signal_log.count("order_paid") == 1
    # Refunds work on the captured payment.
    refund = payments.refund(invoice, Decimal("10.00"))
    assert refund.status == "succeeded"


def test_preauth_captured_through_the_rest_api(
    router: EmulatorRouter, settings: Any, django_user_model: Any
) -> None:
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    settings.ROOT_URLCONF = "tests.api.urls"
    invoice = preauth_hold(router)
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="django_multipay", codename="change_invoice")
    )
    client = APIClient()
    client.force_authenticate(staff)

    shown = client.get(f"/api/invoices/{invoice.pk}/").json()
    assert shown["status"] == "authorized"
    assert shown["hold_expires_at"] is not None

    response = client.post(f"/api/invoices/{invoice.pk}/capture/", format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "paid"
    assert response.json()["captured_amount"] == "100.00"
    assert_capture_sent(router, invoice)


def test_preauth_captured_through_the_admin(router: EmulatorRouter, admin_client: Client) -> None:
    invoice = preauth_hold(router)
    capture_url = reverse("admin:django_multipay_invoice_capture", args=[invoice.pk])
    page = admin_client.get(reverse("admin:django_multipay_invoice_change", args=[invoice.pk]))
    assert page.status_code == 200
    assert 'data-tool="capture"' in page.content.decode()
    confirm = admin_client.get(capture_url)
    assert [i["invoice"] for i in confirm.context["ready"]] == [invoice]
    done = admin_client.post(capture_url, {"post": "yes"})
    assert done.status_code == 302
    assert_capture_sent(router, invoice)


def test_preauth_capture_whose_answer_was_lost_is_never_paid_on_a_guess(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    """PortOne reads Success before and after a capture: a capture whose answer was lost
    cannot be told from the status API, so the invoice stays held, never paid on a guess,
    and PortOne refuses capturing it again."""
    invoice = preauth_hold(router)

    def lose_the_capture_answer(request: requests.PreparedRequest) -> Any:
        answer = router(request)
        if request.method == "POST" and (request.url or "").endswith("/capture"):
            return requests.ReadTimeout("answer lost")
        return answer

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST"):
            mock.add_callback(
                method, re.compile(r"^http://testserver/"), callback=lose_the_capture_answer
            )
        with pytest.raises(GatewayError):
            payments.capture(invoice)
    assert not portone_txn(invoice)["_held"]  # PortOne did capture it
    payments.refresh(invoice)
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    with pytest.raises(GatewayAPIError) as refused:
        payments.capture(invoice)
    assert refused.value.code == "4079"
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    assert signal_log.count("order_paid") == 0


def test_repeated_holds_keep_their_lapse_time_unless_the_gateway_names_one(
    router: EmulatorRouter,
) -> None:
    invoice = preauth_hold(router)
    first = invoice.hold_expires_at
    assert first is not None
    processing.apply_status(invoice.pk, StatusResult(status=InvoiceStatus.AUTHORIZED))
    invoice.refresh_from_db()
    assert invoice.hold_expires_at == first
    later = first + timedelta(days=2)
    processing.apply_status(
        invoice.pk, StatusResult(status=InvoiceStatus.AUTHORIZED, hold_expires_at=later)
    )
    invoice.refresh_from_db()
    assert invoice.hold_expires_at == later
    assert invoice.status == InvoiceStatus.AUTHORIZED


def test_preauth_webhook_neither_pays_nor_is_refused(router: EmulatorRouter) -> None:
    """The signed "Success" webhook of a hold is true (the money is held), not a lie that
    the status read refuses; it never makes the invoice paid."""
    invoice = preauth_hold(router)
    (stored,) = Notification.objects.filter(gateway=PREAUTH)
    assert stored.result in ("processed", "duplicate"), (stored.result, stored.reason)
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED


def test_purchase_success_is_still_paid(router: EmulatorRouter) -> None:
    invoice = portone_flow.start(OrderFactory(amount=Decimal("100.00"), currency="EUR"))
    portone_flow.come_back(portone_flow.pay(router, invoice, "paid"))
    assert status_of(invoice) == InvoiceStatus.PAID


def test_transaction_type_of_the_payment_decides(router: EmulatorRouter) -> None:
    """A PREAUTH chosen for one payment (``invoice.gateway_options``) holds it on an alias
    that purchases; a PURCHASE chosen on the PREAUTH alias pays it."""
    gateway = get_gateway("portone")
    invoice = Invoice(
        order=OrderFactory(),
        gateway="portone",
        gateway_id="REF",
        amount=Decimal("1.00"),
        currency="EUR",
        gateway_options={"transaction_type": "PREAUTH"},
    )
    assert gateway.transaction_type_for(invoice) == "PREAUTH"
    invoice.gateway_options = {}
    assert gateway.transaction_type_for(invoice) == "PURCHASE"
    assert get_gateway(PREAUTH).transaction_type_for(invoice) == "PREAUTH"
    invoice.gateway_options = {"transaction_type": "purchase"}
    assert get_gateway(PREAUTH).transaction_type_for(invoice) == "PURCHASE"


# -- the hold's own lifetime ----------------------------------------------------------------


def test_hold_lifetime_comes_from_the_gateway_else_the_alias(
    router: EmulatorRouter, settings: Any
) -> None:
    lapse = timezone.now() + timedelta(hours=30)
    invoice = portone_flow.start(OrderFactory(amount=Decimal("100.00"), currency="EUR"), PREAUTH)
    processing.apply_status(
        invoice.pk, StatusResult(status=InvoiceStatus.AUTHORIZED, hold_expires_at=lapse)
    )
    invoice.refresh_from_db()
    assert invoice.hold_expires_at == lapse

    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][PREAUTH]["OPTIONS"]["hold_lifetime"] = 3600
    settings.MULTIPAY = config
    assert get_gateway(PREAUTH).hold_lifetime == timedelta(hours=1)
    other = portone_flow.start(OrderFactory(amount=Decimal("100.00"), currency="EUR"), PREAUTH)
    processing.apply_status(other.pk, StatusResult(status=InvoiceStatus.AUTHORIZED))
    other.refresh_from_db()
    assert other.hold_expires_at == other.created_at + timedelta(hours=1)


def test_documented_default_hold_lifetimes() -> None:
    for alias in (PREAUTH, POSTPAY, "paylands-deferred", "dummy-manual"):
        assert get_gateway(alias).hold_lifetime == SEVEN_DAYS, alias


def lapsed(invoice: Invoice) -> Invoice:
    return age(invoice, hold_expires_at=timezone.now() - timedelta(minutes=1))


def test_lapsed_hold_the_gateway_still_holds_stays_authorized(
    router: EmulatorRouter, signal_log: SignalLog, caplog: Any
) -> None:
    invoice = lapsed(preauth_hold(router))
    reads = len(router.requests_to(rf"/api/transaction/{invoice.pk}/status$", "GET"))
    changes = signal_log.count("invoice_status_changed")
    caplog.set_level(logging.WARNING, logger="django_multipay.reconcile")

    summary = reconcile.run()

    assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    assert signal_log.count("invoice_status_changed") == changes
    # Asked once (not again by the re-check step of the same run), reported, retried later.
    assert len(router.requests_to(rf"/api/transaction/{invoice.pk}/status$", "GET")) == reads + 1
    assert (summary.holds_checked, summary.holds_held) == (1, 1)
    assert "still held by the gateway" in "\n".join(summary.lines())
    assert any(str(invoice.pk) in change for change in summary.changes)
    assert any("still holds it" in r.getMessage() for r in caplog.records)
    invoice.refresh_from_db()
    assert invoice.next_check_at is not None
    assert invoice.next_check_at > timezone.now()
    # Within the back-off it is not asked again.
    reconcile.run()
    assert len(router.requests_to(rf"/api/transaction/{invoice.pk}/status$", "GET")) == reads + 1


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("Expired", InvoiceStatus.EXPIRED),
        ("Cancelled", InvoiceStatus.CANCELLED),
        ("Failed", InvoiceStatus.FAILED),
    ],
)
def test_lapsed_hold_moves_on_the_gateways_word(
    router: EmulatorRouter, signal_log: SignalLog, word: str, status: str
) -> None:
    invoice = lapsed(preauth_hold(router))
    reconcile.run()
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    with store.table(portone_emulator.TRANSACTIONS):
        portone_txn(invoice)["status"] = word
    due(invoice)
    changes = signal_log.count("invoice_status_changed")

    summary = reconcile.run()

    assert status_of(invoice) == status
    assert signal_log.count("invoice_status_changed") == changes + 1
    assert (summary.holds_checked, summary.holds_held) == (1, 0)
    # Settled: never asked about again.
    reconcile.run()
    assert signal_log.count("invoice_status_changed") == changes + 1


def test_lapsed_hold_the_gateway_cannot_be_asked_about_stays(router: EmulatorRouter) -> None:
    invoice = lapsed(preauth_hold(router))
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, re.compile(r".*"), body=requests.ConnectionError())
        summary = reconcile.run()
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    assert summary.errors >= 1
    assert summary.holds_held == 0


def test_page_expiry_still_expires_unpaid_invoices(router: EmulatorRouter) -> None:
    invoice = portone_flow.start(OrderFactory(amount=Decimal("100.00"), currency="EUR"), PREAUTH)
    age(invoice, expires_at=timezone.now() - timedelta(minutes=1))
    summary = reconcile.run()
    assert status_of(invoice) == InvoiceStatus.EXPIRED
    assert summary.invoices_expired == 1


def test_a_hold_of_the_dummy_gateway_is_never_expired_locally(router: EmulatorRouter) -> None:
    invoice = portone_flow.start(
        OrderFactory(amount=Decimal("100.00"), currency="EUR"), "dummy-manual"
    )
    router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    invoice = age(
        invoice,
        expires_at=timezone.now() - timedelta(minutes=1),
        hold_expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert invoice.status == InvoiceStatus.AUTHORIZED
    reconcile.run()
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    with store.table("dummy.payments") as table:
        table[invoice.gateway_id]["status"] = "expired"
    due(invoice)
    reconcile.run()
    assert status_of(invoice) == InvoiceStatus.EXPIRED


# -- Postpay: approved, never captured --------------------------------------------------------


def postpay_order() -> Any:
    return OrderFactory(amount=Decimal("250.00"), currency="AED")


def approved_not_captured(router: EmulatorRouter) -> Invoice:
    """Approved at Postpay's checkout; the customer never came back and no hook is
    registered, so nothing told the shop."""
    invoice = postpay_flow.start(postpay_order())
    postpay_flow.choose(router, invoice, "approve")
    assert postpay_flow.emulated_order(invoice)["status"] == "approved"
    return age(invoice)


def capture_posts(router: EmulatorRouter, invoice: Invoice) -> int:
    return len(router.requests_to(rf"orders/{invoice.pk}/capture$", "POST"))


def captured_at_postpay(invoice: Invoice) -> int:
    """How many captures Postpay made: one ``order`` settlement transaction each."""
    with store.table("postpay.transactions") as table:
        return sum(
            1
            for t in table.get(postpay_flow.MERCHANT, [])
            if t["type"] == "order" and t["order"]["order_id"] == str(invoice.pk)
        )


def test_reconciliation_captures_an_approved_order_once(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = approved_not_captured(router)
    assert status_of(invoice) == InvoiceStatus.PENDING
    signal_log.sent.clear()

    summary = reconcile.run()

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("250.00")
    assert capture_posts(router, invoice) == 1
    assert captured_at_postpay(invoice) == 1
    assert summary.invoices_changed == 1
    assert signal_log.count("order_paid") == 1
    assert [s["current"] for s in signal_log.of("invoice_status_changed")] == ["paid"]
    # Any number of reconciliations more: nothing else is sent.
    for _ in range(3):
        due(invoice)
        reconcile.run()
        reconcile.check_invoice(invoice)
    assert capture_posts(router, invoice) == 1
    assert signal_log.count("order_paid") == 1


def test_reconciliation_captures_an_invoice_left_authorized(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    """The status was read (authorized) but the capture never happened."""
    invoice = approved_not_captured(router)
    payments.refresh(invoice)
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    assert capture_posts(router, invoice) == 0
    invoice = age(invoice)

    reconcile.run()

    assert status_of(invoice) == InvoiceStatus.PAID
    assert capture_posts(router, invoice) == 1
    assert captured_at_postpay(invoice) == 1
    assert signal_log.count("order_paid") == 1


def test_a_second_reconciliation_with_a_stale_read_captures_nothing(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = approved_not_captured(router)
    stale = Invoice.objects.get(pk=invoice.pk)  # read by a second run before the first ran
    reconcile.check_invoice(invoice)
    summary = reconcile.check_invoice(stale)
    assert status_of(invoice) == InvoiceStatus.PAID
    assert capture_posts(router, invoice) == 1
    assert summary.invoices_changed == 0
    assert signal_log.count("order_paid") == 1


def test_capture_refused_409_after_a_webhook_captured_is_settled_by_reading(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    """The webhook captures between reconciliation's read and its capture: Postpay answers
    reconciliation's capture 409 invalid_status, the order is read back, and the one
    capture is applied once."""
    invoice = approved_not_captured(router)
    body = json.dumps(postpay_emulator.order_event(postpay_flow.emulated_order(invoice))).encode()
    webhook_sent: list[int] = []
    answers: list[int] = []
    signal_log.sent.clear()

    def serve(request: requests.PreparedRequest) -> Any:
        path = request.url or ""
        if request.method == "POST" and path.endswith("/capture") and not webhook_sent:
            # Reconciliation is about to capture: the webhook gets there first.
            webhook_sent.append(1)
            hook = router.client.post(
                reverse("django_multipay:notify", kwargs={"alias": POSTPAY}),
                data=body,
                content_type="application/json",
                headers=postpay_flow.signed(body),
            )
            assert hook.status_code == 200, hook.content
            assert status_of(invoice) == InvoiceStatus.PAID
        answer = router(request)
        if request.method == "POST" and path.endswith("/capture"):
            answers.append(answer[0])
        return answer

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST"):
            mock.add_callback(method, re.compile(r"^http://testserver/"), callback=serve)
        summary = reconcile.run()

    assert webhook_sent
    assert answers == [200, 409]  # the webhook's capture, then reconciliation's refused one
    assert summary.errors == 0
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert captured_at_postpay(invoice) == 1
    assert signal_log.count("order_paid") == 1
    assert [s["current"] for s in signal_log.of("invoice_status_changed")] == ["paid"]


def test_an_alias_that_does_not_capture_automatically_is_left_held(
    router: EmulatorRouter, settings: Any
) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][POSTPAY]["OPTIONS"]["capture_on_notification"] = False
    settings.MULTIPAY = config
    assert not get_gateway(POSTPAY).auto_capture
    invoice = approved_not_captured(router)
    reconcile.run()
    assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    assert capture_posts(router, invoice) == 0


def test_lapsed_postpay_approval_expires_on_postpays_410(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    """Postpay's "Capture errors" 410 expired (the capture has expired) is its word that
    the hold is gone."""
    invoice = approved_not_captured(router)
    with store.table("postpay.lock"):
        postpay_flow.emulated_order(invoice)["_capture_by"] = timezone.now() - timedelta(days=1)
    lapsed(invoice)
    reconcile.run()
    assert status_of(invoice) == InvoiceStatus.EXPIRED
    assert captured_at_postpay(invoice) == 0
    assert signal_log.count("order_paid") == 0


def _real_postpay(settings: Any, monkeypatch: Any, server: str) -> tuple[Invoice, list[str]]:
    """Postpay's emulator over real HTTP; an approved order nobody captured; and a record of
    every capture call the backend sends."""
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"][POSTPAY]["OPTIONS"]["base_url"] = server + "/sandbox/postpay/"
    config["BASE_URL"] = server
    config["HTTP_TIMEOUT"] = (10.0, 60.0)
    settings.MULTIPAY = config
    store.reset()
    invoice = postpay_flow.start(postpay_order())
    answer = requests.post(
        invoice.redirect_url, data={"outcome": "approve"}, timeout=30, allow_redirects=False
    )
    assert answer.status_code == 302
    age(invoice)
    calls: list[str] = []
    lock = threading.Lock()
    real = PostpayGateway.call

    def counting(self: PostpayGateway, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if method == "POST" and path.endswith("/capture"):
            with lock:
                calls.append(path)
        return real(self, method, path, *args, **kwargs)

    monkeypatch.setattr(PostpayGateway, "call", counting)
    return invoice, calls


@POSTGRES_ONLY
def test_two_reconciliations_racing_capture_once(
    settings: Any, monkeypatch: Any, signal_log: SignalLog
) -> None:
    with http_server() as server:
        invoice, calls = _real_postpay(settings, monkeypatch, server)
        signal_log.sent.clear()
        results = race([reconcile.run, reconcile.run])
        assert not [r for r in results if isinstance(r, BaseException)], results
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        # One run took the invoice; the other found it taken and sent nothing.
        assert calls == [f"orders/{invoice.pk}/capture"]
        assert captured_at_postpay(invoice) == 1
        assert signal_log.count("order_paid") == 1
        assert [s["current"] for s in signal_log.of("invoice_status_changed")] == ["paid"]
        store.reset()


@POSTGRES_ONLY
def test_reconciliation_racing_a_webhook_captures_once(
    settings: Any, monkeypatch: Any, signal_log: SignalLog
) -> None:
    with http_server() as server:
        invoice, calls = _real_postpay(settings, monkeypatch, server)
        body = json.dumps(
            postpay_emulator.order_event(postpay_flow.emulated_order(invoice))
        ).encode()
        notify = reverse("django_multipay:notify", kwargs={"alias": POSTPAY})
        signal_log.sent.clear()

        def webhook() -> Any:
            return Client().post(
                notify,
                data=body,
                content_type="application/json",
                headers=postpay_flow.signed(body),
            )

        results = race([reconcile.run, webhook, reconcile.run, webhook])
        assert not [r for r in results if isinstance(r, BaseException)], results
        assert {results[1].status_code, results[3].status_code} == {200}
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        # Each racer that read "approved" asked to capture; Postpay made one capture and
        # refused the others (409), which were settled by reading the order back.
        assert 1 <= len(calls) <= 3
        assert captured_at_postpay(invoice) == 1
        assert signal_log.count("order_paid") == 1
        assert [s["current"] for s in signal_log.of("invoice_status_changed")] == ["paid"]
        store.reset()


# -- admin and REST API -----------------------------------------------------------------------


def test_admin_shows_holds_and_when_they_lapse(
    router: EmulatorRouter, admin_client: Client
) -> None:
    soon = preauth_hold(router)
    Invoice.objects.filter(pk=soon.pk).update(hold_expires_at=timezone.now() + timedelta(hours=5))
    gone = preauth_hold(router)
    Invoice.objects.filter(pk=gone.pk).update(hold_expires_at=timezone.now() - timedelta(hours=1))
    later = preauth_hold(router)  # the default: seven days from now
    paid = portone_flow.start(OrderFactory(amount=Decimal("100.00"), currency="EUR"))
    portone_flow.pay(router, paid, "paid")
    changelist = reverse("admin:django_multipay_invoice_changelist")

    page = admin_client.get(changelist)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Hold lapses" in text
    assert "lapsed" in text
    filters = [spec.title for spec in page.context["cl"].filter_specs]
    assert "hold" in filters

    def listed(query: str) -> set[Any]:
        response = admin_client.get(changelist + query)
        assert response.status_code == 200
        return {obj.pk for obj in response.context["cl"].result_list}

    assert listed("?hold=lapsing") == {soon.pk}
    assert listed("?hold=lapsed") == {gone.pk}
    assert listed("?hold=held") == {soon.pk, gone.pk, later.pk}
    assert paid.pk in listed("")

    detail = admin_client.get(reverse("admin:django_multipay_invoice_change", args=[later.pk]))
    body = detail.content.decode()
    assert "Hold lapses" in body
    assert "Payment page expires" in body


def test_admin_hold_column_is_blank_for_payments_that_are_not_held(
    router: EmulatorRouter,
) -> None:
    from django.contrib import admin as django_admin

    model_admin = django_admin.site._registry[Invoice]
    held = preauth_hold(router)
    assert "(in 6 days" in model_admin.hold_lapses(held)
    Invoice.objects.filter(pk=held.pk).update(hold_expires_at=timezone.now() - timedelta(hours=2))
    held.refresh_from_db()
    assert "(lapsed 2 hours ago)" in model_admin.hold_lapses(held)
    paid = portone_flow.start(OrderFactory(amount=Decimal("100.00"), currency="EUR"))
    portone_flow.pay(router, paid, "paid")
    paid.refresh_from_db()
    assert model_admin.hold_lapses(paid) == "—"
