"""Gateway faults on every alias: clear errors, reconcilable invoices, refunds never sent twice."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import requests
import responses

from django_multipay import payments
from django_multipay.exceptions import MultipayError, RefundError, RefundRefused
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.registry import get_gateway
from django_multipay.status import InvoiceStatus, NotificationResult, RefundStatus
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.router import EmulatorRouter
from tests.contracts import GatewaySuite

GATEWAY_HOST = re.compile(r"^https?://testserver(:\d+)?/")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def path_of(request: requests.PreparedRequest) -> str:
    return urlsplit(request.url or "").path


def body_of(request: requests.PreparedRequest) -> str:
    body = request.body or b""
    return body.decode() if isinstance(body, bytes) else str(body)


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
        if lose_webhooks and "/payments/notify/" in path_of(request):
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


#: On each fault test (not autouse: the attacks share the class).
judged_at_once = pytest.mark.usefixtures("judge_lost_refunds_at_once")


class FaultContract(GatewaySuite):
    """Gateway faults (timeouts, resets, 5xx, 429, HTML, broken JSON) on every call an alias
    makes: a clear error, an invoice reconciliation can settle, a refund never sent twice.

    Mix it (with :class:`~tests.contracts.attacks.AttackContract`) into a ``Test...`` class
    in the gateway's test module, set ``contract``, fill in :meth:`is_refund_call`, and say
    whether the alias ``holds`` payments for capture and whether its refund record
    ``names_refunds``.
    """

    #: The alias holds a payment as authorized until the shop captures it.
    holds: ClassVar[bool] = False
    #: The gateway's refund record names each refund (or its amount), so reconciliation can
    #: settle a refund whose answer was lost. PortWallet and PortPos list no refunds and give
    #: no refunded total while an invoice is refunded in part (docs/gateways/portwallet.md,
    #: portpos.md): such a refund is left for an operator.
    names_refunds: ClassVar[bool] = True

    # -- hooks -----------------------------------------------------------------------------

    def is_refund_call(self, request: requests.PreparedRequest) -> bool:
        """Whether ``request`` asks the gateway for a refund (its documented refund call)."""
        raise NotImplementedError

    def authorize(self, router: EmulatorRouter, invoice: Invoice) -> None:
        """Act as the customer so that the gateway holds the payment (``holds`` aliases)."""
        self.driver.complete_payment(router, invoice, "paid")

    def authorized_invoice(self, router: EmulatorRouter) -> Invoice:
        gateway = self.driver
        invoice = gateway.start(gateway.make_order())
        self.authorize(router, invoice)
        payments.refresh(invoice)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.AUTHORIZED, invoice.status
        return invoice

    # -- fixtures --------------------------------------------------------------------------

    @pytest.fixture
    def judge_lost_refunds_at_once(self, settings: Any) -> None:
        """Reconciliation here runs long after the lost answers: no call is still in flight."""
        settings.MULTIPAY = {**settings.MULTIPAY, "REFUND_SETTLE_UNKNOWN_AFTER": 0}

    # -- start payment ---------------------------------------------------------------------

    @judged_at_once
    @pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
    def test_start_payment_fault_fails_invoice_with_reason(
        self, router: EmulatorRouter, fault: Fault
    ) -> None:
        alias, gateway = self.alias, self.driver
        order = gateway.make_order()
        with faulty(router, fault) as hit:
            error = outcome_of(payments.start_payment, order, alias)
        invoice = Invoice.objects.get(order=order)
        assert hit
        assert error is not None, f"{alias} accepted a faulty answer ({fault.name})"
        assert_clear_error(error)
        assert invoice.status == InvoiceStatus.FAILED
        assert invoice.failure_reason

    # -- verification: refresh and the notify view's server-side read ----------------------

    @judged_at_once
    @pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
    def test_refresh_fault_keeps_invoice_pending(
        self, router: EmulatorRouter, fault: Fault, signal_log: Any
    ) -> None:
        gateway = self.driver
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

    @judged_at_once
    @pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
    def test_notification_read_fault_is_stored_failed_for_retry(
        self, router: EmulatorRouter, fault: Fault
    ) -> None:
        alias, gateway = self.alias, self.driver
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

    # -- capture ---------------------------------------------------------------------------

    @judged_at_once
    @pytest.mark.parametrize("step", ["read", "write"])
    @pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
    def test_capture_fault_keeps_invoice_authorized(
        self, router: EmulatorRouter, fault: Fault, step: str
    ) -> None:
        if not self.holds:
            pytest.skip("the alias holds no payment for capture (holds = False)")
        invoice = self.authorized_invoice(router)

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

    # -- refunds ---------------------------------------------------------------------------

    @judged_at_once
    @pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
    def test_refund_fault_is_never_sent_twice(self, router: EmulatorRouter, fault: Fault) -> None:
        alias, gateway = self.alias, self.driver
        backend = get_gateway(alias)
        if not backend.supports("refund"):
            pytest.skip("backend does not refund")
        # Every gateway with refunds can list them: that is how reconciliation settles them.
        assert backend.supports("list_refunds")
        invoice = paid_invoice(router, gateway)
        amount = (invoice.amount / 2).quantize(Decimal("0.01"))
        key = f"fault-{fault.name}"
        refund_call = self.is_refund_call

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
            assert all(key in r.headers.get("Idempotency-Key", "") + body_of(r) for r in on_wire)
        else:
            # The core refuses it, before any call: the refund may have reached the gateway.
            with pytest.raises(RefundRefused) as refused:
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
        if not self.names_refunds and made:
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
