"""Forged, replayed, tampered and malformed notifications and return URLs change nothing."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from django_multipay import money, payments
from django_multipay.gateways import dummy as dummy_backend
from django_multipay.gateways import postpay as postpay_backend
from django_multipay.gateways.paylands_hash import php_json
from django_multipay.gateways.portone import dumps
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.sandbox import dummy as dummy_emulator
from django_multipay.sandbox import paylands as paylands_emulator
from django_multipay.sandbox import portone as portone_emulator
from django_multipay.sandbox import portpos as portpos_emulator
from django_multipay.sandbox import portwallet as portwallet_emulator
from django_multipay.sandbox import postpay as postpay_emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from tests.gateways import (
    test_dummy,
    test_paylands,
    test_portone,
    test_portpos,
    test_portwallet,
    test_postpay,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def option(alias: str, name: str) -> str:
    return str(settings.MULTIPAY["GATEWAYS"][alias]["OPTIONS"][name])


@dataclass(frozen=True)
class Kind:
    """How one backend's notifications look: which contract settles it, where it signs."""

    contract: type
    currency: str
    amount: Decimal
    #: "header" (timestamped HMAC header), "body" (a hash field in the body) or "" (unsigned).
    signed: str
    #: True if the signature carries a timestamp (an old one is refused as a replay).
    timestamped: bool
    content_type: str


KINDS: dict[str, Kind] = {
    "dummy": Kind(test_dummy.TestDummyContract, "EUR", Decimal("100.00"), "header", True, JSON),
    "postpay": Kind(
        test_postpay.TestPostpayContract, "AED", Decimal("814.80"), "header", True, JSON
    ),
    "portone": Kind(
        test_portone.TestPortOneContract, "EUR", Decimal("100.00"), "body", False, JSON
    ),
    "paylands": Kind(
        test_paylands.TestPaylandsContract, "EUR", Decimal("100.00"), "body", False, JSON
    ),
    "portpos": Kind(test_portpos.TestPortPosContract, "BDT", Decimal("100.00"), "", False, FORM),
    "portwallet": Kind(
        test_portwallet.TestPortWalletContract, "BDT", Decimal("100.00"), "", False, FORM
    ),
}


def backend_of(alias: str) -> str:
    """The short name of the alias's backend module (``dummy``, ``portone``...)."""
    return settings.MULTIPAY["GATEWAYS"][alias]["BACKEND"].split(".")[-2]


def aliases() -> list[str]:
    return list(settings.MULTIPAY["GATEWAYS"])


def kind(alias: str) -> Kind:
    return KINDS[backend_of(alias)]


def contract(alias: str) -> Any:
    """The backend's contract test class, bound to ``alias`` (not collected as a test)."""
    base = kind(alias).contract
    return type(f"Bound{base.__name__}", (base,), {"alias": alias, "__test__": False})()


#: The alias each alias's notifications are sent to in the "another alias" attack: an alias
#: of the same backend where there is one, else another backend.
SIBLING = {
    "dummy": "dummy-manual",
    "dummy-manual": "dummy",
    "portone": "portone-preauth",
    "portone-preauth": "portone",
    "portone-link": "portone",
    "paylands": "paylands-deferred",
    "paylands-deferred": "paylands",
    "postpay": "dummy",
    "portpos": "portwallet",
    "portwallet": "portpos",
}


def genuine(alias: str, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The notification the gateway sends for the invoice's state, signed with the alias's
    own secret (at time ``at`` where the signature carries one)."""
    backend = backend_of(alias)
    stamp = int(time.time()) if at is None else at
    if backend == "dummy":
        with store.table("dummy.payments") as table:
            payment = table[invoice.gateway_id]
        body = json.dumps(dummy_emulator.notification_for(payment)).encode()
        signature = dummy_backend.sign(option(alias, "webhook_secret"), stamp, body)
        return body, {"Content-Type": JSON, dummy_backend.SIGNATURE_HEADER: signature}
    if backend == "postpay":
        body = json.dumps(postpay_emulator.order_event(test_postpay.emulated_order(invoice)))
        signature = postpay_backend.signature(option(alias, "webhook_secret"), stamp, body.encode())
        return body.encode(), {"Content-Type": JSON, postpay_backend.SIGNATURE_HEADER: signature}
    if backend == "portone":
        txn = portone_transaction(invoice)
        payload = portone_emulator.webhook_for(txn, option(alias, "secret_key"))
        return dumps(payload).encode(), {"Content-Type": JSON}
    if backend == "paylands":
        payload = paylands_emulator.notification_for(test_paylands.emulated_order(invoice))
        return php_json(payload).encode(), {"Content-Type": JSON}
    if backend == "portpos":
        fields = portpos_emulator.ipn_fields(test_portpos.stored(invoice))
        return urlencode(fields).encode(), {"Content-Type": FORM}
    if backend == "portwallet":
        with store.table("portwallet.invoices") as table:
            fields = portwallet_emulator.ipn_for(table[invoice.gateway_id])
        return urlencode(fields).encode(), {"Content-Type": FORM}
    raise AssertionError(f"no notification builder for {alias}")


def portone_transaction(invoice: Invoice) -> dict[str, Any]:
    """The emulator's transaction of a channel payment, or of a payment link's payment."""
    with store.table(portone_emulator.TRANSACTIONS) as table:
        return next(
            t
            for t in table.values()
            if invoice.gateway_id in (t["order_ref"], t.get("payment_link_ref"))
        )


def settle_paid(alias: str, invoice: Invoice) -> None:
    """Make the gateway hold the invoice as paid without telling the shop."""
    if backend_of(alias) == "portone":
        txn = portone_transaction(invoice)
        with store.table(portone_emulator.TRANSACTIONS):
            portone_emulator.settle(txn, "success")
        return
    contract(alias).settle_at_gateway(None, invoice, "paid")


def forge(alias: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The backend's own forgery of a genuine notification (a pending payment claimed paid)."""
    if backend_of(alias) == "portone" and b'"Pending"' in body:
        return body.replace(b'"Pending"', b'"Success"'), headers
    return contract(alias).forge(body, headers)


def without_signature(alias: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict]:
    signed = kind(alias).signed
    if signed == "header":
        return body, {"Content-Type": headers["Content-Type"]}
    payload = json.loads(body)
    field = {"portone": "signature_hash", "paylands": "validation_hash"}[backend_of(alias)]
    assert field in payload
    del payload[field]
    return json.dumps(payload).encode(), headers


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


def amount_forms(invoice: Invoice) -> set[str]:
    """Every way a gateway may write the invoice's amount."""
    minor = money.to_minor_units(invoice.amount, invoice.currency)
    text = money.format_decimal(invoice.amount, invoice.currency)
    return {text, str(minor), str(invoice.amount.normalize()), str(float(invoice.amount))}


def tamper_amount(invoice: Invoice, body: bytes) -> bytes:
    forms = amount_forms(invoice)

    def change(value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if str(value) in forms:
            return type(value)(str(value).replace("1", "2", 1).replace("8", "9", 1))
        return value

    tampered = rewrite(body, change)
    assert tampered != rewrite(body, lambda v: v), "the amount was not found in the body"
    return tampered


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


# -- the attacks ---------------------------------------------------------------------------------

ALIASES = aliases()
STATE_SIGNALS = (
    "invoice_status_changed",
    "order_paid",
    "order_status_changed",
    "refund_status_changed",
)


def post(alias: str, body: bytes, headers: dict[str, str]) -> Any:
    content_type = headers.get("Content-Type", JSON)
    extra = {k: v for k, v in headers.items() if k != "Content-Type"}
    return Client().post(
        reverse("django_multipay:notify", kwargs={"alias": alias}),
        data=body,
        content_type=content_type,
        headers=extra,
    )


def state(invoice: Invoice) -> tuple:
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


@pytest.fixture
def started(router: Any, request: Any) -> tuple[str, Invoice]:
    """A pending invoice at the parametrized alias."""
    alias = request.param
    spec = kind(alias)
    order = OrderFactory(amount=spec.amount, currency=spec.currency)
    payments.start_payment(order, alias)
    invoice = Invoice.objects.get(order=order)
    if alias == "portone-link":
        # A link has no payment until the customer starts one: leave it pending.
        page = urlsplit(invoice.redirect_url)
        answer = router.client.post(f"{page.path}?{page.query}", {"outcome": "pending"})
        assert answer.status_code == 302, answer.content
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    return alias, invoice


def refused(
    alias: str, invoice: Invoice, before: tuple, response: Any, log: SignalLog, *, to: str = ""
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


parametrize_started = pytest.mark.parametrize("started", ALIASES, indirect=True)


def test_every_alias_has_a_builder() -> None:
    assert set(ALIASES) <= set(SIBLING)
    for alias in ALIASES:
        assert backend_of(alias) in KINDS, alias


@parametrize_started
def test_the_genuine_notification_is_accepted(started: Any, signal_log: SignalLog) -> None:
    # What every attack below starts from is what the gateway really sends.
    alias, invoice = started
    before = state(invoice)
    response = post(alias, *genuine(alias, invoice))
    assert response.status_code == 200, response.content
    stored = Notification.objects.filter(gateway=alias).latest("received_at")
    assert stored.result in (NotificationResult.DUPLICATE, NotificationResult.IGNORED)
    assert state(invoice) == before


@parametrize_started
def test_forged_notification(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    before = state(invoice)
    body, headers = forge(alias, *genuine(alias, invoice))
    refused(alias, invoice, before, post(alias, body, headers), signal_log)


@parametrize_started
def test_forged_signature(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    if not kind(alias).signed:
        pytest.skip("notifications are unsigned: every one is read back (test_forged_notification)")
    body, headers = genuine(alias, invoice)
    if kind(alias).signed == "header":
        name = next(k for k in headers if k != "Content-Type")
        value = headers[name]
        headers = {**headers, name: value[:-4] + ("0000" if value[-4:] != "0000" else "1111")}
    else:
        field = {"portone": "signature_hash", "paylands": "validation_hash"}[backend_of(alias)]
        payload = json.loads(body)
        payload[field] = "0" * len(str(payload[field]))
        body = json.dumps(payload).encode()
    before = state(invoice)
    refused(alias, invoice, before, post(alias, body, headers), signal_log)


@parametrize_started
def test_missing_signature(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    if not kind(alias).signed:
        pytest.skip("notifications are unsigned: every one is read back (test_forged_notification)")
    before = state(invoice)
    body, headers = without_signature(alias, *genuine(alias, invoice))
    refused(alias, invoice, before, post(alias, body, headers), signal_log)


@parametrize_started
def test_replayed_old_notification(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    if kind(alias).timestamped:
        before = state(invoice)
        body, headers = genuine(alias, invoice, at=int(time.time()) - 24 * 3600)
        stored = refused(alias, invoice, before, post(alias, body, headers), signal_log)
        assert "tolerance" in stored.reason or "replay" in stored.reason
        return
    # No timestamp to refuse it by: a replay is read back, so an old "pending" after the
    # payment changes nothing.
    old = genuine(alias, invoice)
    settle_paid(alias, invoice)
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


@parametrize_started
def test_tampered_amount(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    body, headers = genuine(alias, invoice)
    before = state(invoice)
    refused(alias, invoice, before, post(alias, tamper_amount(invoice, body), headers), signal_log)


@parametrize_started
def test_tampered_currency(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    body, headers = genuine(alias, invoice)
    if invoice.currency.encode() not in body:
        pytest.skip("the notification does not name the currency")
    before = state(invoice)
    tampered = tamper_currency(invoice, body)
    refused(alias, invoice, before, post(alias, tampered, headers), signal_log)


@parametrize_started
def test_unknown_invoice(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    body, headers = genuine(alias, invoice)
    before = state(invoice)
    refused(
        alias, invoice, before, post(alias, unknown_invoice(invoice, body), headers), signal_log
    )


@parametrize_started
def test_another_alias_invoice(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    other = SIBLING[alias]
    before = state(invoice)
    stored = refused(
        alias, invoice, before, post(other, *genuine(alias, invoice)), signal_log, to=other
    )
    assert stored.invoice_id is None or stored.invoice_id != invoice.pk


@parametrize_started
@pytest.mark.parametrize(
    "body", [b'{"broken', b"\xff\xfe\x00garbage", b"", b"[]", b"a=1&b", b'{"data": 5}']
)
def test_malformed_body(started: Any, signal_log: SignalLog, body: bytes) -> None:
    alias, invoice = started
    before = state(invoice)
    headers = {"Content-Type": kind(alias).content_type}
    refused(alias, invoice, before, post(alias, body, headers), signal_log)


@parametrize_started
def test_wrong_content_type(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    body, headers = forge(alias, *genuine(alias, invoice))
    wrong = FORM if kind(alias).content_type == JSON else JSON
    before = state(invoice)
    refused(
        alias, invoice, before, post(alias, body, {**headers, "Content-Type": wrong}), signal_log
    )
    # Even the genuine body under another content type changes nothing.
    genuine_body, genuine_headers = genuine(alias, invoice)
    response = post(alias, genuine_body, {**genuine_headers, "Content-Type": wrong})
    assert response.status_code < 500
    assert state(invoice) == before
    xml = {**headers, "Content-Type": "text/xml"}
    refused(alias, invoice, before, post(alias, b"<notification/>", xml), signal_log)


@parametrize_started
def test_oversized_body(started: Any, signal_log: SignalLog) -> None:
    alias, invoice = started
    body, headers = genuine(alias, invoice)
    limit = 4096
    padding = b" " * (limit + 1) if kind(alias).content_type == JSON else b"&pad=" + b"x" * limit
    before = state(invoice)
    with override_settings(MULTIPAY={**settings.MULTIPAY, "MAX_NOTIFICATION_BYTES": limit}):
        response = post(alias, body + padding, headers)
    assert response.status_code == 413
    stored = refused(alias, invoice, before, response, signal_log)
    assert len(stored.body.encode()) <= limit


# -- return URLs -------------------------------------------------------------------------------

FORGED_QUERIES = [
    {"status": "paid"},
    {"status": "ACCEPTED", "amount": "1.00"},
    {"order_id": "forged", "status": "APPROVED"},
    {"code": "200", "result": "success", "paid": "true"},
    {"payment_status": "Success", "signature_hash": "0" * 64, "order_ref": "forged"},
]


@parametrize_started
@pytest.mark.parametrize("query", FORGED_QUERIES, ids=lambda q: "&".join(q))
def test_forged_return_query_changes_nothing(
    started: Any, signal_log: SignalLog, query: dict[str, str]
) -> None:
    _alias, invoice = started
    before = state(invoice)
    url = reverse("django_multipay:return", kwargs={"invoice_id": invoice.pk})
    response = Client().get(url, query)
    assert response.status_code < 500
    assert state(invoice) == before
    for name in STATE_SIGNALS:
        assert signal_log.count(name) == 0, name
    # Still pending, so the customer reads "being confirmed": the query decided nothing.
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


@pytest.mark.parametrize("alias", ["portone", "portone-preauth"])
def test_portone_signed_return_query_tampered_changes_nothing(
    router: Any, signal_log: SignalLog, alias: str
) -> None:
    order = OrderFactory(amount=Decimal("100.00"), currency="EUR")
    payments.start_payment(order, alias)
    invoice = Invoice.objects.get(order=order)
    # The customer leaves the hosted page with the payment still pending: a signed query.
    answer = router.client.post(
        f"/sandbox/portone/pay/{invoice.gateway_id}", {"outcome": "pending"}
    )
    assert answer.status_code == 302
    parts = urlsplit(answer["Location"])
    query = dict(parse_qsl(parts.query))
    assert query.get("signature_hash")
    invoice.refresh_from_db()
    before = state(invoice)
    signal_log.sent.clear()
    for field, value in (("status", "Success"), ("amount", "1.00"), ("currency", "USD")):
        if field in query:
            response = Client().get(parts.path, {**query, field: value})
            assert response.status_code == 302
            assert state(invoice) == before
    # The genuine query changes nothing either: the status is read back, and it is pending.
    assert Client().get(parts.path, query).status_code == 302
    assert state(invoice) == before
    for name in STATE_SIGNALS:
        assert signal_log.count(name) == 0, name
