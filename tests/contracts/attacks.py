"""Forged, replayed, tampered and malformed notifications and return URLs change nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from django_multipay import money, payments
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.contracts import GatewaySuite, backend_module

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

#: Every way a gateway may write an invoice's amount, by name (``AttackContract.amount_forms``).
AMOUNT_FORMS: dict[str, Callable[[Invoice], str]] = {
    "decimal": lambda invoice: money.format_decimal(invoice.amount, invoice.currency),
    "minor": lambda invoice: str(money.to_minor_units(invoice.amount, invoice.currency)),
    "normalized": lambda invoice: str(invoice.amount.normalize()),
    "float": lambda invoice: str(float(invoice.amount)),
}
STATE_SIGNALS = (
    "invoice_status_changed",
    "order_paid",
    "order_status_changed",
    "refund_status_changed",
)
FORGED_QUERIES = [
    {"status": "paid"},
    {"status": "ACCEPTED", "amount": "1.00"},
    {"order_id": "forged", "status": "APPROVED"},
    {"code": "200", "result": "success", "paid": "true"},
    {"payment_status": "Success", "signature_hash": "0" * 64, "order_ref": "forged"},
]


# -- rewriting values wherever they are in a JSON or form body ---------------------------------


def _rewrite(value: Any, change: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, change) for v in value]
    return change(value)


def rewrite(body: bytes, change: Any) -> bytes:
    """``body`` (JSON or a form) with every scalar value passed through ``change``."""
    try:
        payload = json.loads(body)
    except ValueError:
        fields = parse_qsl(body.decode(), keep_blank_values=True)
        return urlencode([(k, change(v)) for k, v in fields]).encode()
    return json.dumps(_rewrite(payload, change)).encode()


def tamper_currency(invoice: Invoice, body: bytes) -> bytes:
    other = "USD"

    def change(value: Any) -> Any:
        return other if value == invoice.currency else value

    tampered = rewrite(body, change)
    assert tampered != rewrite(body, lambda v: v), "the currency was not found in the body"
    return tampered


def unknown_invoice(invoice: Invoice, body: bytes) -> bytes:
    """The notification naming an invoice nobody has (our id and the gateway's replaced)."""
    ours, theirs = str(invoice.pk), str(invoice.gateway_id)

    def change(value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace(ours, "00000000-0000-4000-8000-000000000000")
            return value.replace(theirs, "unknown" + theirs[-6:]) if theirs else value
        return value

    tampered = rewrite(body, change)
    assert tampered != rewrite(body, lambda v: v), "the invoice was not found in the body"
    return tampered


# -- posting and judging -------------------------------------------------------------------------


def post(alias: str, body: bytes, headers: dict[str, str]) -> Any:
    content_type = headers.get("Content-Type", JSON)
    extra = {k: v for k, v in headers.items() if k != "Content-Type"}
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": alias}),
        data=body,
        content_type=content_type,
        headers=extra,
    )


def state(invoice: Invoice) -> tuple[Any, ...]:
    """Everything an attack must not change: the invoice, its order and its refunds."""
    found = Invoice.objects.select_related("order").get(pk=invoice.pk)
    refunds = tuple(Refund.objects.filter(invoice=found).values_list("pk", "status", "amount"))
    return (
        found.status,
        found.captured_amount,
        found.refunded_amount,
        found.gateway_id,
        found.order.status,
        refunds,
    )


def refused(
    alias: str,
    invoice: Invoice,
    before: tuple[Any, ...],
    response: Any,
    log: SignalLog,
    *,
    to: str = "",
) -> Notification:
    """Assert the attack was answered 4xx with a reason, stored rejected, and changed nothing."""
    assert 400 <= response.status_code < 500, (response.status_code, response.content)
    assert response.content.strip(), "the answer gives no reason"
    stored = Notification.objects.filter(gateway=to or alias).latest("received_at")
    assert stored.result == NotificationResult.REJECTED, (stored.result, stored.reason)
    assert stored.reason
    assert state(invoice) == before
    for name in STATE_SIGNALS:
        assert log.count(name) == 0, name
    return stored


class AttackContract(GatewaySuite):
    """Attacks on an alias's notify and return URLs: each is refused and changes nothing.

    Mix it (with :class:`~tests.contracts.faults.FaultContract`) into a ``Test...`` class in
    the gateway's test module, set ``contract``, fill in :meth:`genuine` and declare how the
    gateway signs (``signed``, ``signature_field``, ``timestamped``), what it sends
    (``content_type``, ``amount_forms``) and, where the default does not fit, ``sibling``.
    """

    #: Where the gateway signs its notifications: ``"header"`` (one header besides
    #: Content-Type), ``"body"`` (the body's ``signature_field``) or ``""`` (unsigned: every
    #: notification is read back from the gateway).
    signed: ClassVar[str] = ""
    signature_field: ClassVar[str] = ""
    #: The signature carries a timestamp, so an old notification is refused as a replay.
    timestamped: ClassVar[bool] = False
    content_type: ClassVar[str] = JSON
    #: The names (in ``AMOUNT_FORMS``) of the ways the gateway writes an amount.
    amount_forms: ClassVar[tuple[str, ...]] = tuple(AMOUNT_FORMS)
    #: The alias a notification is sent to in the "another alias" attack. Empty: another
    #: alias of the same backend if there is one, else the first alias of another backend.
    sibling: ClassVar[str] = ""

    # -- hooks -----------------------------------------------------------------------------

    def genuine(self, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The notification the gateway sends for the invoice's state, signed with the
        alias's own secret (at time ``at`` where the signature carries one)."""
        raise NotImplementedError

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """A genuine notification forged (a pending payment claimed paid): the contract's."""
        return self.driver.forge(body, headers)

    def forge_signature(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """The notification with its signature replaced by a wrong one of the same shape."""
        if self.signed == "header":
            name = next(k for k in headers if k != "Content-Type")
            value = headers[name]
            wrong = value[:-4] + ("0000" if value[-4:] != "0000" else "1111")
            return body, {**headers, name: wrong}
        payload = json.loads(body)
        payload[self.signature_field] = "0" * len(str(payload[self.signature_field]))
        return json.dumps(payload).encode(), headers

    def strip_signature(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """The notification with no signature at all."""
        if self.signed == "header":
            return body, {"Content-Type": headers["Content-Type"]}
        payload = json.loads(body)
        assert self.signature_field in payload
        del payload[self.signature_field]
        return json.dumps(payload).encode(), headers

    def settle_paid(self, invoice: Invoice) -> None:
        """Make the gateway hold the invoice as paid without telling the shop."""
        # The contracts' silent settlements change the emulator's state, with no router.
        self.driver.settle_at_gateway(None, invoice, "paid")  # type: ignore[arg-type]

    def leave_pending(self, router: EmulatorRouter, invoice: Invoice) -> None:
        """Act as the customer, where needed, so that the gateway has a pending payment."""

    def sibling_alias(self) -> str:
        if self.sibling:
            return self.sibling
        aliases = list(settings.MULTIPAY["GATEWAYS"])
        own = backend_module(self.alias)
        same = [a for a in aliases if a != self.alias and backend_module(a) == own]
        return (same or [a for a in aliases if backend_module(a) != own])[0]

    def tamper_amount(self, invoice: Invoice, body: bytes) -> bytes:
        forms = {AMOUNT_FORMS[name](invoice) for name in self.amount_forms}

        def change(value: Any) -> Any:
            if isinstance(value, bool) or value is None:
                return value
            if str(value) in forms:
                return type(value)(str(value).replace("1", "2", 1).replace("8", "9", 1))
            return value

        tampered = rewrite(body, change)
        assert tampered != rewrite(body, lambda v: v), "the amount was not found in the body"
        return tampered

    # -- fixtures --------------------------------------------------------------------------

    @pytest.fixture
    def started(self, router: EmulatorRouter) -> Invoice:
        """A pending invoice at the alias."""
        order = self.driver.make_order()
        payments.start_payment(order, self.alias)
        invoice = Invoice.objects.get(order=order)
        self.leave_pending(router, invoice)
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PENDING
        return invoice

    # -- the attacks -----------------------------------------------------------------------

    def test_the_genuine_notification_is_accepted(
        self, started: Invoice, signal_log: SignalLog
    ) -> None:
        # What every attack below starts from is what the gateway really sends.
        alias, invoice = self.alias, started
        before = state(invoice)
        response = post(alias, *self.genuine(invoice))
        assert response.status_code == 200, response.content
        stored = Notification.objects.filter(gateway=alias).latest("received_at")
        assert stored.result in (NotificationResult.DUPLICATE, NotificationResult.IGNORED)
        assert state(invoice) == before

    def test_forged_notification(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        before = state(invoice)
        body, headers = self.forge(*self.genuine(invoice))
        refused(alias, invoice, before, post(alias, body, headers), signal_log)

    def test_forged_signature(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        if not self.signed:
            pytest.skip(
                "notifications are unsigned: every one is read back (test_forged_notification)"
            )
        body, headers = self.forge_signature(*self.genuine(invoice))
        before = state(invoice)
        refused(alias, invoice, before, post(alias, body, headers), signal_log)

    def test_missing_signature(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        if not self.signed:
            pytest.skip(
                "notifications are unsigned: every one is read back (test_forged_notification)"
            )
        before = state(invoice)
        body, headers = self.strip_signature(*self.genuine(invoice))
        refused(alias, invoice, before, post(alias, body, headers), signal_log)

    def test_replayed_old_notification(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        if self.timestamped:
            before = state(invoice)
            body, headers = self.genuine(invoice, at=int(time.time()) - 24 * 3600)
            stored = refused(alias, invoice, before, post(alias, body, headers), signal_log)
            assert "tolerance" in stored.reason or "replay" in stored.reason
            return
        # No timestamp to refuse it by: a replay is read back, so an old "pending" after the
        # payment changes nothing.
        old = self.genuine(invoice)
        self.settle_paid(invoice)
        payments.refresh(invoice)
        invoice.refresh_from_db()
        assert invoice.status in (InvoiceStatus.PAID, InvoiceStatus.AUTHORIZED)
        before = state(invoice)
        signal_log.sent.clear()
        response = post(alias, *old)
        assert response.status_code < 500
        assert state(invoice) == before
        for name in STATE_SIGNALS:
            assert signal_log.count(name) == 0, name

    def test_tampered_amount(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        body, headers = self.genuine(invoice)
        before = state(invoice)
        tampered = self.tamper_amount(invoice, body)
        refused(alias, invoice, before, post(alias, tampered, headers), signal_log)

    def test_tampered_currency(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        body, headers = self.genuine(invoice)
        if invoice.currency.encode() not in body:
            pytest.skip("the notification does not name the currency")
        before = state(invoice)
        tampered = tamper_currency(invoice, body)
        refused(alias, invoice, before, post(alias, tampered, headers), signal_log)

    def test_unknown_invoice(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        body, headers = self.genuine(invoice)
        before = state(invoice)
        refused(
            alias, invoice, before, post(alias, unknown_invoice(invoice, body), headers), signal_log
        )

    def test_another_alias_invoice(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        other = self.sibling_alias()
        before = state(invoice)
        stored = refused(
            alias, invoice, before, post(other, *self.genuine(invoice)), signal_log, to=other
        )
        assert stored.invoice_id is None or stored.invoice_id != invoice.pk

    @pytest.mark.parametrize(
        "body", [b'{"broken', b"\xff\xfe\x00garbage", b"", b"[]", b"a=1&b", b'{"data": 5}']
    )
    def test_malformed_body(self, started: Invoice, signal_log: SignalLog, body: bytes) -> None:
        alias, invoice = self.alias, started
        before = state(invoice)
        headers = {"Content-Type": self.content_type}
        refused(alias, invoice, before, post(alias, body, headers), signal_log)

    def test_wrong_content_type(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        body, headers = self.forge(*self.genuine(invoice))
        wrong = FORM if self.content_type == JSON else JSON
        before = state(invoice)
        mislabelled = {**headers, "Content-Type": wrong}
        refused(alias, invoice, before, post(alias, body, mislabelled), signal_log)
        # Even the genuine body under another content type changes nothing.
        genuine_body, genuine_headers = self.genuine(invoice)
        response = post(alias, genuine_body, {**genuine_headers, "Content-Type": wrong})
        assert response.status_code < 500
        assert state(invoice) == before
        xml = {**headers, "Content-Type": "text/xml"}
        refused(alias, invoice, before, post(alias, b"<notification/>", xml), signal_log)

    def test_oversized_body(self, started: Invoice, signal_log: SignalLog) -> None:
        alias, invoice = self.alias, started
        body, headers = self.genuine(invoice)
        limit = 4096
        padding = b" " * (limit + 1) if self.content_type == JSON else b"&pad=" + b"x" * limit
        before = state(invoice)
        with override_settings(MULTIPAY={**settings.MULTIPAY, "MAX_NOTIFICATION_BYTES": limit}):
            response = post(alias, body + padding, headers)
        assert response.status_code == 413
        stored = refused(alias, invoice, before, response, signal_log)
        assert len(stored.body.encode()) <= limit

    # -- return URLs -----------------------------------------------------------------------

    @pytest.mark.parametrize("query", FORGED_QUERIES, ids=lambda q: "&".join(q))
    def test_forged_return_query_changes_nothing(
        self, started: Invoice, signal_log: SignalLog, query: dict[str, str]
    ) -> None:
        invoice = started
        before = state(invoice)
        url = reverse("django_multipay:return", kwargs={"invoice_id": invoice.pk})
        response = Client().get(url, query)
        assert response.status_code < 500
        assert state(invoice) == before
        for name in STATE_SIGNALS:
            assert signal_log.count(name) == 0, name
        # Still pending, so the customer reads "being confirmed": the query decided nothing.
        assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING
