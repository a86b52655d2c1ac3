"""Gateway faults on every alias: clear errors, reconcilable invoices, refunds never sent twice."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses
from django.conf import settings
from django.test import override_settings

from django_multipay import payments
from django_multipay.exceptions import GatewayConnectionError, MultipayError, RefundError
from django_multipay.gateways.portone import dumps
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as portone_emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.router import EmulatorRouter
from tests.gateways import (
    test_dummy,
    test_paylands,
    test_portone,
    test_portpos,
    test_portwallet,
    test_postpay,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def judge_lost_refunds_at_once(settings: Any) -> None:
    """Reconciliation here runs long after the lost answers: no call is still in flight."""
    settings.MULTIPAY = {**settings.MULTIPAY, "REFUND_SETTLE_UNKNOWN_AFTER": 0}


GATEWAY_HOST = re.compile(r"^https?://testserver(:\d+)?/")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


# -- how each alias is driven: its contract's hooks, under the alias's own credentials ----------


class DummyManual(test_dummy.TestDummyContract):
    alias = "dummy-manual"

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        body, headers = super().notification(invoice)
        stamp = int(headers[test_dummy.SIGNATURE_HEADER].split(",")[0].split("=")[1])
        signature = test_dummy.sign("dummy-webhook-secret-two", stamp, body)
        return body, {**headers, test_dummy.SIGNATURE_HEADER: signature}


class PortOnePreauth(test_portone.TestPortOneContract):
    alias = "portone-preauth"

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        return test_portone.webhook(invoice, "portone-secret-key-two-0123456789abcdef0123")


class PortOneLink(test_portone.TestPortOneContract):
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
            if "/payments/notify/" in _path(request):
                return 500, {}, b""
            return router(request)

        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for method in METHODS:
                mock.add_callback(method, GATEWAY_HOST, callback=lose_webhooks)
            self.complete_payment(router, invoice, outcome)

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        with store.table(portone_emulator.TRANSACTIONS) as table:
            txn = next(
                t
                for t in table.values()
                if str(t["merchant_order_ref"]).startswith(f"{invoice.gateway_id}_")
            )
        body = dumps(
            portone_emulator.webhook_for(txn, "portone-secret-key-three-0123456789abcdef0123")
        ).encode()
        return body, {"Content-Type": "application/json"}


class PaylandsDeferred(test_paylands.TestPaylandsContract):
    alias = "paylands-deferred"


DRIVERS: dict[str, type[GatewayContract]] = {
    "dummy": test_dummy.TestDummyContract,
    "dummy-manual": DummyManual,
    "portone": test_portone.TestPortOneContract,
    "portone-preauth": PortOnePreauth,
    "portone-link": PortOneLink,
    "portwallet": test_portwallet.TestPortWalletContract,
    "postpay": test_postpay.TestPostpayContract,
    "portpos": test_portpos.TestPortPosContract,
    "paylands": test_paylands.TestPaylandsContract,
    "paylands-deferred": PaylandsDeferred,
}

ALIASES = sorted(settings.MULTIPAY["GATEWAYS"])


def _path(request: requests.PreparedRequest) -> str:
    return urlsplit(request.url or "").path


def _body(request: requests.PreparedRequest) -> str:
    body = request.body or b""
    return body.decode() if isinstance(body, bytes) else str(body)


#: The request that asks each backend's gateway for a refund (its documented refund call).
REFUND_CALLS: dict[str, Callable[[requests.PreparedRequest], bool]] = {
    "dummy": lambda r: r.method == "POST" and _path(r).endswith("/refunds"),
    "portone": lambda r: r.method == "POST" and "/api/refund/" in _path(r),
    "portwallet": lambda r: r.method == "POST" and "call=refund_request" in _body(r),
    "postpay": lambda r: (
        r.method == "POST" and bool(re.search(r"/orders/[^/]+/refunds$", _path(r)))
    ),
    "portpos": lambda r: r.method == "POST" and "/invoice/refund/" in _path(r),
    "paylands": lambda r: r.method == "POST" and _path(r).endswith("/payment/refund"),
}


#: PortWallet and PortPos list no refunds and give no refunded total while an invoice is refunded
#: in part (docs/gateways/portwallet.md, portpos.md): a refund whose answer was lost and that
#: the gateway made cannot be told apart from one made in its panel, so it is left for an
#: operator. One it did not make is failed once the invoice says nothing was refunded.
REFUNDS_NOT_LISTED = frozenset({"portwallet", "portpos"})


def driver(alias: str) -> GatewayContract:
    if alias not in DRIVERS:
        pytest.fail(f"No fault driver for gateway alias {alias!r}: add it to DRIVERS.")
    return DRIVERS[alias]()


def is_refund_call(alias: str) -> Callable[[requests.PreparedRequest], bool]:
    backend = settings.MULTIPAY["GATEWAYS"][alias]["BACKEND"].rsplit(".", 2)[-2]
    return REFUND_CALLS[backend]


# -- the faults ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    name: str
    #: The request reaches the gateway (which acts on it) before the answer goes wrong.
    reaches_gateway: bool
    #: A definite refusal (4xx): a refund can be marked failed.
    refusal: bool = False

    def answer(self, real: tuple[int, dict[str, str], bytes] | None) -> Any:
        json_type = {"Content-Type": "application/json"}
        if self.name == "timeout":
            return requests.ReadTimeout("read timed out")
        if self.name == "connection_reset":
            return requests.ConnectionError("Connection reset by peer")
        if self.name.startswith("http_"):
            status = int(self.name[5:])
            headers = {**json_type, "Retry-After": "0"} if status == 429 else json_type
            return status, headers, json.dumps({"error": f"HTTP {status}"}).encode()
        if self.name == "html":
            page = b"<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>"
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page
        assert real is not None
        status, headers, content = real
        if self.name == "truncated_json":
            return status, {**headers, **json_type}, content[: max(1, len(content) // 2)]
        if self.name == "missing_fields":
            try:
                was_list = isinstance(json.loads(content), list)
            except ValueError:
                was_list = False
            return status, {**headers, **json_type}, b"[{}]" if was_list else b"{}"
        raise AssertionError(self.name)


FAULTS = [
    Fault("timeout", reaches_gateway=True),
    Fault("connection_reset", reaches_gateway=False),
    Fault("http_500", reaches_gateway=False),
    Fault("http_502", reaches_gateway=False),
    Fault("http_503", reaches_gateway=False),
    Fault("http_429", reaches_gateway=False, refusal=True),
    Fault("html", reaches_gateway=False),
    Fault("truncated_json", reaches_gateway=True),
    Fault("missing_fields", reaches_gateway=True),
]
FAULT_IDS = [f.name for f in FAULTS]


@contextmanager
def faulty(
    router: EmulatorRouter,
    fault: Fault,
    match: Callable[[requests.PreparedRequest], bool] = lambda request: True,
    *,
    lose_webhooks: bool = False,
) -> Iterator[list[requests.PreparedRequest]]:
    """Within the block, gateway requests that ``match`` meet ``fault``; others reach the
    emulator. With ``lose_webhooks`` the emulators' notifications never reach the shop, so
    nothing tells it what the gateway did. Yields the faulted requests."""
    hit: list[requests.PreparedRequest] = []

    def reply(request: requests.PreparedRequest) -> Any:
        if lose_webhooks and "/payments/notify/" in _path(request):
            return 502, {}, b""
        if not match(request):
            return router(request)
        hit.append(request)
        return fault.answer(router(request) if fault.reaches_gateway else None)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in METHODS:
            mock.add_callback(method, GATEWAY_HOST, callback=reply)
        yield hit


def outcome_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> BaseException | None:
    """The exception ``call`` raised, if any (its type is what the tests assert)."""
    try:
        call(*args, **kwargs)
    except Exception as exc:
        return exc
    return None


def assert_clear_error(exc: BaseException) -> None:
    assert isinstance(exc, MultipayError), repr(exc)
    assert str(exc).strip(), repr(exc)


def status_of(invoice: Invoice) -> str:
    return str(Invoice.objects.values_list("status", flat=True).get(pk=invoice.pk))


# -- every alias has a driver ----------------------------------------------------------------------


def test_every_alias_has_a_fault_driver() -> None:
    assert set(ALIASES) <= set(DRIVERS), set(ALIASES) - set(DRIVERS)
    for alias in ALIASES:
        if get_gateway(alias).supports("refund"):
            is_refund_call(alias)


# -- start payment -------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("alias", ALIASES)
def test_start_payment_fault_fails_invoice_with_reason(
    router: EmulatorRouter, alias: str, fault: Fault
) -> None:
    gateway = driver(alias)
    order = gateway.make_order()
    with faulty(router, fault) as hit:
        error = outcome_of(payments.start_payment, order, alias)
    invoice = Invoice.objects.get(order=order)
    assert hit
    assert error is not None, f"{alias} accepted a faulty answer ({fault.name})"
    assert_clear_error(error)
    assert invoice.status == InvoiceStatus.FAILED
    assert invoice.failure_reason


# -- verification: refresh and the notify view's server-side read --------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("alias", ALIASES)
def test_refresh_fault_keeps_invoice_pending(
    router: EmulatorRouter, alias: str, fault: Fault, signal_log: Any
) -> None:
    gateway = driver(alias)
    invoice = gateway.start(gateway.make_order())
    assert invoice.status == InvoiceStatus.PENDING
    gateway.settle_at_gateway(router, invoice, "paid")
    changes = signal_log.count("invoice_status_changed")
    with faulty(router, fault) as hit, pytest.raises(MultipayError) as raised:
        payments.refresh(invoice)
    assert hit
    assert_clear_error(raised.value)
    assert status_of(invoice) == InvoiceStatus.PENDING
    assert signal_log.count("invoice_status_changed") == changes
    # Reconciliation settles it once the gateway answers again.
    payments.refresh(invoice)
    assert status_of(invoice) in (InvoiceStatus.PAID, InvoiceStatus.AUTHORIZED)


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("alias", ALIASES)
def test_notification_read_fault_is_stored_failed_for_retry(
    router: EmulatorRouter, alias: str, fault: Fault
) -> None:
    gateway = driver(alias)
    invoice = gateway.start(gateway.make_order())
    gateway.settle_at_gateway(router, invoice, "paid")
    body, headers = gateway.notification(invoice)
    with faulty(router, fault) as hit:
        response = gateway.post_notification(body, headers)
    stored = Notification.objects.filter(gateway=alias).latest("received_at")
    assert hit  # every backend reads the status back server-to-server
    assert response.status_code == 503, response.content
    assert stored.result == NotificationResult.FAILED
    assert stored.reason
    assert status_of(invoice) == InvoiceStatus.PENDING
    payments.refresh(invoice)
    assert status_of(invoice) in (InvoiceStatus.PAID, InvoiceStatus.AUTHORIZED)


# -- capture ---------------------------------------------------------------------------------------

#: Aliases that hold a payment as authorized until the shop captures it (Postpay: an approved
#: order the shop has read but not yet captured on the customer's return).
HOLDING_ALIASES = ["dummy-manual", "paylands-deferred", "portone-preauth", "postpay"]


def authorized_invoice(router: EmulatorRouter, gateway: GatewayContract) -> Invoice:
    invoice = gateway.start(gateway.make_order())
    if gateway.alias == "postpay":
        # Approved at the checkout; the customer has not come back (no webhook registered).
        test_postpay.choose(router, invoice, "approve")
    else:
        gateway.complete_payment(router, invoice, "paid")
    payments.refresh(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AUTHORIZED, invoice.status
    return invoice


@pytest.mark.parametrize("step", ["read", "write"])
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("alias", HOLDING_ALIASES)
def test_capture_fault_keeps_invoice_authorized(
    router: EmulatorRouter, alias: str, fault: Fault, step: str
) -> None:
    gateway = driver(alias)
    invoice = authorized_invoice(router, gateway)

    def is_write(request: requests.PreparedRequest) -> bool:
        return request.method != "GET"

    match = is_write if step == "write" else (lambda request: not is_write(request))
    with faulty(router, fault, match, lose_webhooks=True) as hit:
        error = outcome_of(payments.capture, invoice)
    assert hit
    if error is None:
        # An answer the backend needs nothing from: it read the capture back from the gateway.
        assert fault.name == "missing_fields"
        assert step == "write"
        assert status_of(invoice) == InvoiceStatus.PAID
    else:
        assert_clear_error(error)
        assert status_of(invoice) == InvoiceStatus.AUTHORIZED
    # Reconciliation: read the truth, then capture whatever is still uncaptured. Once.
    payments.refresh(invoice)
    invoice.refresh_from_db()
    if invoice.status == InvoiceStatus.AUTHORIZED:
        payments.capture(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == invoice.amount


# -- refunds ---------------------------------------------------------------------------------------

REFUND_ALIASES = [a for a in ALIASES if get_gateway(a).supports("refund")]
# Every gateway with refunds can list them: that is how reconciliation settles them.
assert all(get_gateway(a).supports("list_refunds") for a in REFUND_ALIASES)


def paid_invoice(router: EmulatorRouter, gateway: GatewayContract) -> Invoice:
    invoice = gateway.start(gateway.make_order())
    gateway.complete_payment(router, invoice, "paid")
    payments.refresh(invoice)
    invoice.refresh_from_db()
    if invoice.status == InvoiceStatus.AUTHORIZED:
        payments.capture(invoice)
        invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID, invoice.status
    return invoice


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("alias", REFUND_ALIASES)
def test_refund_fault_is_never_sent_twice(router: EmulatorRouter, alias: str, fault: Fault) -> None:
    gateway = driver(alias)
    backend = get_gateway(alias)
    invoice = paid_invoice(router, gateway)
    amount = (invoice.amount / 2).quantize(Decimal("0.01"))
    key = f"fault-{fault.name}"
    refund_call = is_refund_call(alias)

    def sent() -> int:
        return sum(1 for r in router.calls if refund_call(r))

    with faulty(router, fault, refund_call, lose_webhooks=True) as hit:
        error = outcome_of(payments.refund, invoice, amount, idempotency_key=key)
    assert len(hit) == 1
    refund = Refund.objects.get(idempotency_key=key)
    reached = 1 if fault.reaches_gateway else 0
    assert sent() == reached
    if error is None:
        # A 2xx the backend could not read a refund from: accepted, settled from the list.
        assert fault.name == "missing_fields"
        assert refund.status == RefundStatus.PENDING
    else:
        assert_clear_error(error)
    if fault.refusal:
        assert isinstance(error, RefundError)
        assert refund.status == RefundStatus.FAILED
        assert refund.failure_reason
        assert payments.refund(invoice, amount, idempotency_key=key).pk == refund.pk
        assert sent() == reached
        return
    assert status_of(invoice) == InvoiceStatus.PAID
    assert invoice.refunds.get().pk == refund.pk

    # The caller tries again with the same key.
    if refund.status != RefundStatus.REQUESTED:
        assert payments.refund(invoice, amount, idempotency_key=key).pk == refund.pk
        assert sent() == reached
    elif backend.capabilities.idempotent_refunds:
        again = payments.refund(invoice, amount, idempotency_key=key)
        assert again.pk == refund.pk
        assert sent() == reached + 1
        assert again.status in (RefundStatus.SUCCEEDED, RefundStatus.PENDING)
        # Same key on the wire each time: the gateway makes one refund of it.
        on_wire = [r for r in router.calls if refund_call(r)]
        assert all(key in r.headers.get("Idempotency-Key", "") + _body(r) for r in on_wire)
    else:
        with pytest.raises(RefundError) as refused:
            payments.refund(invoice, amount, idempotency_key=key)
        assert refused.value.code == "refund_outcome_unknown"
        assert str(refused.value)
        assert sent() == reached

    # Later, reconciliation reads the gateway's refunds and settles ours, once.
    made = fault.reaches_gateway or backend.capabilities.idempotent_refunds
    payments.sync_refunds(invoice)
    refund.refresh_from_db()
    invoice.refresh_from_db()
    at_gateway = backend.list_refunds(invoice)
    if alias in REFUNDS_NOT_LISTED and made:
        # Nothing names the refund: it stays requested for an operator, never counted twice.
        assert refund.status == RefundStatus.REQUESTED
        assert invoice.refunded_amount == Decimal(0)
    elif made:
        assert [r.amount for r in at_gateway] in ([amount], [])
        assert refund.status == RefundStatus.SUCCEEDED, refund.status
        assert invoice.refunded_amount == amount
        assert status_of(invoice) == InvoiceStatus.PARTIALLY_REFUNDED
    else:
        # The gateway's record accounts for every refund but this one: it was not made, and
        # its amount is free again.
        assert at_gateway == []
        assert refund.status == RefundStatus.FAILED, refund.status
        assert invoice.refunded_amount == Decimal(0)
    assert Refund.objects.filter(invoice=invoice).count() == 1


# -- the HTTP client's own retries -----------------------------------------------------------------


def test_reads_are_retried_only_when_the_alias_allows_it(router: EmulatorRouter) -> None:
    gateway = driver("dummy")
    invoice = gateway.start(gateway.make_order())
    fault = Fault("http_503", reaches_gateway=False)

    def first_two(request: requests.PreparedRequest) -> bool:
        return len(hit) < 2

    # The test settings: no retries, so one 503 on a read is the caller's error.
    with faulty(router, fault) as hit, pytest.raises(MultipayError):
        payments.refresh(invoice)
    assert len(hit) == 1

    config = copy.deepcopy(settings.MULTIPAY)
    config.update(HTTP_RETRIES=2, HTTP_BACKOFF=0)
    with override_settings(MULTIPAY=config):
        with faulty(router, fault, first_two) as hit:
            payments.refresh(invoice)  # GET: 503, 503, then the emulator's answer
        assert [r.method for r in hit] == ["GET", "GET"]
        assert status_of(invoice) == InvoiceStatus.PENDING
        gateway.complete_payment(router, invoice, "paid")
        invoice.refresh_from_db()
        order = gateway.make_order()
        with (
            faulty(router, fault, lambda request: request.method == "POST") as hit,
            pytest.raises(MultipayError),
        ):
            payments.start_payment(order, "dummy")
        assert [r.method for r in hit] == ["POST"]  # a write is never repeated
        with (
            faulty(router, Fault("connection_reset", False), first_two) as hit,
            pytest.raises(GatewayConnectionError),
        ):
            payments.refund(invoice, idempotency_key="retry-post")
        assert [r.method for r in hit] == ["POST"]


def test_lost_refunds_settle_one_reported_refund_each(router: EmulatorRouter) -> None:
    """Two refunds of one amount whose answers were lost; the gateway made only the first."""
    gateway = driver("paylands")
    invoice = paid_invoice(router, gateway)
    amount = Decimal("10.00")
    refund_call = is_refund_call("paylands")
    for key, fault in (("lost-made", FAULTS[0]), ("lost-not-made", FAULTS[1])):
        with faulty(router, fault, refund_call, lose_webhooks=True):
            assert isinstance(
                outcome_of(payments.refund, invoice, amount, idempotency_key=key), MultipayError
            )
    assert sum(1 for r in router.calls if refund_call(r)) == 1
    # The two cannot be told apart: the gateway made one refund of 10.00 and two of ours,
    # both unanswered, could be it. Neither is settled by the other's line; both stay for a
    # person, and the books count nothing the gateway may not have made.
    assert payments.sync_refunds(invoice) == []
    statuses = sorted(Refund.objects.filter(invoice=invoice).values_list("status", flat=True))
    assert statuses == [RefundStatus.REQUESTED, RefundStatus.REQUESTED]
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal(0)
