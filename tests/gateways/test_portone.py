"""PortOne: the shared contract and its suites, end to end against the emulator, and the
management commands (webhooks, the signature check, PSP credentials)."""

from __future__ import annotations

import copy
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.core.management import CommandError, call_command
from django.test import Client

from django_multipay import payments
from django_multipay.exceptions import InvalidRequest, RefundError, RefundRefused
from django_multipay.gateways.portone import dumps
from django_multipay.management.commands import multipay_portone_channels
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.contracts.attacks import JSON, AttackContract
from tests.contracts.faults import GATEWAY_HOST, METHODS, FaultContract, path_of

SECRET = "portone-secret-key-one-0123456789abcdef0123"
OUTCOME = {"paid": "success", "declined": "failure", "cancelled": "cancelled", "pending": "pending"}


def transaction(invoice: Invoice) -> dict:
    with store.table(emulator.TRANSACTIONS) as table:
        return next(t for t in table.values() if t["order_ref"] == invoice.gateway_id)


def pay(router: EmulatorRouter, invoice: Invoice, outcome: str):
    response = router.client.post(
        f"/sandbox/portone/pay/{invoice.gateway_id}", {"outcome": OUTCOME[outcome]}
    )
    assert response.status_code == 302, response.content
    return response


def webhook(invoice: Invoice, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = dumps(emulator.webhook_for(transaction(invoice), secret)).encode()
    return body, {"Content-Type": "application/json"}


class TestPortOneContract(GatewayContract):
    alias = "portone"
    sandbox_path = "/sandbox/portone/"

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        pay(router, invoice, outcome)

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # The hosted page would send its webhook at once; change the state silently instead.
        with store.table(emulator.TRANSACTIONS):
            emulator.settle(transaction(invoice), OUTCOME[outcome])

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        return webhook(invoice)

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        forged = body.replace(b'"Initiated"', b'"Success"')
        assert forged != body
        return forged, headers


class PortOnePreauth(TestPortOneContract):
    alias = "portone-preauth"

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        return webhook(invoice, "portone-secret-key-two-0123456789abcdef0123")


class PortOneLink(TestPortOneContract):
    """A payment link: the transaction exists once the customer checks out on the link."""

    alias = "portone-link"
    outcomes = {"paid": "success", "declined": "failure", "cancelled": "cancelled"}

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        page = urlsplit(invoice.redirect_url)
        answer = router.client.post(
            f"{page.path}?{page.query}", {"outcome": self.outcomes[outcome]}
        )
        assert answer.status_code == 302, answer.content

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # Check out on the link while its webhook is lost on the way to the shop.
        def lose_webhooks(request: requests.PreparedRequest) -> Any:
            if "/payments/notify/" in path_of(request):
                return 500, {}, b""
            return router(request)

        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for method in METHODS:
                mock.add_callback(method, GATEWAY_HOST, callback=lose_webhooks)
            self.complete_payment(router, invoice, outcome)

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        with store.table(emulator.TRANSACTIONS) as table:
            txn = next(
                t
                for t in table.values()
                if str(t["merchant_order_ref"]).startswith(f"{invoice.gateway_id}_")
            )
        body = dumps(emulator.webhook_for(txn, "portone-secret-key-three-0123456789abcdef0123"))
        return body.encode(), {"Content-Type": "application/json"}


def any_transaction(invoice: Invoice) -> dict[str, Any]:
    """The emulator's transaction of a channel payment, or of a payment link's payment."""
    with store.table(emulator.TRANSACTIONS) as table:
        return next(
            t
            for t in table.values()
            if invoice.gateway_id in (t["order_ref"], t.get("payment_link_ref"))
        )


class PortOneSuites(AttackContract, FaultContract):
    """The attack and fault suites' hooks for PortOne's aliases (tests/contracts/)."""

    signed = "body"
    signature_field = "signature_hash"
    amount_forms = ("decimal",)

    def genuine(self, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        payload = emulator.webhook_for(any_transaction(invoice), self.option("secret_key"))
        return dumps(payload).encode(), {"Content-Type": JSON}

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        # A payment left pending on the page (a link's) is claimed paid.
        if b'"Pending"' in body:
            return body.replace(b'"Pending"', b'"Success"'), headers
        return super().forge(body, headers)

    def settle_paid(self, invoice: Invoice) -> None:
        txn = any_transaction(invoice)
        with store.table(emulator.TRANSACTIONS):
            emulator.settle(txn, "success")

    def is_refund_call(self, request: requests.PreparedRequest) -> bool:
        return request.method == "POST" and "/api/refund/" in path_of(request)


class TestPortOneSuites(PortOneSuites):
    contract = TestPortOneContract


class TestPortOnePreauthSuites(PortOneSuites):
    contract = PortOnePreauth
    holds = True


class TestPortOneLinkSuites(PortOneSuites):
    contract = PortOneLink

    def leave_pending(self, router: EmulatorRouter, invoice: Invoice) -> None:
        # A link has no payment until the customer starts one: leave it pending.
        page = urlsplit(invoice.redirect_url)
        answer = router.client.post(f"{page.path}?{page.query}", {"outcome": "pending"})
        assert answer.status_code == 302, answer.content


# -- end to end against the emulator -----------------------------------------------------------


def start(portone_order: Order, alias: str = "portone") -> Invoice:
    payments.start_payment(portone_order, alias)
    return Invoice.objects.filter(order=portone_order).latest("created_at")


def come_back(response) -> None:
    """Follow the emulator's redirect to our return view, as the customer's browser does."""
    parts = urlsplit(response["Location"])
    back = Client().get(parts.path, parse_qs(parts.query))
    assert back.status_code == 302


def test_pay_redirects_back_with_signed_query_and_webhook(
    router: EmulatorRouter, portone_order: Order, signal_log: SignalLog
) -> None:
    invoice = start(portone_order)
    response = pay(router, invoice, "paid")
    # The emulator's webhook was applied first (signature checked, status read back).
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["status"] == ["Success"]
    assert query["signature_hash"]
    come_back(response)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")
    assert Order.objects.get(pk=portone_order.pk).status == OrderStatus.PAID
    assert signal_log.count("order_paid") == 1
    stored = Notification.objects.get(gateway="portone")
    assert stored.result == NotificationResult.PROCESSED
    assert stored.verified
    # Every status change was confirmed by a server-to-server read.
    assert len(router.requests_to(rf"/api/transaction/{invoice.pk}/status$", "GET")) == 1


def test_failed_payment(
    router: EmulatorRouter, portone_order: Order, signal_log: SignalLog
) -> None:
    invoice = start(portone_order)
    come_back(pay(router, invoice, "declined"))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FAILED
    assert invoice.failure_reason
    assert Order.objects.get(pk=portone_order.pk).status == OrderStatus.FAILED
    assert signal_log.count("order_paid") == 0


def test_pending_payment_stays_pending(router: EmulatorRouter, portone_order: Order) -> None:
    invoice = start(portone_order)
    come_back(pay(router, invoice, "pending"))
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_preauth_then_capture(
    router: EmulatorRouter, portone_order: Order, signal_log: SignalLog
) -> None:
    invoice = start(portone_order, "portone-preauth")
    sent = json.loads(router.requests_to("/api/initiatePayment$")[0].body)
    assert sent["transaction_type"] == "PREAUTH"
    come_back(pay(router, invoice, "paid"))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AUTHORIZED
    assert signal_log.count("order_paid") == 0
    payments.capture(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")
    assert signal_log.count("order_paid") == 1
    (capture,) = router.requests_to(rf"/api/transaction/{invoice.gateway_id}/capture$", "POST")
    assert capture.headers["Authorization"].startswith("Bearer ")
    assert transaction(invoice)["status"] == "Success"


def test_partial_then_full_refund(
    router: EmulatorRouter, portone_order: Order, signal_log: SignalLog
) -> None:
    invoice = start(portone_order)
    pay(router, invoice, "paid")
    first = payments.refund(invoice, Decimal("25.00"), reason="damaged box")
    invoice.refresh_from_db()
    assert first.status == RefundStatus.SUCCEEDED
    assert first.gateway_refund_id
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert invoice.refunded_amount == Decimal("25.00")
    second = payments.refund(invoice)
    invoice.refresh_from_db()
    assert second.status == RefundStatus.SUCCEEDED
    assert second.amount == Decimal("75.00")
    assert invoice.status == InvoiceStatus.REFUNDED
    assert Order.objects.get(pk=portone_order.pk).status == OrderStatus.REFUNDED
    posts = router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "POST")
    assert [json.loads(p.body)["refund_type"] for p in posts] == ["partial", "partial"]
    assert [json.loads(p.body)["amount"] for p in posts] == [25, 75]
    # Each refund webhook (unsigned) was settled from the refund list: nothing left to do.
    refund_hooks = Notification.objects.filter(gateway="portone", body__contains="refund_id")
    assert refund_hooks.count() == 2
    assert {n.result for n in refund_hooks} <= {
        NotificationResult.DUPLICATE,
        NotificationResult.PROCESSED,
    }
    assert [s["current"] for s in signal_log.of("refund_status_changed")] == [
        RefundStatus.REQUESTED,
        RefundStatus.SUCCEEDED,
        RefundStatus.REQUESTED,
        RefundStatus.SUCCEEDED,
    ]


def test_whole_amount_at_once_is_a_full_refund(
    router: EmulatorRouter, portone_order: Order
) -> None:
    invoice = start(portone_order)
    pay(router, invoice, "paid")
    payments.refund(invoice)
    (post,) = router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "POST")
    assert json.loads(post.body)["refund_type"] == "full"
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.REFUNDED


def test_refund_webhook_settles_a_pending_refund_from_the_list(
    router: EmulatorRouter, portone_order: Order
) -> None:
    invoice = start(portone_order)
    pay(router, invoice, "paid")
    refund = payments.refund(invoice, Decimal("10.00"))
    # As if the answer had been lost: ours is still pending, the gateway has settled it.
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.PENDING, gateway_refund_id="")
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.PAID, refunded_amount=Decimal(0)
    )
    txn = transaction(invoice)
    body = dumps(emulator.refund_webhook_for(txn, txn["_refunds"][0])).encode()
    reads = len(router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "GET"))
    response = Client().post("/payments/notify/portone/", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert len(router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "GET")) == reads + 1
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_refund_id == txn["_refunds"][0]["refund_id"]
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PARTIALLY_REFUNDED


def test_payment_link_checkout_and_refund(router: EmulatorRouter, portone_order: Order) -> None:
    action = payments.start_payment(portone_order, "portone-link")
    invoice = Invoice.objects.get(order=portone_order)
    assert f"?ref={invoice.gateway_id}" in action.url
    (created,) = router.requests_to("/api/paymentLink$", "POST")
    body = json.loads(created.body)
    assert body["merchant_order_id"] == str(invoice.pk)
    assert body["source"] == "api"
    assert body["country_code"] == portone_order.billing_address["country"]
    page = urlsplit(action.url)
    response = router.client.post(f"{page.path}?{page.query}", {"outcome": "success"})
    assert response.status_code == 302
    come_back(response)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    refund = payments.refund(invoice, Decimal("40.00"))
    assert refund.status == RefundStatus.SUCCEEDED
    # The link's transaction is found through its status and details before refunding.
    details = router.requests_to(r"/api/portone-client-key-three/transaction-details$", "POST")
    assert details  # once for the refund, once more when its webhook is settled
    order_ref = json.loads(details[0].body)["order_ref"]
    assert router.requests_to(rf"/api/refund/{order_ref}$", "POST")
    assert (
        json.loads(router.requests_to(rf"/api/refund/{order_ref}$", "POST")[0].body)["channel"]
        == "EMULATED"
    )
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PARTIALLY_REFUNDED


