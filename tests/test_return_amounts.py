"""Every return path compares the gateway's amount and currency with the invoice first.

For each gateway the payment is settled at its emulator without telling the shop, the
emulator's record is changed to another amount, and the customer comes back: nothing moves,
no signal is sent, and the mismatch is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from django_multipay import payments
from django_multipay.models import Invoice, Order
from django_multipay.sandbox import paylands as paylands_emulator
from django_multipay.sandbox import portone as portone_emulator
from django_multipay.sandbox import portpos as portpos_emulator
from django_multipay.sandbox import postpay as postpay_emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, OrderStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter

PORTONE_SECRET = "portone-secret-key-one-0123456789abcdef0123"


def make_order(currency: str, amount: str, **fields: Any) -> Order:
    found = OrderFactory(currency=currency, amount=Decimal(amount), **fields)
    assert isinstance(found, Order)
    return found


def start(order: Order, alias: str) -> Invoice:
    payments.start_payment(order, alias)
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.PENDING
    return invoice


def come_back(invoice: Invoice, query: str = "") -> None:
    response = Client().get(f"/payments/return/{invoice.pk}/" + (f"?{query}" if query else ""))
    assert response.status_code == 302


def assert_nothing_moved(
    invoice: Invoice, signal_log: SignalLog, caplog: pytest.LogCaptureFixture, amount: str
) -> None:
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.captured_amount == 0
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.PENDING
    assert signal_log.sent == []
    logged = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("django_multipay")
    ]
    assert any(str(invoice.pk) in m and f"amount {amount}" in m for m in logged), logged


# -- one per gateway: settle at the emulator with another amount, then return -----------------


def dummy_paid_with(invoice: Invoice, amount: str) -> str:
    with store.table("dummy.payments") as table:
        payment = table[invoice.gateway_id]
        payment.update(status="paid", amount=amount, captured_amount=amount)
    return ""


def portpos_paid_with(invoice: Invoice, amount: str) -> str:
    with store.table(portpos_emulator.TABLE) as table:
        found = table[invoice.gateway_id]
        portpos_emulator.settle_payment(found, "pay")
        found["order"]["amount"] = amount
    return ""


def portwallet_paid_with(invoice: Invoice, amount: str) -> str:
    with store.table("portwallet.invoices") as table:
        found = table[invoice.gateway_id]
        found.update(code=200, _card=True, amount=amount)
    return ""


def portone_paid_with(invoice: Invoice, amount: str) -> str:
    with store.table(portone_emulator.TRANSACTIONS) as table:
        txn = next(t for t in table.values() if t["order_ref"] == invoice.gateway_id)
        portone_emulator.settle(txn, "success")
        txn["amount"] = Decimal(amount)
    # PortOne sends the customer back with a signed query; it signs no amount.
    return portone_emulator.redirect_query(txn, PORTONE_SECRET)


def paylands_paid_with(invoice: Invoice, amount: str) -> str:
    minor = int(Decimal(amount) * 100)
    with store.table(paylands_emulator.ORDERS) as orders:
        order = orders[invoice.gateway_id]
        order["status"] = "SUCCESS"
        order["paid"] = True
        order["amount"] = minor
        order["transactions"].append(paylands_emulator._transaction("AUTHORIZATION", minor))
    return ""


CASES: dict[str, tuple[str, str, str, Callable[[Invoice, str], str]]] = {
    # alias: (currency, our amount, the gateway's amount, settle at the emulator)
    "dummy": ("EUR", "100.00", "1.00", dummy_paid_with),
    "portpos": ("BDT", "100.00", "9.99", portpos_paid_with),
    "portwallet": ("BDT", "100.00", "10.00", portwallet_paid_with),
    "portone": ("EUR", "100.00", "1.00", portone_paid_with),
    "paylands": ("EUR", "100.00", "1.00", paylands_paid_with),
}


@pytest.mark.parametrize("alias", list(CASES))
def test_a_return_with_another_gateway_amount_changes_nothing(
    router: EmulatorRouter, signal_log: SignalLog, caplog: pytest.LogCaptureFixture, alias: str
) -> None:
    currency, ours, theirs, paid_with = CASES[alias]
    invoice = start(make_order(currency, ours), alias)
    query = paid_with(invoice, theirs)
    signal_log.sent.clear()
    with caplog.at_level(logging.WARNING, logger="django_multipay"):
        come_back(invoice, query)
    assert_nothing_moved(invoice, signal_log, caplog, theirs)


@pytest.mark.parametrize("alias", list(CASES))
def test_a_return_with_the_same_amount_still_pays(
    router: EmulatorRouter, signal_log: SignalLog, alias: str
) -> None:
    currency, ours, _theirs, paid_with = CASES[alias]
    invoice = start(make_order(currency, ours), alias)
    come_back(invoice, paid_with(invoice, ours))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert signal_log.count("order_paid") == 1


# -- PortOne: the amount comes from transaction-details --------------------------------------


def test_portone_return_reads_the_amount_from_transaction_details(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = start(make_order("EUR", "100.00"), "portone")
    come_back(invoice, portone_paid_with(invoice, "100.00"))
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID
    # payment-openapi: the status read names no amount; transaction-details does.
    (details,) = router.requests_to(r"/api/portone-client-key-one/transaction-details$", "POST")
    assert invoice.gateway_id in (details.body or b"").decode()


def test_portone_return_with_another_currency_changes_nothing(
    router: EmulatorRouter, signal_log: SignalLog, caplog: pytest.LogCaptureFixture
) -> None:
    invoice = start(make_order("EUR", "100.00"), "portone")
    with store.table(portone_emulator.TRANSACTIONS) as table:
        txn = next(t for t in table.values() if t["order_ref"] == invoice.gateway_id)
        portone_emulator.settle(txn, "success")
        txn["currency"] = "SGD"
    signal_log.sent.clear()
    with caplog.at_level(logging.WARNING, logger="django_multipay"):
        come_back(invoice, portone_emulator.redirect_query(txn, PORTONE_SECRET))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert signal_log.sent == []
    assert any("currency SGD" in r.getMessage() for r in caplog.records)


def test_portone_link_return_with_another_amount_changes_nothing(
    router: EmulatorRouter, signal_log: SignalLog, caplog: pytest.LogCaptureFixture
) -> None:
    invoice = start(make_order("EUR", "100.00"), "portone-link")
    # The customer pays on PortOne's checkout page; it is settled there silently, for 1.00.
    with store.table(portone_emulator.LINKS) as links:
        link = links[invoice.gateway_id]
        data = {
            **link["data"],
            "amount": Decimal("1.00"),
            "merchant_order_id": f"{link['ref']}_1",
            "pmt_channel": "EMULATED",
            "pmt_method": "EMULATED_CARD",
        }
        txn = portone_emulator._new_transaction(
            {"client_key": link["_client_key"]},
            data,
            link_order_ref=link["merchant_order_ref"],
            payment_link_ref=link["ref"],
            created_at=timezone.now().isoformat(),
        )
        portone_emulator.settle(txn, "success")
        link["transactions"].append(txn)
        link["status"] = "Success"
    with store.table(portone_emulator.TRANSACTIONS) as table:
        table[txn["order_ref"]] = txn
    signal_log.sent.clear()
    with caplog.at_level(logging.WARNING, logger="django_multipay"):
        come_back(invoice)
    assert_nothing_moved(invoice, signal_log, caplog, "1.00")


# -- Postpay: compared before the capture, so nothing is captured -------------------------------


@pytest.fixture
def postpay_order(transactional_db: Any) -> Order:
    found = make_order(
        "AED", "814.80", tax_amount=Decimal("38.80"), shipping_amount=Decimal("20.00")
    )
    found.items.create(
        reference="sku-01",
        name="Wild Flower Eau de Parfum (50ml)",
        unit_price=Decimal("840.00"),
        quantity=1,
        url="https://www.example.ae/wild-flower.html",
    )
    return found


def postpay_approved_with(invoice: Invoice, minor: int) -> None:
    with store.table("postpay.orders") as table:
        found = table["id_postpay_test_one"][str(invoice.pk)]
        found["status"] = "approved"
        found["_capture_by"] = timezone.now() + postpay_emulator.CAPTURE_TTL
        found["total_amount"] = minor


def test_postpay_return_with_another_amount_is_not_captured(
    router: EmulatorRouter,
    postpay_order: Order,
    signal_log: SignalLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    invoice = start(postpay_order, "postpay")
    postpay_approved_with(invoice, 100)
    signal_log.sent.clear()
    with caplog.at_level(logging.WARNING, logger="django_multipay"):
        come_back(invoice)
    assert_nothing_moved(invoice, signal_log, caplog, "1.00")
    # The amount is compared before the capture: Postpay was never asked to capture it.
    assert not router.requests_to("capture")
    with store.table("postpay.orders") as table:
        assert table["id_postpay_test_one"][str(invoice.pk)]["status"] == "approved"


def test_postpay_return_with_the_same_amount_captures(
    router: EmulatorRouter, postpay_order: Order, signal_log: SignalLog
) -> None:
    invoice = start(postpay_order, "postpay")
    postpay_approved_with(invoice, 81480)
    come_back(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert len(router.requests_to("capture", "POST")) == 1