def test_payment_link_cancel(router: EmulatorRouter, portone_order: Order) -> None:
    invoice = start(portone_order, "portone-link")
    payments.cancel(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED
    assert router.requests_to(rf"/api/paymentLink/{invoice.gateway_id}/status/cancelled$", "PUT")


def test_channel_payment_cannot_be_cancelled(router: EmulatorRouter, portone_order: Order) -> None:
    from django_multipay.exceptions import UnsupportedOperation

    invoice = start(portone_order)
    with pytest.raises(UnsupportedOperation):
        payments.cancel(invoice)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_over_refund_at_portone_is_refused_before_posting(
    router: EmulatorRouter, portone_order: Order
) -> None:
    invoice = start(portone_order)
    pay(router, invoice, "paid")
    # Refunded in PortOne's dashboard: amountToRefund is 30, our records still say 100.
    with store.table(emulator.TRANSACTIONS):
        txn = transaction(invoice)
        txn["_refunds"].append(
            {
                "refund_id": "dashboard1",
                "psp_refund_id": "1",
                "amount": Decimal("70.00"),
                "currency": "EUR",
                "refund_status": "SUCCESS",
                "refund_type": "partial",
                "refund_reason": "by hand",
            }
        )
    with pytest.raises(RefundError) as caught:
        payments.refund(invoice, Decimal("50.00"))
    assert caught.value.code == "refund_exceeds_remaining"
    assert not router.requests_to(rf"/api/refund/{invoice.gateway_id}$", "POST")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.refunded_amount == 0
    assert Refund.objects.get(invoice=invoice).status == RefundStatus.FAILED


def test_over_refund_of_captured_is_refused_without_calling(
    router: EmulatorRouter, portone_order: Order
) -> None:
    invoice = start(portone_order)
    pay(router, invoice, "paid")
    calls = len(router.calls)
    with pytest.raises(RefundRefused):
        payments.refund(invoice, Decimal("100.01"))
    assert len(router.calls) == calls
    assert not Refund.objects.filter(invoice=invoice).exists()


# ------------------------------------------------------------------------------------------------
# PortOne: a payment link or a channel payment, as we asked for when the invoice was made.


API = "http://testserver/sandbox/portone/"


def test_a_channel_payment_whose_redirect_names_order_ref_is_not_a_link(
    portone_order: Order,
) -> None:
    """Reported defect: ``ref=<gateway id>`` inside ``order_ref=<gateway id>`` of a PSP's page
    address made a channel payment read as a payment link (its status read the wrong API)."""
    order_ref = "2937z05mrtN17ZYigwZhfKdqEGQ"
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + "api/initiatePayment",
            json={
                "is_success": True,
                "redirect_url": f"https://psp.example/authorize?order_ref={order_ref}&x=1",
                "order_ref": order_ref,
                "merchant_order_ref": "ignored",
                "channel_order_ref": "",
                "expiry_in_minutes": "20",
            },
        )
        invoice, _action = payments.begin_payment(portone_order, "portone")
    assert invoice.gateway_id == order_ref
    assert f"ref={order_ref}" in invoice.redirect_url
    gateway = get_gateway("portone")
    assert gateway.is_link(invoice) is False
    with responses.RequestsMock() as mock:
        status = mock.add(
            responses.GET,
            API + f"api/transaction/{invoice.pk}/status",
            json={
                "content": {"order_ref": order_ref, "channel_order_ref": "c1", "status": "Success"},
                "status_code": "2000",
                "status_reason": "SUCCESS",
            },
        )
        details = mock.add(
            responses.POST,
            API + "api/portone-client-key-one/transaction-details",
            json={
                "content": {"order_ref": order_ref, "amount": 100, "currency": "EUR"},
                "status_code": "2000",
                "status_reason": "SUCCESS",
            },
        )
        result = gateway.fetch_status(invoice)
    assert (status.call_count, details.call_count) == (1, 1)
    assert result.status == InvoiceStatus.PAID
    assert (result.amount, result.currency) == (Decimal("100"), "EUR")


def test_what_started_the_payment_is_kept_on_the_invoice(router, portone_order: Order) -> None:
    channel, _action = payments.begin_payment(portone_order, "portone")
    link, _action = payments.begin_payment(
        OrderFactory(amount=Decimal("100.00"), currency="EUR"), "portone-link"
    )
    assert channel.gateway_options == {"started_with": "initiatePayment"}
    assert link.gateway_options == {"started_with": "paymentLink"}
    assert get_gateway("portone").is_link(channel) is False
    assert get_gateway("portone-link").is_link(link) is True


def test_a_reconfigured_alias_reads_each_invoice_as_it_was_started(
    router, portone_order: Order, settings
) -> None:
    """The alias switched from PortOne's checkout page to a channel while a link was open:
    the link is still read as a link, and a new payment starts at the channel."""
    link, _action = payments.begin_payment(portone_order, "portone-link")
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portone-link"]["OPTIONS"].update(pmt_channel="STRIPE", pmt_method="CARD")
    settings.MULTIPAY = config
    gateway = get_gateway("portone-link")
    assert gateway.direct
    assert gateway.is_link(link)
    gateway.fetch_status(link)
    assert router.requests_to(rf"/api/paymentLink/{link.gateway_id}/fetch-status$", "GET")
    assert not router.requests_to(rf"/api/transaction/{link.pk}/status$")
    channel, _action = payments.begin_payment(
        OrderFactory(amount=Decimal("100.00"), currency="EUR"), "portone-link"
    )
    assert not gateway.is_link(channel)
    assert router.requests_to(r"/api/initiatePayment$", "POST")


def test_an_invoice_without_the_record_follows_the_alias(db, portone_order: Order) -> None:
    """Invoices started before the record was kept (or built by hand): the alias decides,
    never the page address."""
    for alias, link in (("portone", False), ("portone-link", True)):
        invoice = Invoice(
            order=portone_order,
            gateway=alias,
            gateway_id="2BEemUknaImTq5ljmoNQQV2tSll",
            redirect_url="https://checkout.portone.cloud?ref=2BEemUknaImTq5ljmoNQQV2tSll"
            if not link
            else "https://elsewhere.example/",
            amount=portone_order.amount,
            currency="EUR",
        )
        assert get_gateway(alias).is_link(invoice) is link


def test_the_shop_cannot_choose_the_record(router, portone_order: Order) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(portone_order, "portone", options={"started_with": "paymentLink"})
    assert set(caught.value.fields) == {"options.started_with"}
    assert not Invoice.objects.exists()
    assert router.calls == []


# ------------------------------------------------------------------------------------------------
# PortOne's management commands: webhooks, the signature check and PSP credentials.


KEY = "portone-client-key-one"
NOTIFY = "http://testserver/payments/notify/portone/"
CREDS = {"accessKey": "TestKeyA1b2", "partnerCode": "TestCode77", "secretKey": "psp-SECRET-9f8e7d"}


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def hooks(*args: str) -> str:
    return run("multipay_portone_hooks", *args, "--alias", "portone")[0]


# -- multipay_portone_hooks --------------------------------------------------------------------


def test_hooks_create_registers_the_notify_url_for_each_webhook_type(
    router: EmulatorRouter, db: Any
) -> None:
    assert "No webhooks in the sandbox environment." in hooks("list")
    before = len(router.calls)
    output = hooks("create")
    listing, *created = router.calls[before:]
    assert listing.method == "GET"  # the listing first
    assert [c.method for c in created] == ["POST"] * 3
    assert [json.loads(c.body) for c in created] == [
        {"name": f"multipay-portone-{kind}", "url": NOTIFY, "type": kind, "environment": "sandbox"}
        for kind in ("payment_status", "payment_link_status", "refund_status")
    ]
    assert output.count("Created:") == 3
    listed = hooks("list").splitlines()
    assert len(listed) == 3
    assert all(NOTIFY in line and "enabled" in line for line in listed)
    assert SECRET not in output


def test_hooks_create_refuses_a_url_already_registered(router: EmulatorRouter, db: Any) -> None:
    hooks("create", "--type", "payment_status")
    posts = len(router.requests_to(r"/webhook$", "POST"))
    with pytest.raises(CommandError, match="already delivers to"):
        hooks("create")  # payment_status is there: nothing at all is created
    assert len(router.requests_to(r"/webhook$", "POST")) == posts
    hooks("create", "--type", "refund_status")
    hooks("create", "--url", "https://shop.example/other/", "--name", "other")
    kinds = [(h.url, h.type) for h in get_gateway("portone").list_webhooks()]
    assert kinds == [
        (NOTIFY, "payment_status"),
        (NOTIFY, "refund_status"),
        ("https://shop.example/other/", "payment_status"),
        ("https://shop.example/other/", "payment_link_status"),
        ("https://shop.example/other/", "refund_status"),
    ]


def test_hooks_need_a_portone_alias(router: EmulatorRouter, db: Any) -> None:
    with pytest.raises(CommandError, match="portone, portone-preauth, portone-link"):
        run("multipay_portone_hooks", "list")
    with pytest.raises(CommandError, match="not a PortOne alias"):
        run("multipay_portone_hooks", "list", "--alias", "paylands")


def test_hooks_never_print_the_secret(db: Any) -> None:
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            API + f"api/merchant/{KEY}/webhook",
            status=401,
            json={
                "message": f"bad secret {SECRET}",
                "status_code": "4010",
                "status_reason": "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR",
            },
        )
        with pytest.raises(CommandError) as caught:
            hooks("create")
    assert "4010" in str(caught.value)
    assert SECRET not in str(caught.value)


# -- multipay_portone_signature ----------------------------------------------------------------


def test_signature_check_matches(router: EmulatorRouter, db: Any) -> None:
    out, _err = run("multipay_portone_signature", "--alias", "portone")
    calls = router.requests_to(r"/api/merchant/generate-signature$", "POST")
    assert [json.loads(c.body)["amount"] for c in calls] == [111.12, 100]
    assert b'"amount":100.00' in calls[1].body
    assert out.count("match") == 2
    assert "mismatch" not in out
    assert "Signed: amount=100&client_key=portone-client-key-one&currency=THB" in out
    assert SECRET not in out


def test_signature_check_says_mismatch(router: EmulatorRouter, db: Any, monkeypatch: Any) -> None:
    # As if PortOne signed the amount as sent (100.00), not without trailing zeros.
    monkeypatch.setattr(emulator, "trimmed", lambda amount: format(amount, "f"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 signatures do not match"):
        call_command("multipay_portone_signature", "--alias", "portone", stdout=out)
    assert out.getvalue().splitlines().count("mismatch") == 1
    assert SECRET not in out.getvalue()


def test_signature_check_of_one_amount(router: EmulatorRouter, db: Any) -> None:
    out, _err = run(
        "multipay_portone_signature", "--alias", "portone", "--amount", "1500", "--currency", "JPY"
    )
    (call,) = router.requests_to(r"/api/merchant/generate-signature$")
    assert json.loads(call.body)["currency"] == "JPY"
    assert out.splitlines()[-1] == "match"
    with pytest.raises(CommandError, match="not an amount"):
        run(
            "multipay_portone_signature",
            "--alias",
            "portone",
            "--amount",
            "1.5",
            "--currency",
            "JPY",
        )


# -- multipay_portone_channels ----------------------------------------------------------------


def channels(*args: str) -> tuple[str, str]:
    return run("multipay_portone_channels", *args, "--alias", "portone")


def never_echoed(*texts: str) -> None:
    for text in texts:
        for value in CREDS.values():
            assert value not in text


def test_channels_add_from_a_file_and_show_masked(
    router: EmulatorRouter, db: Any, tmp_path: Path
) -> None:
    file = tmp_path / "momo.json"
    file.write_text(json.dumps(CREDS))
    out, err = channels("add", "momopay", "--country", "VN", "--file", str(file))
    (call,) = router.requests_to(rf"/api/merchant/{KEY}/add-pay-channel/MOMOPAY$", "POST")
    assert json.loads(call.body) == {"creds": CREDS, "country": "VN", "environment": "sandbox"}
    assert "Added:" in out
    assert "  accessKey: ********" in out
    assert "  secretKey: ********" in out
    never_echoed(out, err)

    shown, err = channels("show", "MOMOPAY")
    assert shown.splitlines() == [
        "MOMOPAY  VN  PAYIN  enabled",
        "  accessKey: ********",
        "  partnerCode: ********",
        "  secretKey: ********",
    ]
    never_echoed(shown, err)
    nothing, _err = channels("show", "OMISE")
    assert "No credentials for OMISE" in nothing


def test_channels_update_from_standard_input(
    router: EmulatorRouter, db: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    file = tmp_path / "momo.json"
    file.write_text(json.dumps(CREDS))
    channels("add", "MOMOPAY", "--country", "VN", "--file", str(file))
    changed = {**CREDS, "secretKey": "psp-ROTATED-1234"}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(changed)))
    out, err = channels("update", "MOMOPAY", "--country", "VN", "--file", "-")
    (call,) = router.requests_to(rf"/api/merchant/{KEY}/add-pay-channel/MOMOPAY$", "PUT")
    assert json.loads(call.body)["creds"] == changed
    assert "Updated:" in out
    assert "psp-ROTATED-1234" not in out + err


def test_channels_never_take_credentials_from_the_command_line() -> None:
    parser = multipay_portone_channels.Command().create_parser(
        "manage.py", "multipay_portone_channels"
    )
    dests = {action.dest for action in parser._actions}
    assert dests >= {"action", "channel", "alias", "file", "country", "pay_type"}
    assert not dests & {"creds", "credentials", "secret", "json"}
    with pytest.raises(CommandError):
        call_command(
            "multipay_portone_channels", "add", "MOMOPAY", "--alias", "portone", "--creds", "{}"
        )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json " + CREDS["secretKey"], "not valid JSON"),
        ("[]", "JSON object"),
        ("{}", "JSON object"),
    ],
)
def test_channels_refuse_unreadable_credentials_without_quoting_them(
    router: EmulatorRouter, db: Any, tmp_path: Path, content: str, says: str
) -> None:
    file = tmp_path / "bad.json"
    file.write_text(content)
    with pytest.raises(CommandError, match=says) as caught:
        channels("add", "MOMOPAY", "--country", "VN", "--file", str(file))
    never_echoed(str(caught.value))
    assert router.calls == []


def test_channels_need_a_file_and_a_country(router: EmulatorRouter, db: Any) -> None:
    with pytest.raises(CommandError, match="never on the command line"):
        channels("add", "MOMOPAY", "--country", "VN")
    with pytest.raises(CommandError, match="--country"):
        channels("add", "MOMOPAY", "--file", "-")
    with pytest.raises(CommandError, match="Cannot read"):
        channels("add", "MOMOPAY", "--country", "VN", "--file", "/no/such/file.json")
    assert router.calls == []


def test_channels_errors_never_echo_the_credentials(db: Any, tmp_path: Path) -> None:
    file = tmp_path / "momo.json"
    file.write_text(json.dumps(CREDS))
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + f"api/merchant/{KEY}/add-pay-channel/MOMOPAY",
            status=400,
            json={
                "message": f"bad {CREDS['secretKey']} / {CREDS['partnerCode']} {SECRET}",
                "status_code": "4001",
                "status_reason": "INVALID_REQUEST",
            },
        )
        with pytest.raises(CommandError) as caught:
            channels("add", "MOMOPAY", "--country", "VN", "--file", str(file))
    never_echoed(str(caught.value))
    assert SECRET not in str(caught.value)
    assert "4001" in str(caught.value)
